"""Resolve a rule against a schema: names exist, operators suit the types, values are coerced.

The checked rule is what the compiler and the evaluator both run, so they agree on every value
(an integer compared with a ``number`` field becomes a ``Decimal``, ``"2026-01-01"`` compared with a
``date`` field becomes a ``date``…). Anything doubtful raises :class:`RuleError`: fail closed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from siyu.profile.rules.ast import (
    LEAVES,
    SCALAR_OPS,
    And,
    Condition,
    DateRange,
    EventAgg,
    EventRule,
    FieldRule,
    HasTag,
    InSegment,
    LastDays,
    Not,
    Op,
    Operand,
    Or,
    OrderAgg,
    OrderRule,
    Rule,
    SequenceRule,
    TagRule,
    Value,
    Window,
    depth,
    operand_problem,
    walk,
)
from siyu.profile.rules.errors import (
    MAX_DEPTH,
    MAX_IN_VALUES,
    MAX_PREDICATES,
    MAX_SEGMENT_DEPTH,
    MAX_STRING_LENGTH,
    MAX_WINDOW_DAYS,
    Position,
    RuleError,
)
from siyu.profile.rules.lexer import number_problem
from siyu.profile.rules.printer import value_text
from siyu.profile.rules.schema import DEFAULT_SCHEMA, PROPERTY_NAME, FieldType, RuleSchema

#: ``segment_rule(name)``: the rule of a named segment, or None when there is no such segment.
SegmentLookup = Callable[[str], Rule | None]

_NOT_CONTAINS = frozenset(Op) - {Op.CONTAINS}
ALLOWED_OPS: Mapping[FieldType, frozenset[Op]] = {
    FieldType.STRING: frozenset(Op),
    FieldType.BOOLEAN: frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_NULL, Op.IS_NOT_NULL}),
    FieldType.INTEGER: _NOT_CONTAINS, FieldType.NUMBER: _NOT_CONTAINS,
    FieldType.DATE: _NOT_CONTAINS, FieldType.TIMESTAMP: _NOT_CONTAINS,
}


def check_rule(rule: Rule, schema: RuleSchema = DEFAULT_SCHEMA) -> Rule:
    """The rule with names resolved and values coerced to the schema's types; raises :class:`RuleError`."""
    if not isinstance(rule, (And, Or, Not, *LEAVES)):
        raise RuleError(f"not a rule: {type(rule).__name__}", code="rule_invalid")
    if depth(rule) > MAX_DEPTH:  # before hashing or recursing: both would overflow on a very deep tree
        raise RuleError(f"rule is nested more than {MAX_DEPTH} levels deep", code="too_deep")
    if sum(isinstance(n, LEAVES) for n in walk(rule)) > MAX_PREDICATES:
        raise RuleError(f"rule has more than {MAX_PREDICATES:,} conditions", code="too_complex")
    # Not cached: equal trees can differ in value types (True == 1 == Decimal(1)), which checking must see.
    return _Checker(schema).rule(rule)


def resolve_segment(name: str, segment_rule: SegmentLookup | None, chain: tuple[str, ...],
                    schema: RuleSchema, pos: Position | None = None) -> Rule:
    """The checked rule of segment ``name``; ``chain`` is the segments being resolved around it."""
    if name in chain:
        cycle = " → ".join((*chain[chain.index(name):], name))
        raise RuleError(f"segments refer to each other in a cycle: {cycle}", code="segment_cycle", position=pos)
    if len(chain) >= MAX_SEGMENT_DEPTH:
        raise RuleError(f"in_segment chains deeper than {MAX_SEGMENT_DEPTH}: {' → '.join(chain)}",
                        code="too_deep", position=pos)
    found = None
    if segment_rule is not None:
        try:
            found = segment_rule(name)
        except KeyError:
            found = None
    if found is None:
        raise RuleError(f"unknown segment {name!r}", code="unknown_segment", position=pos)
    return check_rule(found, schema)


