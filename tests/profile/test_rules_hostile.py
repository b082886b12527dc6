"""Injection attempts and resource attacks: each is refused with a clear RuleError, or compiled with the
hostile text only in the parameters (never in the SQL) and run to the right answer on every engine."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from siyu.profile.rules import (
    MAX_IN_VALUES,
    PersonData,
    RuleError,
    RuleSchema,
    check_rule,
    compile_rule,
    evaluate_population,
    evaluate_rule,
    parse_rule,
)
from siyu.profile.rules.ast import FieldRule, Not, Op
from siyu.profile.rules.schema import FieldType
from siyu.warehouse.engine import Engine
from tests.profile.rules_support import AS_OF, register, run

HOSTILE = [
    "x'); DROP TABLE profile; --",
    'x"); DROP TABLE profile; --',
    "' OR '1'='1",
    "\\' OR 1=1 --",
    "$p1 OR TRUE",
    ":p0 OR TRUE",
    "${p0}",
    "1; SELECT * FROM events",
    "沉默'用户\"; --",
    "x\u2028y\u0085z",
    "100%_off\\",
]
T = datetime(2026, 2, 20, 10, 0)


def _people() -> list[PersonData]:
    """One person per hostile string, holding it as tier, tag, event name, category and JSON property."""
    people = [PersonData("nobody", {"tier": "gold"})]
    for i, text in enumerate(HOSTILE):
        people.append(PersonData(
            f"h{i}", {"tier": text}, tags={text: text},
            events=[{"event": text, "event_time": T, "dt": T.date(), "category": text, "properties": {"note": text}}],
        ))
    return people


def _rules(text: str) -> list[dict[str, Any]]:
    """The JSON form makes every place a user's text can go explicit (and needs no escaping)."""
    return [
        {"field": "tier", "op": "=", "value": text},
        {"field": "tier", "op": "in", "value": [text, "other"]},
        {"field": "tier", "op": "contains", "value": text},
        {"has_tag": text},
        {"tag": text, "op": "=", "value": text},
        {"event": text, "op": ">=", "value": 1},
        {"event": "x", "where": [{"property": "category", "op": "=", "value": text}], "op": ">=", "value": 1},
        {"event": text, "where": [{"property": "note", "op": "=", "value": text}], "op": ">=", "value": 1},
        {"sequence": [text, text], "within": {"hours": 1}},
    ]


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_hostile_text_is_only_a_parameter(engine: Engine, index: int) -> None:
    text = HOSTILE[index]
    people = _people()
    register(engine, people, RuleSchema())
    for doc in _rules(text):
        rule = parse_rule(doc)
        assert parse_rule(json.dumps(doc)) == rule
        compiled = compile_rule(rule, as_of=AS_OF)
        assert text not in compiled.sql
        assert any(text in str(v) for v in compiled.params.values())
        expected = evaluate_population(rule, people, AS_OF)
        assert run(engine, compiled) == expected, doc
        if "sequence" not in doc and doc.get("event") != "x":
            assert f"h{index}" in expected, doc  # the person holding the text is found: it was compared as data


def test_text_form_escapes_reach_params_intact() -> None:
    rule = parse_rule('tier = "x\'); DROP TABLE profile; --" or tier = "\\"); DROP TABLE profile; --"')
    compiled = compile_rule(rule, as_of=AS_OF)
    assert "DROP" not in compiled.sql
    assert set(compiled.params.values()) == {"x'); DROP TABLE profile; --", '"); DROP TABLE profile; --'}


