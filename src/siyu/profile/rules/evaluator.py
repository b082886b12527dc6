"""Plain-Python evaluation of a rule for one person: the reference semantics (参考语义).

The compiled SQL must select exactly the people this module says yes to (the parity tests check it on
DuckDB and Spark). It is also what real-time segments and "explain" run, without any engine.

Semantics: two-valued. A comparison with a missing (None) value is false, and ``not`` of a false
comparison is true. Windows are dt ranges relative to ``as_of``. Nobody's events count 0 and sum to
0; their average, minimum and maximum are undefined, so comparisons with them are false.
"""

from __future__ import annotations

import bisect
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from siyu.core.config import get_settings
from siyu.profile.rules.ast import (
    And,
    Condition,
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
    Window,
)
from siyu.profile.rules.check import SegmentLookup, check_rule, check_segments, property_type, resolve_segment
from siyu.profile.rules.errors import MAX_DEPTH, RuleError
from siyu.profile.rules.schema import DEFAULT_SCHEMA, FieldType, RuleSchema


@dataclass
class PersonData:
    """What the evaluator knows about one person (the rows the SQL would read for their one_id).

    ``events``: dicts with ``event``, ``event_time``, ``dt``, ``properties`` (a dict or JSON text) and
    any typed property columns (``amount``, ``category``…); ``orders``: dicts with ``amount``,
    ``paid_at``, ``dt`` and the order columns.
    """

    one_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)


_SCALAR: Mapping[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq, Op.NE: operator.ne, Op.LT: operator.lt, Op.LE: operator.le, Op.GT: operator.gt,
    Op.GE: operator.ge,
}
# What both engines' TRY_CAST(text AS DOUBLE) accept (DuckDB also takes 1_000; Spark does not, nor do we).
_DOUBLE = re.compile(r"^[ \t\n\r]*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)[ \t\n\r]*$",
                     re.IGNORECASE)


def compare(op: Op, left: Any, operand: Operand) -> bool:
    """``left op operand`` with SQL's types and two-valued NULLs (``None`` compares false)."""
    if op is Op.IS_NULL:
        return left is None
    if op is Op.IS_NOT_NULL:
        return left is not None
    if left is None:
        return False
    try:
        if op in _SCALAR:
            a, b = _align(left, operand)
            return _SCALAR[op](a, b)
        if op is Op.CONTAINS:
            return isinstance(left, str) and isinstance(operand, str) and operand in left
        assert isinstance(operand, tuple)
        if op is Op.BETWEEN:
            a, lo = _align(left, operand[0])
            a, hi = _align(left, operand[1])
            return bool(lo <= a <= hi)
        hit = left in operand if isinstance(left, str) else any(_eq(left, v) for v in operand)
        return hit if op is Op.IN else not hit
    except TypeError:  # data of another type than the schema says: SQL would not match either
        return False


def _eq(left: Any, right: Any) -> bool:
    a, b = _align(left, right)
    return bool(a == b)


def _align(a: Any, b: Any) -> tuple[Any, Any]:
    """Promote like SQL: decimal vs double compares as double; date vs timestamp as timestamp."""
    if isinstance(a, bool) or isinstance(b, bool):
        if isinstance(a, bool) and isinstance(b, bool):
            return a, b
        raise TypeError("boolean compared with a non-boolean")
    if isinstance(a, float) or isinstance(b, float):
        return float(a), float(b)
    if isinstance(a, date) and isinstance(b, date) and isinstance(a, datetime) != isinstance(b, datetime):
        return _as_datetime(a), _as_datetime(b)
    return a, b


def _as_datetime(d: date) -> datetime:
    return d if isinstance(d, datetime) else datetime(d.year, d.month, d.day)


def naive_local(value: datetime) -> datetime:
    """An aware timestamp as the business time zone's wall clock (what TIMESTAMP columns hold)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(ZoneInfo(get_settings().business_timezone)).replace(tzinfo=None)


def to_double(text: str | None) -> float | None:
    """``TRY_CAST(text AS DOUBLE)`` as both engines agree on it."""
    return float(text) if text is not None and _DOUBLE.match(text) else None


def json_text(value: Any) -> str | None:
    """What ``json_extract_string`` returns for a JSON property value."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def properties_of(row: Mapping[str, Any]) -> Mapping[str, Any]:
    props = row.get("properties")
    if isinstance(props, str):
        try:
            props = json.loads(props)
        except ValueError:
            return {}
    return props if isinstance(props, Mapping) else {}


def _day(row: Mapping[str, Any], time_key: str) -> date | None:
    if "dt" in row:
        d = row["dt"]
        return date.fromisoformat(d) if isinstance(d, str) else d
    t = row.get(time_key)
    return naive_local(t).date() if isinstance(t, datetime) else None


