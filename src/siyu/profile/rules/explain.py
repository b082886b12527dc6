"""Why is this person in (or out of) the segment? A tree of every condition with what was measured::

    print(explain_rule(rule, person, date(2026, 3, 1)).render())

    ✗ all of
      ✓ lifecycle = "silent"  — lifecycle is "silent"
      ✗ count(order_paid, last 90d) >= 2  — count = 1 (needs >= 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from siyu.profile.rules.ast import (
    And,
    EventAgg,
    EventRule,
    FieldRule,
    HasTag,
    InSegment,
    Not,
    Or,
    OrderRule,
    Rule,
    SequenceRule,
    TagRule,
)
from siyu.profile.rules.check import SegmentLookup, check_rule, check_segments, resolve_segment
from siyu.profile.rules.evaluator import Evaluator, PersonData
from siyu.profile.rules.printer import leaf_text, to_text, value_text
from siyu.profile.rules.schema import DEFAULT_SCHEMA, RuleSchema


@dataclass
class ExplainNode:
    """One condition: its text, whether it held, what was measured, and its parts."""

    text: str
    value: bool
    measured: str = ""
    children: list[ExplainNode] = field(default_factory=list)

    def render(self, indent: int = 0) -> str:
        """Readable text, one condition a line, ✓ for true and ✗ for false."""
        mark = "✓" if self.value else "✗"
        line = "  " * indent + f"{mark} {self.text}" + (f"  — {self.measured}" if self.measured else "")
        return "\n".join([line, *(c.render(indent + 1) for c in self.children)])


def explain_rule(rule: Rule, person: PersonData, as_of: date, *, segment_rule: SegmentLookup | None = None,
                 schema: RuleSchema = DEFAULT_SCHEMA) -> ExplainNode:
    """Evaluate ``rule`` for ``person`` and keep every intermediate result (no short-circuit)."""
    checked = check_rule(rule, schema)
    check_segments(checked, segment_rule, schema)
    return _explain(checked, person, Evaluator(schema, as_of, segment_rule), ())


def _explain(rule: Rule, person: PersonData, ev: Evaluator, chain: tuple[str, ...]) -> ExplainNode:
    if isinstance(rule, And | Or):
        kids = [_explain(x, person, ev, chain) for x in rule.items]
        value = all(k.value for k in kids) if isinstance(rule, And) else any(k.value for k in kids)
        return ExplainNode("all of" if isinstance(rule, And) else "any of", value, "", kids)
    if isinstance(rule, Not):
        kid = _explain(rule.item, person, ev, chain)
        return ExplainNode("not", not kid.value, "", [kid])
    if isinstance(rule, InSegment):
        sub = resolve_segment(rule.name, ev.segment_rule, chain, ev.schema, rule.pos)
        kid = _explain(sub, person, ev, (*chain, rule.name))
        return ExplainNode(leaf_text(rule), kid.value, f"segment {rule.name!r}: {to_text(sub)[:200]}", [kid])
    measured = ev.measure(rule, person, chain)
    return ExplainNode(leaf_text(rule), ev.decide(rule, measured), _describe(rule, measured))


def _describe(rule: Rule, m: Any) -> str:
    if isinstance(rule, FieldRule):
        return f"{rule.field} is {_show(m)}"
    if isinstance(rule, HasTag):
        return f"tag value {_show(m)}" if m is not None else "no such tag"
    if isinstance(rule, TagRule):
        return f"tag {rule.tag!r} is {_show(m)}"
    if isinstance(rule, EventRule | OrderRule):
        needs = f"(needs {rule.op.value} {value_text(rule.value)})"
        name = rule.agg.value if isinstance(rule, EventRule) else f"order_{rule.agg.value}"
        if rule.agg is EventAgg.AVG or rule.agg.value == "avg":
            total, n = m
            return f"{name} = {_show(total / n) if n else 'undefined (no values)'} over {n} {needs}"
        return f"{name} = {_show(m) if m is not None else 'undefined (no values)'} {needs}"
    if isinstance(rule, SequenceRule):
        if m is None:
            return f"no {rule.first} followed by {rule.then} within {rule.within.amount}{rule.within.unit.value}"
        return f"{rule.first} at {m[0]:%Y-%m-%d %H:%M:%S} → {rule.then} at {m[1]:%Y-%m-%d %H:%M:%S}"
    return ""


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Decimal):
        return format(value.normalize() if value == value.to_integral_value() else value, "f")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, str | bool | int | date):
        return value_text(value)
    return repr(value)