@pytest.mark.parametrize(("doc", "code"), [
    ({"field": "tier\" OR 1=1 --", "op": "=", "value": "a"}, "unknown_field"),
    ({"field": "tier; DROP TABLE profile", "op": "=", "value": "a"}, "unknown_field"),
    ({"field": "TIER", "op": "=", "value": "a"}, "unknown_field"),
    ({"field": "p.one_id", "op": "=", "value": "a"}, "unknown_field"),
    ({"event": "x", "where": [{"property": "a') OR 1=1 --", "op": "=", "value": 1}], "op": ">=", "value": 1},
     "bad_property"),
    ({"event": "x", "where": [{"property": "a.b", "op": "=", "value": 1}], "op": ">=", "value": 1}, "bad_property"),
    ({"event": "x", "where": [{"property": "$.a", "op": "=", "value": 1}], "op": ">=", "value": 1}, "bad_property"),
    ({"event": "x", "where": [{"property": "a[0]", "op": "=", "value": 1}], "op": ">=", "value": 1}, "bad_property"),
    ({"event": "x", "agg": "sum", "property": "amount) FROM x --", "op": ">=", "value": 1}, "bad_property"),
    ({"orders": "count", "where": [{"property": "amount; --", "op": "=", "value": 1}], "op": ">=", "value": 1},
     "unknown_column"),
    ({"field": "tier", "op": "=", "value": "x" * 5000}, "value_out_of_range"),
    ({"field": "tier", "op": "=", "value": "a\x00b"}, "bad_text"),
    ({"field": "tier", "op": "=", "value": "\ud800"}, "bad_text"),
    ({"field": "last_seen_at", "op": "=", "value": {"timestamp": "2026-01-01'; DROP TABLE x; --"}}, "type_mismatch"),
    ({"event": "", "op": ">=", "value": 1}, "rule_invalid"),
    ({"segment": ""}, "rule_invalid"),
])
def test_hostile_names_are_refused(doc: dict[str, Any], code: str) -> None:
    with pytest.raises(RuleError) as err:
        compile_rule(parse_rule(doc), as_of=AS_OF)
    assert err.value.code == code, str(err.value)


@pytest.mark.parametrize("text", [
    'tier" = "a"', "tier' = 'a'", "tier; DROP TABLE profile", "tier = 1 -- comment", "tier = 1; DROP TABLE x",
    '"tier" = "a"', "tіer = 1",  # a Cyrillic і
    "tier\u200b = 1", 'count(x where "a\') OR 1=1 --" = 1) > 1', "count(x where a.b = 1) > 1",
    'has_tag(x" OR 1=1)', "orders = 1 OR 1=1", "tier = 0x41", "tier = 1e308",
])
def test_hostile_text_is_a_syntax_error(text: str) -> None:
    with pytest.raises(RuleError) as err:
        check_rule(parse_rule(text))
    assert err.value.code in {"rule_syntax", "unknown_field"}, str(err.value)
    assert err.value.position is not None


def test_schema_column_names_are_checked_too() -> None:
    with pytest.raises(RuleError, match=r"bad_schema.*plain lower-case"):
        RuleSchema(fields={"one_id": FieldType.STRING, 'x" OR 1=1 --': FieldType.STRING})


def test_match_everyone_is_never_the_fallback() -> None:
    docs: list[Any] = ["", "   ", {}, {"and": []}, {"or": []}, "tier in ()", "tier not in ()", "()", "not"]
    for doc in docs:
        with pytest.raises(RuleError):
            check_rule(parse_rule(doc))


# -- resource attacks ----------------------------------------------------------------------------------

DEEP = 10_000