class Evaluator:
    """Evaluates checked rules; one instance per ``as_of`` (memoises segment membership per person)."""

    def __init__(self, schema: RuleSchema, as_of: date, segment_rule: SegmentLookup | None = None) -> None:
        self.schema, self.as_of, self.segment_rule = schema, as_of, segment_rule
        self.segments: dict[tuple[str, str], bool] = {}
        self.resolved: dict[str, Rule] = {}
        self._indexed: PersonData | None = None
        self._by_event: dict[Any, list[dict[str, Any]]] = {}

    def events_named(self, person: PersonData, event: str) -> list[dict[str, Any]]:
        """The person's events of one name (indexed once per person, not once per condition)."""
        if person is not self._indexed:
            index: dict[Any, list[dict[str, Any]]] = {}
            for e in person.events:
                index.setdefault(e.get("event"), []).append(e)
            self._indexed, self._by_event = person, index
        return self._by_event.get(event, [])

    def test(self, rule: Rule, person: PersonData, chain: tuple[str, ...] = ()) -> bool:
        if isinstance(rule, And):
            return all(self.test(x, person, chain) for x in rule.items)
        if isinstance(rule, Or):
            return any(self.test(x, person, chain) for x in rule.items)
        if isinstance(rule, Not):
            return not self.test(rule.item, person, chain)
        return self.decide(rule, self.measure(rule, person, chain))

    # -- leaves: measure a quantity, then decide --------------------------------------------------------
    def measure(self, rule: Rule, person: PersonData, chain: tuple[str, ...] = ()) -> Any:
        """The quantity a leaf compares: a field or tag value, a count, (sum, n), a matched pair…"""
        if isinstance(rule, FieldRule):
            return self.field_value(person, rule.field)
        if isinstance(rule, HasTag | TagRule):
            return person.tags.get(rule.tag)
        if isinstance(rule, EventRule):
            rows = self.matching(self.events_named(person, rule.event), self.schema.event_properties, rule.window,
                                 rule.where, "event_time")
            if rule.agg is EventAgg.COUNT:
                return len(rows)
            assert rule.property is not None
            return self.aggregate(rule.agg.value, [self.number(e, rule.property) for e in rows])
        if isinstance(rule, OrderRule):
            rows = self.matching(person.orders, self.schema.order_columns, rule.window, rule.where, "paid_at")
            if rule.agg is OrderAgg.COUNT:
                return len(rows)
            return self.aggregate(rule.agg.value, [o.get("amount") for o in rows])
        if isinstance(rule, SequenceRule):
            return self.sequence(rule, person)
        if isinstance(rule, InSegment):
            key = (person.one_id, rule.name)
            if key not in self.segments:
                sub = self.resolved.get(rule.name)
                if sub is None:
                    sub = self.resolved[rule.name] = resolve_segment(rule.name, self.segment_rule, chain,
                                                                     self.schema, rule.pos)
                self.segments[key] = self.test(sub, person, (*chain, rule.name))
            return self.segments[key]
        raise RuleError(f"cannot evaluate {type(rule).__name__}", code="rule_invalid")

    def decide(self, rule: Rule, measured: Any) -> bool:
        if isinstance(rule, FieldRule | TagRule):
            return compare(rule.op, measured, rule.value)
        if isinstance(rule, HasTag):
            return measured is not None
        if isinstance(rule, EventRule | OrderRule):
            agg = rule.agg.value
            if agg == "count":
                return compare(rule.op, measured, rule.value)
            if agg == "avg":  # avg op x ⇔ sum op x·n, as the SQL does
                total, n = measured
                return n > 0 and compare(rule.op, total, rule.value * n)
            return compare(rule.op, measured, rule.value)
        if isinstance(rule, SequenceRule):
            return measured is not None
        return bool(measured)

    @staticmethod
    def aggregate(agg: str, values: list[Any]) -> Any:
        values = [v for v in values if v is not None]
        if agg == "sum":
            return sum(values) if values else 0
        if agg == "avg":
            return (sum(values) if values else None, len(values))
        if not values:
            return None
        return min(values) if agg == "min" else max(values)

    def field_value(self, person: PersonData, name: str) -> Any:
        value = person.fields.get(name)
        if isinstance(value, datetime):
            return naive_local(value)
        if isinstance(value, str):
            type_ = self.schema.fields.get(name)
            if type_ is FieldType.DATE:
                return date.fromisoformat(value)
            if type_ is FieldType.TIMESTAMP:
                return datetime.fromisoformat(value)
        return value

    def bounds(self, window: Window | None) -> tuple[date, date] | None:
        if window is None:
            return None
        if isinstance(window, LastDays):
            return self.as_of - timedelta(days=window.days - 1), self.as_of
        return window.start, window.end

    def matching(self, rows: Iterable[dict[str, Any]], columns: Mapping[str, FieldType], window: Window | None,
                 where: tuple[Condition, ...], time_key: str) -> list[dict[str, Any]]:
        """The rows inside the window that pass every ``where`` condition."""
        bounds = self.bounds(window)
        out = []
        for row in rows:
            if bounds is not None:
                d = row.get("dt")
                if not isinstance(d, date):
                    d = _day(row, time_key)
                if d is None or not bounds[0] <= d <= bounds[1]:
                    continue
            for c in where:
                if not self.condition(row, c, columns):
                    break
            else:
                out.append(row)
        return out

    def condition(self, row: Mapping[str, Any], c: Condition, columns: Mapping[str, FieldType]) -> bool:
        value = self.property(row, c.property, c.value, columns)
        type_, from_json = property_type(columns, c.property, c.value)
        if from_json and type_ is FieldType.BOOLEAN:  # JSON true/false are compared as the text 'true'/'false'
            operand: Any = tuple(json_text(v) for v in c.value) if isinstance(c.value, tuple) else (
                json_text(c.value))
            return compare(c.op, value, operand)
        return compare(c.op, value, c.value)

    def property(self, row: Mapping[str, Any], name: str, operand: Operand, columns: Mapping[str, FieldType]) -> Any:
        """A property as the SQL reads it: the typed column, or the JSON text (cast for numbers)."""
        type_, from_json = property_type(columns, name, operand)
        if not from_json:
            return row[name] if name in row else cast_property(properties_of(row).get(name), type_)
        text = json_text(properties_of(row).get(name))
        return to_double(text) if type_ is FieldType.NUMBER else text

    def number(self, row: Mapping[str, Any], name: str) -> Any:
        if name in self.schema.event_properties:
            return self.property(row, name, None, self.schema.event_properties)
        return to_double(json_text(properties_of(row).get(name)))

    def sequence(self, rule: SequenceRule, person: PersonData) -> tuple[datetime, datetime] | None:
        bounds, within = self.bounds(rule.window), timedelta(seconds=rule.within.seconds)
        thens = sorted(naive_local(t) for e in self.events_named(person, rule.then)
                       if isinstance(t := e.get("event_time"), datetime))
        if not thens:
            return None
        for e in self.events_named(person, rule.first):
            a = e.get("event_time")
            if not isinstance(a, datetime):
                continue
            a = naive_local(a)
            if bounds is not None:
                d = _day(e, "event_time")
                if d is None or not bounds[0] <= d <= bounds[1]:
                    continue
            i = bisect.bisect_right(thens, a)
            if i < len(thens) and thens[i] <= a + within:
                return a, thens[i]
        return None