def check_segments(rule: Rule, segment_rule: SegmentLookup | None, schema: RuleSchema) -> None:
    """Resolve every ``in_segment`` reference, recursively, so unknown segments, cycles and over-deep chains
    fail before anything is evaluated (as they do when compiling), however the rule would short-circuit."""
    budget = [0]

    def visit(node: Rule, chain: tuple[str, ...]) -> None:
        names: list[InSegment] = []
        for leaf in walk(node):
            if isinstance(leaf, LEAVES):
                budget[0] += 1
            if isinstance(leaf, InSegment) and all(n.name != leaf.name for n in names):
                names.append(leaf)
        if budget[0] > MAX_PREDICATES:
            raise RuleError(f"rule has more than {MAX_PREDICATES:,} conditions (segments included)",
                            code="too_complex")
        for ref in names:
            visit(resolve_segment(ref.name, segment_rule, chain, schema, ref.pos), (*chain, ref.name))

    visit(rule, ())


def property_type(columns: Mapping[str, FieldType], name: str, operand: Operand) -> tuple[FieldType, bool]:
    """Type of an event property or order column in a condition, and whether it is read from JSON.

    JSON properties take their type from the value they are compared with: text, number or boolean.
    """
    if name in columns:
        return columns[name], False
    first = operand[0] if isinstance(operand, tuple) else operand
    if isinstance(first, bool):
        return FieldType.BOOLEAN, True
    if isinstance(first, int | Decimal):
        return FieldType.NUMBER, True
    return FieldType.STRING, True