@pytest.mark.parametrize("text", [
    "(" * DEEP + 'tier = "a"' + ")" * DEEP,
    "not " * DEEP + 'tier = "a"',
    "(not " * DEEP + 'tier = "a"' + ")" * DEEP,
    "(" * DEEP,
])
def test_deep_text_is_refused(text: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_rule(text)
    assert err.value.code == "too_deep"


def test_deep_json_is_refused() -> None:
    leaf: dict[str, Any] = {"has_tag": "x"}
    doc: dict[str, Any] = leaf
    for _ in range(DEEP):
        doc = {"not": doc}
    text = json.dumps({"and": [leaf, {"has_tag": "y"}]})
    for _ in range(DEEP // 2):
        text = '{"or": [' + text + ', {"has_tag": "z"}]}'
    for hostile in (doc, '{"and": ' + "[" * DEEP, '{"not": ' * DEEP + "{}" + "}" * DEEP):
        with pytest.raises(RuleError) as err:
            parse_rule(hostile)
        assert err.value.code == "too_deep"
    with pytest.raises(RuleError) as err:
        parse_rule(text)
    assert err.value.code in {"too_deep", "rule_too_long"}


def test_deep_trees_built_in_python_are_refused() -> None:
    rule: Any = FieldRule("tier", Op.EQ, "a")
    for _ in range(DEEP):
        rule = Not(rule)
    for call in (lambda: check_rule(rule), lambda: compile_rule(rule, as_of=AS_OF),
                 lambda: evaluate_rule(rule, PersonData("u"), as_of=AS_OF)):
        with pytest.raises(RuleError) as err:
            call()
        assert err.value.code == "too_deep"


def test_a_million_values_are_refused() -> None:
    values = list(range(1_000_000))
    with pytest.raises(RuleError) as err:
        parse_rule({"field": "orders", "op": "in", "value": values})
    assert err.value.code == "too_many_values"
    with pytest.raises(RuleError) as err:
        parse_rule(json.dumps({"field": "orders", "op": "in", "value": values}))
    assert err.value.code == "rule_too_long"
    with pytest.raises(RuleError) as err:
        parse_rule("orders in (" + ", ".join(map(str, values)) + ")")
    assert err.value.code == "rule_too_long"
    with pytest.raises(RuleError) as err:
        check_rule(FieldRule("orders", Op.IN, tuple(values)))
    assert err.value.code == "too_many_values"


def test_one_value_too_many_fits_in_the_text_limit_and_is_refused() -> None:
    with pytest.raises(RuleError) as err:
        parse_rule("orders in (" + ", ".join("1" for _ in range(MAX_IN_VALUES + 1)) + ")")
    assert err.value.code == "too_many_values"
    assert err.value.position is not None


def test_the_largest_list_allowed_runs(engine: Engine) -> None:
    """10,000 bound values: DuckDB takes them in its stride; Spark's analyser needs ~20 s, but must work."""
    people = [PersonData("a", {"tier": "t9999"}), PersonData("b", {"tier": "nope"})]
    register(engine, people, RuleSchema())
    rule = parse_rule({"field": "tier", "op": "in", "value": [f"t{i}" for i in range(MAX_IN_VALUES)]})
    assert run(engine, compile_rule(rule, as_of=AS_OF)) == {"a"}


def test_huge_text_is_refused() -> None:
    for text in ('tier = "a" or ' * 10_000 + 'tier = "b"', " " * 100_001, '"' + "x" * 200_000 + '"'):
        with pytest.raises(RuleError) as err:
            parse_rule(text)
        assert err.value.code == "rule_too_long"


def test_too_many_conditions_are_refused() -> None:
    text = " or ".join(f"orders = {i}" for i in range(1_001))
    with pytest.raises(RuleError) as err:
        check_rule(parse_rule(text))
    assert err.value.code == "too_complex"


def test_huge_numbers_are_refused() -> None:
    for doc in ('{"field": "orders", "op": "=", "value": 1e400}', {"field": "orders", "op": "=", "value": 10**30},
                "orders = " + "9" * 50):
        with pytest.raises(RuleError) as err:
            parse_rule(doc)
        assert err.value.code == "value_out_of_range", str(err.value)


@pytest.mark.parametrize(("segments", "code"), [
    ({"a": 'in_segment("a")'}, "segment_cycle"),
    ({"a": 'in_segment("b")', "b": 'tier = "x" or in_segment("a")'}, "segment_cycle"),
    ({"a": 'in_segment("missing")'}, "unknown_segment"),
    ({"a": 'in_segment("s0")', **{f"s{i}": f'in_segment("s{i + 1}")' for i in range(20)}, "s20": "orders = 1"},
     "too_deep"),
])
def test_segment_references_fail_closed(segments: dict[str, str], code: str) -> None:
    parsed = {name: parse_rule(text) for name, text in segments.items()}
    for call in (lambda: compile_rule(parsed["a"], as_of=AS_OF, segment_rule=parsed.get),
                 lambda: evaluate_rule(parsed["a"], PersonData("u", {"tier": "y"}), as_of=AS_OF,
                                       segment_rule=parsed.get)):
        with pytest.raises(RuleError) as err:
            call()
        assert err.value.code == code, str(err.value)
    with pytest.raises(RuleError) as err:
        compile_rule(parse_rule('in_segment("a")'), as_of=AS_OF)  # no definitions at all
    assert err.value.code == "unknown_segment"