def cast_property(value: Any, type_: FieldType) -> Any:
    """A typed column filled from the JSON property (how the warehouse derives it): TRY_CAST."""
    if value is None:
        return None
    text = json_text(value)
    if type_ is FieldType.STRING:
        return text
    if type_ is FieldType.INTEGER:
        return int(text) if text is not None and re.fullmatch(r"[+-]?\d{1,18}", text) else None
    try:
        return Decimal(text).quantize(Decimal("0.01")) if text is not None and _DOUBLE.match(text) else None
    except InvalidOperation:
        return None


def evaluate_rule(rule: Rule, person: PersonData, *, as_of: date, segment_rule: SegmentLookup | None = None,
                  schema: RuleSchema = DEFAULT_SCHEMA) -> bool:
    """Whether ``person`` is in the segment on ``as_of`` (the reference for the compiled SQL)."""
    checked = check_rule(rule, schema)
    check_segments(checked, segment_rule, schema)
    return _guard(lambda: Evaluator(schema, as_of, segment_rule).test(checked, person))


def evaluate_population(rule: Rule, people: Iterable[PersonData], as_of: date, *,
                        segment_rule: SegmentLookup | None = None, schema: RuleSchema = DEFAULT_SCHEMA) -> set[str]:
    """The one_ids of ``people`` in the segment: what ``compile_rule`` selects from the same data."""
    checked = check_rule(rule, schema)
    check_segments(checked, segment_rule, schema)
    ev = Evaluator(schema, as_of, segment_rule)
    return _guard(lambda: {p.one_id for p in people if p.one_id is not None and ev.test(checked, p)})


_T = TypeVar("_T")


def _guard(fn: Callable[[], _T]) -> _T:
    try:
        return fn()
    except RecursionError:  # segments nesting deep rules inside deep rules
        raise RuleError(f"segments nest rules more than {MAX_DEPTH} levels deep in total", code="too_deep") from None
