"""Both forms describe the same trees: text ↔ tree ↔ JSON round trips, for any rule Hypothesis can build."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.profile.rules import Rule, parse_rule, to_json, to_text
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
from siyu.profile.rules.json_form import parse_json
from siyu.profile.rules.parser import parse_text

KEYWORDS = {"and", "or", "not", "in", "is", "null", "between", "contains", "where", "last", "within", "true",
            "false", "date", "timestamp"}
idents = st.from_regex(r"\A[a-z_][a-z0-9_]{0,12}\Z").filter(lambda s: s not in KEYWORDS)
texts = st.text(max_size=20)  # any text: quotes, backslashes, control characters, Chinese, emoji
names = st.one_of(idents, texts)
integers = st.integers(-(10**17), 10**17)
decimals = st.builds(lambda digits, scale: Decimal(digits).scaleb(-scale),
                     st.integers(-(10**14), 10**14), st.integers(0, 6))
dates = st.dates(date(1970, 1, 1), date(2100, 12, 31))
timestamps = st.datetimes(datetime(1970, 1, 1), datetime(2100, 12, 31))
values = st.one_of(texts, integers, decimals, st.booleans(), dates, timestamps)


def operand(op: Op) -> st.SearchStrategy[object]:
    if op in (Op.IS_NULL, Op.IS_NOT_NULL):
        return st.none()
    if op in (Op.IN, Op.NOT_IN):
        return st.lists(values, min_size=1, max_size=4).map(tuple)
    if op is Op.BETWEEN:
        return st.tuples(values, values)
    return values


def compared(build: object) -> st.SearchStrategy[object]:
    return st.sampled_from(list(Op)).flatmap(lambda op: operand(op).map(lambda v: build(op, v)))  # type: ignore[operator]


windows = st.one_of(st.none(), st.builds(LastDays, st.integers(1, 3650)), st.builds(DateRange, dates, dates))
scalar_ops = st.sampled_from([Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE])
conditions: st.SearchStrategy[Any] = st.lists(
    idents.flatmap(lambda p: compared(lambda op, v: Condition(p, op, v))), max_size=3).map(tuple)


@st.composite
def event_rules(draw: st.DrawFn) -> Rule:
    agg = draw(st.sampled_from(list(EventAgg)))
    prop = None if agg is EventAgg.COUNT else draw(idents)
    value = draw(st.integers(0, 10**6) if agg is EventAgg.COUNT else st.one_of(integers, decimals))
    return EventRule(draw(names), agg, prop, draw(conditions), draw(windows), draw(scalar_ops), value)


leaves = st.one_of(
    idents.flatmap(lambda f: compared(lambda op, v: FieldRule(f, op, v))),
    st.builds(HasTag, texts),
    texts.flatmap(lambda t: compared(lambda op, v: TagRule(t, op, v))),
    st.builds(InSegment, texts),
    event_rules(),
    st.builds(OrderRule, st.sampled_from(list(OrderAgg)), st.just(()) | conditions, windows, scalar_ops,
              st.integers(0, 10**6)),
    st.builds(SequenceRule, names, names, st.builds(Duration, st.integers(1, 999), st.sampled_from(list(TimeUnit))),
              windows),
)
rules = st.recursive(leaves, lambda kids: st.one_of(
    st.lists(kids, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
    st.lists(kids, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
    kids.map(Not)), max_leaves=10)


@settings(max_examples=400, deadline=None)
@given(rules)
def test_text_and_json_round_trip(rule: Rule) -> None:
    text = to_text(rule)
    assert parse_text(text) == rule, text
    doc = to_json(rule)
    assert parse_json(doc) == rule
    assert parse_rule(json.dumps(doc, ensure_ascii=False)) == rule  # through real JSON text too
    assert parse_text(to_text(parse_json(doc))) == rule


@settings(max_examples=200, deadline=None)
@given(rules)
def test_printing_is_a_fixed_point(rule: Rule) -> None:
    """Printing what was parsed from the printout gives the same printout (canonical form)."""
    once = to_text(rule)
    assert to_text(parse_rule(once)) == once
    assert to_json(parse_rule(to_json(rule))) == to_json(rule)
