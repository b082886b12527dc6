"""What rules mean, as tables: rule text → who is selected, by the evaluator and on every engine.

Also explain, referenced events and incremental support.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from siyu.profile.rules import (
    PersonData,
    RuleSchema,
    compile_rule,
    evaluate_population,
    evaluate_rule,
    explain_rule,
    incremental_support,
    parse_rule,
    referenced_events,
)
from siyu.warehouse.engine import Engine
from tests.profile.rules_support import AS_OF, register, run


def ev(event: str, when: str, **props: object) -> dict[str, object]:
    t = datetime.fromisoformat(when)
    typed = {k: v for k, v in props.items() if k in ("category", "amount", "read_seconds", "satisfaction")}
    return {"event": event, "event_time": t, "dt": t.date(), **typed,
            "properties": {k: v for k, v in props.items() if k not in typed}}


def order(when: str, amount: str | None, channel: str = "mp") -> dict[str, object]:
    t = datetime.fromisoformat(when)
    return {"order_id": f"o-{when}", "paid_at": t, "dt": t.date(), "channel": channel,
            "amount": None if amount is None else Decimal(amount)}


# as_of is 2026-03-01: "last 30d" is 2026-01-31 … 2026-03-01, "last 1d" is 2026-03-01.
PEOPLE = [
    PersonData("silent_vip", {"lifecycle": "silent", "rfm_class": "重要挽留", "monetary": Decimal("3200.00"),
                              "orders": 3, "first_order_date": date(2025, 6, 1)},
               tags={"vip": "true"},
               events=[ev("order_paid", "2026-01-15 10:00"), ev("order_paid", "2026-02-20 10:00"),
                       ev("product_viewed", "2026-02-25 09:00", category="sports", level=3)],
               orders=[order("2026-01-15 10:00", "3000.00"), order("2026-02-20 10:00", "200.00")]),
    PersonData("complainer", {"lifecycle": "silent", "rfm_class": "重要保持", "monetary": Decimal("19.99"),
                              "orders": 1},
               tags={"complained": "true", "interest": "beauty"},
               events=[ev("order_paid", "2026-02-01 10:00"), ev("order_paid", "2026-02-02 10:00"),
                       ev("cart_added", "2026-03-01 08:00"), ev("order_paid", "2026-03-01 09:00")],
               orders=[order("2026-02-01 10:00", None, "store")]),
    PersonData("sporty", {"lifecycle": "active", "orders": 0},
               tags={"interest": "sports"},
               events=[ev("product_viewed", f"2026-02-{d:02d} 12:00", category="sports", level="3")
                       for d in (3, 10, 27)]
               + [ev("product_viewed", "2026-01-01 12:00", category="sports"),
                  ev("cart_added", "2026-03-01 09:30"), ev("order_paid", "2026-03-02 09:00"),
                  ev("article_read", "2026-02-27 20:00", read_seconds=40.0),
                  ev("article_read", "2026-02-28 20:00", read_seconds=10.0)]),
    PersonData("blank", {}),
]

TABLE: list[tuple[str, set[str]]] = [
    ('lifecycle = "silent"', {"silent_vip", "complainer"}),
    ('not lifecycle = "silent"', {"sporty", "blank"}),  # null lifecycle: the comparison is false, so not is true
    ('lifecycle != "silent"', {"sporty"}),  # …but != on null is false
    ("lifecycle is null", {"blank"}),
    ('rfm_class in ("重要挽留", "重要保持")', {"silent_vip", "complainer"}),
    ('rfm_class not in ("重要挽留")', {"complainer"}),
    ("monetary >= 3000", {"silent_vip"}),
    ("monetary between 19.99 and 20", {"complainer"}),
    ("first_order_date < 2026-01-01", {"silent_vip"}),
    ('has_tag("complained")', {"complainer"}),
    ('tag("interest") = "sports"', {"sporty"}),
    ('tag("interest") is null', {"silent_vip", "blank"}),
    ("count(order_paid, last 90d) >= 2", {"silent_vip", "complainer"}),
    ("count(order_paid, last 30d) = 0", {"sporty", "blank"}),  # sporty's order is after as_of
    ("count(order_paid) <= 1", {"sporty", "blank"}),
    ("not did(order_paid)", {"blank"}),
    ('count(product_viewed where category = "sports", last 30d) >= 3', {"sporty"}),
    ("count(product_viewed where level = 3, last 30d) >= 1", {"silent_vip", "sporty"}),  # 3 and "3" as numbers
    ('count(product_viewed where level = "3") >= 1', {"silent_vip", "sporty"}),  # as text: JSON 3 reads "3"
    ("count(order_paid, between 2026-02-01 and 2026-02-01) = 1", {"complainer"}),
    ("sum(article_read.read_seconds, last 7d) >= 50", {"sporty"}),
    ("avg(article_read.read_seconds) = 25", {"sporty"}),
    ("min(article_read.read_seconds) > 0", {"sporty"}),
    ("order_count() = 0", {"sporty", "blank"}),
    ("order_sum(last 365d) >= 3000", {"silent_vip"}),
    ("order_sum() = 0", {"complainer", "sporty", "blank"}),  # null amounts sum to nothing
    ("order_avg() > 0", {"silent_vip"}),  # no amounts: no average, so false
    ("not order_avg() > 0", {"complainer", "sporty", "blank"}),
    ('order_count(where channel = "store") = 1', {"complainer"}),
    ("sequence(cart_added, order_paid, within 24h)", {"complainer", "sporty"}),
    ("sequence(cart_added, order_paid, within 1h, last 1d)", {"complainer"}),
    ("did(cart_added, last 1d) and not sequence(cart_added, order_paid, within 1h)", {"sporty"}),
    ('lifecycle = "silent" and rfm_class in ("重要挽留", "重要保持") and count(order_paid, last 90d) >= 2 '
     'and not has_tag("complained")', {"silent_vip"}),
    ('in_segment("silent") and not in_segment("complainers")', {"silent_vip"}),
]
SEGMENTS = {"silent": parse_rule('lifecycle = "silent"'), "complainers": parse_rule('has_tag("complained")')}


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[t for t, _ in TABLE])
def test_evaluator(text: str, expected: set[str]) -> None:
    assert evaluate_population(parse_rule(text), PEOPLE, AS_OF, segment_rule=SEGMENTS.get) == expected


def test_engine(engine: Engine) -> None:
    register(engine, PEOPLE, RuleSchema())
    for text, expected in TABLE:
        compiled = compile_rule(parse_rule(text), RuleSchema(), as_of=AS_OF, segment_rule=SEGMENTS.get)
        assert run(engine, compiled) == expected, text


def test_explain_says_why() -> None:
    rule = parse_rule('lifecycle = "silent" and count(order_paid, last 30d) >= 2 and not has_tag("complained")')
    node = explain_rule(rule, PEOPLE[1], AS_OF)
    assert not node.value
    assert node.render().splitlines() == [
        "✗ all of",
        '  ✓ lifecycle = "silent"  — lifecycle is "silent"',
        "  ✓ count(order_paid, last 30d) >= 2  — count = 3 (needs >= 2)",
        "  ✗ not",
        '    ✓ has_tag("complained")  — tag value "true"',
    ]
    text = explain_rule(parse_rule("order_avg() > 0 or in_segment(\"silent\")"), PEOPLE[0], AS_OF,
                        segment_rule=SEGMENTS.get).render()
    assert "order_avg = 1600 over 2 (needs > 0)" in text and "segment 'silent'" in text
    seq = explain_rule(parse_rule("sequence(cart_added, order_paid, within 1h)"), PEOPLE[1], AS_OF).render()
    assert "cart_added at 2026-03-01 08:00:00 → order_paid at 2026-03-01 09:00:00" in seq


def test_explain_agrees_with_evaluate() -> None:
    for text, _ in TABLE:
        rule = parse_rule(text)
        for p in PEOPLE:
            assert explain_rule(rule, p, AS_OF, segment_rule=SEGMENTS.get).value == evaluate_rule(
                rule, p, as_of=AS_OF, segment_rule=SEGMENTS.get), (text, p.one_id)


def test_referenced_events_and_incremental_support() -> None:
    rule = parse_rule('did(a) and (sequence(b, c, within 1h) or in_segment("s")) and order_sum() > 1')
    segments = {"s": parse_rule("count(d) > 1"), "batch": parse_rule('tier = "gold"'),
                "uses_batch": parse_rule('in_segment("batch") or did(x)')}
    assert referenced_events(rule) == {"a", "b", "c"}
    assert referenced_events(rule, segments.get) == {"a", "b", "c", "d"}
    assert incremental_support(rule, segment_rule=segments.get) == (True, incremental_support(parse_rule("did(a)"))[1])
    ok, reason = incremental_support(parse_rule('rfm_class = "x" or did(a)'))
    assert not ok and "rfm_class" in reason
    ok, reason = incremental_support(parse_rule('in_segment("uses_batch")'), segment_rule=segments.get)
    assert not ok and "tier" in reason
    assert not incremental_support(parse_rule('in_segment("s")'))[0]  # cannot tell without the definitions


def test_as_of_moves_the_windows() -> None:
    rule = parse_rule("did(product_viewed, last 1d)")
    assert evaluate_population(rule, PEOPLE, date(2026, 2, 25)) == {"silent_vip"}
    assert evaluate_population(rule, PEOPLE, date(2026, 2, 26)) == set()


def test_equal_looking_values_of_different_types_stay_apart(engine: Engine) -> None:
    """true == 1 in Python; a JSON property compared with true is still not compared with 1."""
    people = [PersonData("one", events=[ev("e", "2026-02-01 10:00", flag=1)]),
              PersonData("yes", events=[ev("e", "2026-02-01 10:00", flag=True)])]
    register(engine, people, RuleSchema())
    for text, expected in [("did(e where flag = 1) and not did(e where flag = true)", {"one"}),
                           ("did(e where flag = true) and not did(e where flag = 1)", {"yes"})]:
        rule = parse_rule(text)
        assert evaluate_population(rule, people, AS_OF) == expected
        assert run(engine, compile_rule(rule, as_of=AS_OF)) == expected