class _Checker:
    def __init__(self, schema: RuleSchema) -> None:
        self.schema = schema

    def rule(self, r: Rule) -> Rule:
        if isinstance(r, And | Or):
            if not r.items:
                raise RuleError(f"empty '{type(r).__name__.lower()}' would match everyone or no one; refused",
                                code="rule_empty")
            items = tuple(self.rule(x) for x in r.items)
            return And(items) if isinstance(r, And) else Or(items)
        if isinstance(r, Not):
            return Not(self.rule(r.item))
        if isinstance(r, FieldRule):
            if r.field not in self.schema.fields:
                raise _unknown("field", r.field, self.schema.fields, r.pos)
            type_ = self.schema.fields[r.field]
            return replace(r, value=self.operand(r.op, r.value, type_, f"field {r.field!r}", r.pos))
        if isinstance(r, HasTag):
            return replace(r, tag=_name(r.tag, "tag", r.pos))
        if isinstance(r, TagRule):
            return replace(r, tag=_name(r.tag, "tag", r.pos),
                           value=self.operand(r.op, r.value, FieldType.STRING, f"tag {r.tag!r}", r.pos))
        if isinstance(r, EventRule):
            return self.event(r)
        if isinstance(r, OrderRule):
            where = self.conditions(r.where, self.schema.order_columns, json_ok=False)
            value = _aggregate_value(r.agg is OrderAgg.COUNT, r.op, r.value, f"order_{r.agg.value}", r.pos)
            return replace(r, where=where, window=_window(r.window, r.pos), value=value)
        if isinstance(r, SequenceRule):
            seconds = r.within.seconds if isinstance(r.within.amount, int) else -1
            if isinstance(r.within.amount, bool) or not 0 < seconds <= MAX_WINDOW_DAYS * 86_400:
                raise RuleError(f"'within' must be positive and at most {MAX_WINDOW_DAYS} days",
                                code="bad_window", position=r.pos)
            return replace(r, first=self.event_name(r.first, r.pos), then=self.event_name(r.then, r.pos),
                           window=_window(r.window, r.pos))
        if isinstance(r, InSegment):
            return replace(r, name=_name(r.name, "segment", r.pos))
        raise RuleError(f"not a rule: {type(r).__name__}", code="rule_invalid")

    def event_name(self, name: str, pos: Position | None) -> str:
        name = _name(name, "event", pos)
        if self.schema.events is not None and name not in self.schema.events:
            raise _unknown("event", name, self.schema.events, pos)
        return name

    def event(self, r: EventRule) -> EventRule:
        event = self.event_name(r.event, r.pos)
        props = self.schema.event_properties
        if r.agg is EventAgg.COUNT:
            if r.property is not None:
                raise RuleError("count(...) counts events; it takes no property", code="rule_invalid", position=r.pos)
        else:
            if r.property is None:
                raise RuleError(f"{r.agg.value}(event.property) needs a property", code="rule_invalid", position=r.pos)
            _property_name(r.property, r.pos)
            if r.property in props and props[r.property] not in (FieldType.INTEGER, FieldType.NUMBER):
                raise RuleError(f"{r.agg.value} needs a numeric property; {r.property!r} is "
                                f"{props[r.property].value}", code="type_mismatch", position=r.pos)
        value = _aggregate_value(r.agg is EventAgg.COUNT, r.op, r.value, r.agg.value, r.pos)
        return replace(r, event=event, where=self.conditions(r.where, props, json_ok=True),
                       window=_window(r.window, r.pos), value=value)

    def conditions(self, where: tuple[Condition, ...], columns: Mapping[str, FieldType],
                   json_ok: bool) -> tuple[Condition, ...]:
        out = []
        for c in where:
            if c.property not in columns:
                if not json_ok:
                    raise _unknown("order column", c.property, columns, c.pos)
                _property_name(c.property, c.pos)
            type_, from_json = property_type(columns, c.property, c.value)
            if from_json and any(isinstance(v, date) for v in _values(c.value)):
                raise RuleError(f"property {c.property!r} is read from JSON: compare it with text, a number or "
                                "true/false", code="type_mismatch", position=c.pos)
            out.append(replace(c, value=self.operand(c.op, c.value, type_, f"property {c.property!r}", c.pos)))
        return tuple(out)

    def operand(self, op: Op, operand: Operand, type_: FieldType, what: str, pos: Position | None) -> Operand:
        if not isinstance(op, Op):
            raise RuleError(f"unknown operator {op!r}", code="bad_operator", position=pos)
        if problem := operand_problem(op, operand):
            raise RuleError(f"{what}: {problem}", code="rule_invalid", position=pos)
        if op not in ALLOWED_OPS[type_]:
            raise RuleError(f"{what} is {type_.value}; '{op.value}' does not apply to it", code="bad_operator",
                            position=pos)
        if isinstance(operand, tuple):
            if len(operand) > MAX_IN_VALUES:
                raise RuleError(f"more than {MAX_IN_VALUES:,} values in one list", code="too_many_values",
                                position=pos)
            return tuple(coerce(v, type_, what, pos) for v in operand)
        return None if operand is None else coerce(operand, type_, what, pos)


def coerce(value: Value, type_: FieldType, what: str, pos: Position | None = None) -> Value:
    """``value`` as the Python type of ``type_`` (int → Decimal, ISO text → date…), or ``type_mismatch``."""
    ok: Value | None = None
    if type_ is FieldType.STRING and isinstance(value, str):
        ok = _text(value, what, pos)
    elif type_ is FieldType.BOOLEAN and isinstance(value, bool):
        ok = value
    elif isinstance(value, bool):
        ok = None
    elif type_ is FieldType.INTEGER and isinstance(value, int):
        ok = value
    elif type_ is FieldType.NUMBER and isinstance(value, int | Decimal):
        ok = Decimal(value)
    elif type_ is FieldType.DATE and isinstance(value, date | str) and not isinstance(value, datetime):
        ok = _iso(value, date.fromisoformat) if isinstance(value, str) else value
    elif type_ is FieldType.TIMESTAMP and isinstance(value, date | str):
        if isinstance(value, str):
            ok = _iso(value, datetime.fromisoformat)
        elif isinstance(value, datetime):
            ok = value if value.tzinfo is None else None
        else:
            ok = datetime(value.year, value.month, value.day)
    if ok is None:
        raise RuleError(f"{what} is {type_.value}, but {_describe(value)}", code="type_mismatch", position=pos)
    if isinstance(ok, int | Decimal) and not isinstance(ok, bool) and (problem := number_problem(ok)):
        raise RuleError(f"{what}: {problem}", code="value_out_of_range", position=pos)
    return ok


