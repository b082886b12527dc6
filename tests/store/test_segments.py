"""Saved segments: canonical rules, versions bumped only on change, kept history, refusals, pagination."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from siyu.profile.rules import RuleError, check_rule, parse_rule, to_text
from siyu.profile.segments import SegmentDefinition
from siyu.store import (
    Conflict,
    Store,
    StoreInputError,
    as_definition,
    delete_segment,
    get_segment,
    list_segments,
    load_definitions,
    save_segment,
    segment_history,
)
from siyu.store.models import SegmentRecord

RULE = 'lifecycle = "silent" and count(order_paid, last 90d) >= 2'


def seg(name: str = "silent_buyers", rule: str | dict[str, object] = RULE, **kw: str) -> SegmentDefinition:
    return SegmentDefinition(name=name, name_zh=kw.pop("name_zh", "沉默复购"), owner=kw.pop("owner", "ops"),
                             rule=rule, **kw)  # type: ignore[arg-type]


def test_save_stores_the_canonical_rule_and_a_first_version(store: Store) -> None:
    saved = save_segment(store, seg(rule='lifecycle="silent"   AND count( order_paid , last 90d )>=2'), by="amy")
    assert saved.version == 1 and saved.updated_by == "amy" and saved.created_at == saved.updated_at
    assert saved.rule_text == RULE
    assert saved.rule_json == {"and": [{"field": "lifecycle", "op": "=", "value": "silent"},
                                       {"event": "order_paid", "agg": "count", "window": {"last_days": 90},
                                        "op": ">=", "value": 2}]}
    assert to_text(check_rule(parse_rule(saved.rule_json))) == saved.rule_text  # both forms agree
    assert get_segment(store, "silent_buyers") == saved
    [first] = segment_history(store, "silent_buyers")
    assert (first.version, first.action, first.rule_text, first.changed_by) == (1, "create", RULE, "amy")


def test_version_goes_up_only_when_something_changed(store: Store) -> None:
    save_segment(store, seg(), by="amy")
    same_in_json = save_segment(store, seg(rule={"and": [
        {"field": "lifecycle", "op": "=", "value": "silent"},
        {"event": "order_paid", "agg": "count", "window": {"last_days": 90}, "op": ">=", "value": 2}]}), by="bob")
    assert same_in_json.version == 1 and same_in_json.updated_by == "amy"  # same rule, other form: no change
    changed = save_segment(store, seg(rule='lifecycle = "silent"'), by="bob")
    assert changed.version == 2 and changed.updated_by == "bob" and changed.rule_text == 'lifecycle = "silent"'
    described = save_segment(store, seg(rule='lifecycle = "silent"', description="for the 618 campaign"), by="cy")
    assert described.version == 3 and described.created_at == changed.created_at
    history = segment_history(store, "silent_buyers")
    assert [(h.version, h.action, h.changed_by) for h in history] == [(1, "create", "amy"), (2, "update", "bob"),
                                                                       (3, "update", "cy")]
    assert history[0].rule_text == RULE and history[2].description == "for the 618 campaign"


@pytest.mark.parametrize(("rule", "code", "message"), [
    ("lifecycle = ", "rule_syntax", "expected a value after '='"),
    ('no_such_field = "x"', None, "no_such_field"),
    ('in_segment("nobody")', "unknown_segment", "unknown segment 'nobody'"),
    ("", None, None),
])
def test_invalid_rules_are_refused_with_the_rule_error(store: Store, rule: str, code: str | None,
                                                       message: str | None) -> None:
    with pytest.raises(RuleError) as caught:
        save_segment(store, seg(rule=rule), by=None)
    if code:
        assert caught.value.code == code
    if message:
        assert message in str(caught.value)
    assert get_segment(store, "silent_buyers") is None and segment_history(store, "silent_buyers") == []


def test_segment_references_are_checked_and_cycles_refused(store: Store) -> None:
    save_segment(store, seg("a", 'tier = "gold"'), by=None)
    save_segment(store, seg("b", 'in_segment("a") and lifecycle = "active"'), by=None)
    with pytest.raises(RuleError, match="cycle"):
        save_segment(store, seg("a", 'in_segment("b")'), by=None)
    with pytest.raises(RuleError, match="cycle"):
        save_segment(store, seg("c", 'in_segment("c")'), by=None)
    with pytest.raises(Conflict, match="used by in_segment in: b"):
        delete_segment(store, "a")
    assert get_segment(store, "a") is not None


HOSTILE = ["x'; DROP TABLE segments; --", "Robert'); --", "a b", "ÄÖ", "", "_x", "x" * 64, "seg\x00"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_and_harmless(store: Store, name: str) -> None:
    with pytest.raises(ValidationError):
        seg(name)
    with pytest.raises(StoreInputError, match="segment names"):
        save_segment(store, SegmentDefinition.model_construct(name=name, name_zh="x", owner="o", description="",
                                                              rule=RULE), by=None)
    assert get_segment(store, name) is None and delete_segment(store, name) is False
    assert segment_history(store, name) == []
    save_segment(store, seg(), by=None)
    with store.session() as session:  # the table is still there and holds exactly the one good row
        assert session.scalar(select(func.count()).select_from(SegmentRecord)) == 1


def test_pagination_covers_every_segment_once_with_a_total(store: Store) -> None:
    for i in range(23):
        save_segment(store, seg(f"s{i:02d}", owner="ops" if i % 3 else "growth"), by=None)
    seen: list[str] = []
    for offset in range(0, 30, 10):
        page, total = list_segments(store, offset=offset, limit=10)
        assert total == 23
        seen += [s.name for s in page]
    assert seen == [f"s{i:02d}" for i in range(23)]
    growth, total = list_segments(store, offset=0, limit=100, owner="growth")
    assert total == 8 and all(s.owner == "growth" for s in growth)
    assert list_segments(store, offset=100, limit=5) == ([], 23)
    for bad in ({"offset": -1, "limit": 10}, {"offset": 0, "limit": 0}, {"offset": 0, "limit": 1001}):
        with pytest.raises(StoreInputError):
            list_segments(store, **bad)


def test_delete_keeps_the_history_and_a_recreated_segment_continues_it(store: Store) -> None:
    save_segment(store, seg(), by="amy")
    save_segment(store, seg(rule='lifecycle = "silent"'), by="amy")
    assert delete_segment(store, "silent_buyers", by="bob") is True
    assert get_segment(store, "silent_buyers") is None and delete_segment(store, "silent_buyers") is False
    again = save_segment(store, seg(), by="cy")
    assert again.version == 4
    assert [(h.version, h.action) for h in segment_history(store, "silent_buyers")] == [
        (1, "create"), (2, "update"), (3, "delete"), (4, "create")]


def test_expected_version_guards_against_lost_updates(store: Store) -> None:
    with pytest.raises(Conflict, match="version 0, not 1"):
        save_segment(store, seg(), by=None, expected_version=1)
    save_segment(store, seg(), by=None, expected_version=0)
    save_segment(store, seg(rule='tier = "gold"'), by=None, expected_version=1)
    with pytest.raises(Conflict, match="version 2, not 1"):
        save_segment(store, seg(rule='tier = "silver"'), by=None, expected_version=1)
    assert get_segment(store, "silent_buyers").version == 2  # type: ignore[union-attr]


def test_saved_segments_become_profile_definitions(store: Store) -> None:
    saved = save_segment(store, seg(description="d"), by=None)
    definition = as_definition(saved)
    assert definition == SegmentDefinition(name="silent_buyers", name_zh="沉默复购", owner="ops", description="d",
                                           rule=RULE)
    gold = save_segment(store, seg("gold", 'tier = "gold"'), by=None)
    assert load_definitions(store) == {"silent_buyers": definition, "gold": as_definition(gold)}


def test_text_postgresql_cannot_store_is_refused_on_every_backend(store: Store) -> None:
    with pytest.raises(StoreInputError, match="NUL"):
        save_segment(store, seg(description="a\x00b"), by=None)
    with pytest.raises(StoreInputError, match="NUL"):
        save_segment(store, seg(), by="\x00")
    with pytest.raises(StoreInputError, match="NUL"):
        list_segments(store, owner="\x00")
    assert get_segment(store, "silent_buyers") is None
