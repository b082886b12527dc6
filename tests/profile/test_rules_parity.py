"""The acceptance test: compiled SQL on DuckDB and Spark selects exactly who the Python evaluator says.

Hypothesis draws small populations (fields with nulls, tags, ~40 days of events with typed and JSON
properties, orders) and random rule trees over a small schema, then checks every rule on the engine.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from siyu.profile.rules import (
    FieldType,
    PersonData,
    Rule,
    RuleSchema,
    compile_rule,
    evaluate_population,
    parse_rule,
    to_text,
)
from siyu.profile.rules.ast import (
    And,
    Condition,
    DateRange,
    Duration,
    EventAgg,
    EventRule,
    FieldRule,
    HasTag,
    InSegment,
    LastDays,
    Not,
    Op,
    Or,
    OrderAgg,
    OrderRule,
    SequenceRule,
    TagRule,
    TimeUnit,
)
from siyu.warehouse.engine import Engine
from tests.profile.rules_support import AS_OF, register, run

S, INT, N, B, D, T = (FieldType.STRING, FieldType.INTEGER, FieldType.NUMBER, FieldType.BOOLEAN, FieldType.DATE,
                      FieldType.TIMESTAMP)
SCHEMA = RuleSchema(fields={"one_id": S, "tier": S, "orders": INT, "monetary": N, "vip": B,
                            "first_order_date": D, "last_seen_at": T},
                    batch_only=frozenset({"tier"}))

POOLS: dict[str, list[Any]] = {
    "tier": ["gold", "silver", "银卡", "", "x'y"],
    "orders": [0, 1, 2, 5],
    "monetary": [Decimal("0.00"), Decimal("19.99"), Decimal("100.50"), Decimal("3000.00")],
    "vip": [True, False],
    "first_order_date": [date(2026, 1, 15), date(2026, 2, 1), date(2026, 3, 1)],
    "last_seen_at": [datetime(2026, 2, 1), datetime(2026, 2, 1, 12, 30), datetime(2026, 2, 28, 23, 59)],
}
FIELD_TYPES = {name: SCHEMA.fields[name] for name in POOLS}
EVENTS = ["view", "cart", "pay"]
CATEGORIES = ["sports", "beauty", "运动"]
CHANNELS = ["mp", "store"]
TAGS, TAG_VALUES = ["a", "b", "c"], ["true", "x", "y"]
START = datetime(2026, 1, 20)
SEGMENTS: dict[str, Rule] = {
    "seg_a": parse_rule('did(view, last 7d) or tier = "gold"'),
    "seg_b": parse_rule('in_segment("seg_a") and orders >= 1'),
}
NUMBERS = [Decimal(x) for x in ("0", "1", "2.5", "10", "20.5", "100")]

# -- populations ---------------------------------------------------------------------------------------

def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def event(draw: st.DrawFn) -> dict[str, Any]:
    t = START + timedelta(minutes=30 * draw(st.integers(0, 41 * 48)))
    props: dict[str, Any] = {}
    if draw(st.booleans()):
        props["level"] = draw(st.sampled_from([0, 1, 2, 3, 4, "3", "abc"]))
    if draw(st.booleans()):
        props["color"] = draw(st.sampled_from(["red", "blue", "红"]))
    if draw(st.booleans()):
        props["flag"] = draw(st.booleans())
    return {
        "event": draw(st.sampled_from(EVENTS)), "event_time": t, "dt": t.date(), "properties": props,
        "category": draw(maybe(st.sampled_from(CATEGORIES))),
        "amount": draw(maybe(st.sampled_from([Decimal("1.00"), Decimal("2.50"), Decimal("99.99")]))),
        "read_seconds": draw(maybe(st.sampled_from([0.5, 1.0, 2.5, 10.0]))),
        "satisfaction": draw(maybe(st.integers(1, 5))),
    }


@st.composite
def order(draw: st.DrawFn) -> dict[str, Any]:
    t = START + timedelta(hours=draw(st.integers(0, 41 * 24)))
    return {"order_id": f"o{draw(st.integers(0, 10**6))}", "paid_at": t, "dt": t.date(),
            "amount": draw(maybe(st.sampled_from([Decimal("10.00"), Decimal("25.50"), Decimal("3000.00")]))),
            "channel": draw(maybe(st.sampled_from(CHANNELS)))}


@st.composite
def person(draw: st.DrawFn, i: int) -> PersonData:
    return PersonData(
        one_id=f"u{i}",
        fields={name: draw(maybe(st.sampled_from(pool))) for name, pool in POOLS.items()},
        tags=draw(st.dictionaries(st.sampled_from(TAGS), st.sampled_from(TAG_VALUES), max_size=3)),
        events=draw(st.lists(event(), max_size=7)),
        orders=draw(st.lists(order(), max_size=3)),
    )


@st.composite
def population(draw: st.DrawFn) -> list[PersonData]:
    return [draw(person(i)) for i in range(draw(st.integers(1, 8)))]


# -- rules ---------------------------------------------------------------------------------------------

OPS_BY_TYPE = {S: list(Op), B: [Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_NULL, Op.IS_NOT_NULL]}
SCALAR = [Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE]


def operand(draw: st.DrawFn, op: Op, pool: list[Any]) -> Any:
    one = st.sampled_from(pool)
    if op in (Op.IS_NULL, Op.IS_NOT_NULL):
        return None
    if op in (Op.IN, Op.NOT_IN):
        return tuple(draw(st.lists(one, min_size=1, max_size=3)))
    if op is Op.BETWEEN:
        return draw(one), draw(one)
    return draw(one)


@st.composite
def field_rule(draw: st.DrawFn) -> Rule:
    name = draw(st.sampled_from(sorted(POOLS)))
    type_ = FIELD_TYPES[name]
    op = draw(st.sampled_from(OPS_BY_TYPE.get(type_, [o for o in Op if o is not Op.CONTAINS])))
    pool = POOLS[name] + (["i", "ol", "银"] if op is Op.CONTAINS else [])
    if name == "last_seen_at":
        pool = [*pool, date(2026, 2, 1)]  # a date against a timestamp: midnight
    return FieldRule(name, op, operand(draw, op, pool))


@st.composite
def tag_rule(draw: st.DrawFn) -> Rule:
    tag = draw(st.sampled_from(TAGS))
    if draw(st.booleans()):
        return HasTag(tag)
    op = draw(st.sampled_from(list(Op)))
    return TagRule(tag, op, operand(draw, op, [*TAG_VALUES, "z"]))


windows = st.one_of(st.none(), st.sampled_from([LastDays(1), LastDays(7), LastDays(30)]),
                    st.just(DateRange(date(2026, 2, 1), date(2026, 2, 10))))


@st.composite
def condition(draw: st.DrawFn) -> Condition:
    choices: list[tuple[str, list[Any]]] = [
        ("category", CATEGORIES), ("amount", [Decimal("2.5"), Decimal("99.99"), Decimal("50")]),
        ("satisfaction", [1, 3, 5]), ("level", [1, 2, 3]), ("color", ["red", "红", "e"]), ("flag", [True, False]),
        ("read_seconds", [Decimal("1"), Decimal("2.5")]),
    ]
    prop, pool = draw(st.sampled_from(choices))
    ops = [Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_NULL, Op.IS_NOT_NULL] if prop == "flag" else [
        o for o in Op if o is not Op.CONTAINS or prop in ("category", "color")]
    op = draw(st.sampled_from(ops))
    return Condition(prop, op, operand(draw, op, pool))


@st.composite
def event_rule(draw: st.DrawFn) -> Rule:
    agg = draw(st.sampled_from(list(EventAgg)))
    prop = None if agg is EventAgg.COUNT else draw(st.sampled_from(["amount", "read_seconds", "satisfaction", "level"]))
    value = draw(st.integers(0, 4)) if agg is EventAgg.COUNT else draw(st.sampled_from(NUMBERS))
    where = tuple(draw(st.lists(condition(), max_size=2)))
    return EventRule(draw(st.sampled_from(EVENTS)), agg, prop, where, draw(windows), draw(st.sampled_from(SCALAR)),
                     value)


@st.composite
def order_rule(draw: st.DrawFn) -> Rule:
    agg = draw(st.sampled_from(list(OrderAgg)))
    value = draw(st.integers(0, 3)) if agg is OrderAgg.COUNT else draw(st.sampled_from(
        [Decimal("0"), Decimal("25.5"), Decimal("35.5"), Decimal("3000")]))
    where = (Condition("channel", Op.EQ, draw(st.sampled_from(CHANNELS))),) if draw(st.booleans()) else ()
    return OrderRule(agg, where, draw(windows), draw(st.sampled_from(SCALAR)), value)


@st.composite
def sequence_rule(draw: st.DrawFn) -> Rule:
    within = draw(st.sampled_from([Duration(30, TimeUnit.MINUTES), Duration(1, TimeUnit.HOURS),
                                   Duration(24, TimeUnit.HOURS), Duration(3, TimeUnit.DAYS)]))
    return SequenceRule(draw(st.sampled_from(EVENTS)), draw(st.sampled_from(EVENTS)), within, draw(windows))


leaves = st.one_of(field_rule(), tag_rule(), event_rule(), order_rule(), sequence_rule(),
                   st.sampled_from([InSegment("seg_a"), InSegment("seg_b")]))
rules = st.recursive(leaves, lambda kids: st.one_of(
    st.lists(kids, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
    st.lists(kids, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
    kids.map(Not)), max_leaves=6)


def test_compiled_rules_select_what_the_evaluator_says(engine: Engine) -> None:
    """Spark is slow per query: fewer examples there, each checking four rules on one population."""

    @settings(max_examples=25 if engine.name == "spark" else 150, deadline=None, derandomize=engine.name == "spark",
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(people=population(), checks=st.lists(rules, min_size=4, max_size=4))
    def check(people: list[PersonData], checks: list[Rule]) -> None:
        register(engine, people, SCHEMA)
        for rule in checks:
            note(to_text(rule))
            expected = evaluate_population(rule, people, AS_OF, segment_rule=SEGMENTS.get, schema=SCHEMA)
            compiled = compile_rule(rule, SCHEMA, as_of=AS_OF, segment_rule=SEGMENTS.get)
            assert run(engine, compiled) == expected, to_text(rule)

    check()