def _iso(text: str, parse: Callable[[str], Value]) -> Value | None:
    try:
        value = parse(text)
    except ValueError:
        return None
    return None if isinstance(value, datetime) and value.tzinfo is not None else value


def _show(value: object) -> str:
    return value_text(value) if isinstance(value, str | int | Decimal | date) else repr(value)


def _describe(value: object) -> str:
    kind = {str: "text", bool: "a boolean", int: "an integer", Decimal: "a decimal", date: "a date",
            datetime: "a timestamp"}.get(type(value), type(value).__name__)
    shown = f"{value!r}" if not isinstance(value, str) else f'"{value[:40]}"'
    return f"{shown} is {kind}"


def _values(operand: Operand) -> tuple[Value, ...]:
    return operand if isinstance(operand, tuple) else () if operand is None else (operand,)


def _text(value: str, what: str, pos: Position | None) -> str:
    if len(value) > MAX_STRING_LENGTH:
        raise RuleError(f"{what}: text longer than {MAX_STRING_LENGTH:,} characters", code="value_out_of_range",
                        position=pos)
    if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
        raise RuleError(f"{what}: text contains a NUL or an unpaired surrogate", code="bad_text", position=pos)
    return value


def _name(name: object, kind: str, pos: Position | None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"{kind} name must be non-empty text", code="rule_invalid", position=pos)
    return _text(name, f"{kind} name", pos)


def _property_name(name: str, pos: Position | None) -> None:
    if not isinstance(name, str) or not PROPERTY_NAME.match(name):
        raise RuleError(f"property {str(name)[:80]!r} is not a plain name (letters, digits and _, at most 64)",
                        code="bad_property", position=pos)


def _unknown(kind: str, name: str, known: Mapping[str, object] | frozenset[str], pos: Position | None) -> RuleError:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    code = {"field": "unknown_field", "event": "unknown_event"}.get(kind, "unknown_column")
    return RuleError(f"unknown {kind} {name[:80]!r}{hint}", code=code, position=pos)


def _aggregate_value(is_count: bool, op: Op, value: object, fn: str, pos: Position | None) -> int | Decimal:
    if op not in SCALAR_OPS:
        raise RuleError(f"{fn}(...) is compared with =, !=, <, <=, > or >=", code="bad_operator", position=pos)
    if is_count:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RuleError(f"{fn}(...) is compared with a whole number ≥ 0, not {_show(value)}",
                            code="type_mismatch", position=pos)
        if problem := number_problem(value):
            raise RuleError(f"{fn}: {problem}", code="value_out_of_range", position=pos)
        return value
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise RuleError(f"{fn}(...) is compared with a number, not {_show(value)}", code="type_mismatch",
                        position=pos)
    out = coerce(value, FieldType.NUMBER, fn, pos)
    assert isinstance(out, Decimal)
    return out


def _window(window: Window | None, pos: Position | None) -> Window | None:
    if window is None:
        return None
    if isinstance(window, LastDays):
        if isinstance(window.days, bool) or not isinstance(window.days, int) or not 1 <= window.days <= MAX_WINDOW_DAYS:
            raise RuleError(f"'last Nd' needs 1 ≤ N ≤ {MAX_WINDOW_DAYS}", code="bad_window", position=pos)
        return window
    if not isinstance(window, DateRange) or not (isinstance(window.start, date) and isinstance(window.end, date)):
        raise RuleError("a window is last Nd or between two dates", code="bad_window", position=pos)
    if isinstance(window.start, datetime) or isinstance(window.end, datetime) or window.start > window.end:
        raise RuleError("the window's first date must not be after its last", code="bad_window", position=pos)
    if (window.end - window.start).days + 1 > MAX_WINDOW_DAYS:
        raise RuleError(f"the window is longer than {MAX_WINDOW_DAYS} days", code="bad_window", position=pos)
    return window
