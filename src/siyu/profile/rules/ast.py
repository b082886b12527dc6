"""The typed rule tree (规则语法树) both forms parse into; it knows nothing about SQL or engines.

Nodes are frozen dataclasses, so two rules are equal when they mean the same tree (positions in the
source text are kept for error messages but ignored by ``==``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypeAlias

from siyu.profile.rules.errors import Position


class Op(StrEnum):
    """The closed set of comparison operators (text spelling = JSON spelling)."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    IN = "in"
    NOT_IN = "not in"
    BETWEEN = "between"
    IS_NULL = "is null"
    IS_NOT_NULL = "is not null"
    CONTAINS = "contains"


#: Operators comparing one value (and the only ones aggregates accept).
SCALAR_OPS = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})
LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
NULL_OPS = frozenset({Op.IS_NULL, Op.IS_NOT_NULL})


class EventAgg(StrEnum):
    """What to measure over a person's matching events."""

    COUNT = "count"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"


class OrderAgg(StrEnum):
    """What to measure over a person's orders (``orders.amount``)."""

    COUNT = "count"
    SUM = "sum"
    AVG = "avg"


class TimeUnit(StrEnum):
    DAYS = "d"
    HOURS = "h"
    MINUTES = "m"


UNIT_SECONDS = {TimeUnit.DAYS: 86_400, TimeUnit.HOURS: 3_600, TimeUnit.MINUTES: 60}

Value: TypeAlias = str | bool | int | Decimal | date | datetime
Operand: TypeAlias = Value | tuple[Value, ...] | None


@dataclass(frozen=True, slots=True)
class LastDays:
    """``last Nd``: dt between as_of - (N - 1) and as_of, inclusive."""

    days: int


@dataclass(frozen=True, slots=True)
class DateRange:
    """``between 2026-01-01 and 2026-01-31``: dt inclusive at both ends."""

    start: date
    end: date


Window: TypeAlias = LastDays | DateRange


@dataclass(frozen=True, slots=True)
class Duration:
    """``within 24h``: how long after the first step the second may happen."""

    amount: int
    unit: TimeUnit

    @property
    def seconds(self) -> int:
        return self.amount * UNIT_SECONDS[self.unit]


@dataclass(frozen=True, slots=True)
class Condition:
    """A filter on an event property or an order column: ``category = "sports"``."""

    property: str
    op: Op
    value: Operand = None
    pos: Position | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Rule


@dataclass(frozen=True, slots=True)
class FieldRule:
    """``lifecycle = "silent"``: compares a profile field."""

    field: str
    op: Op
    value: Operand = None
    pos: Position | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class HasTag:
    """``has_tag("complained")``: the person has any value of the tag."""

    tag: str
    pos: Position | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TagRule:
    """``tag("interest") = "sports"``: compares the tag's (string) value."""

    tag: str
    op: Op
    value: Operand = None
    pos: Position | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class EventRule:
    """``count(product_viewed where category = "sports", last 30d) >= 3`` and ``sum(order_paid.amount) > 500``."""

    event: str
    agg: EventAgg
    property: str | None
    where: tuple[Condition, ...]
    window: Window | None
    op: Op
    value: int | Decimal
    pos: Position | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class OrderRule:
    """``order_sum(last 365d) >= 3000``: measures ``orders.amount``."""

    agg: OrderAgg
    where: tuple[Condition, ...]
    window: Window | None
    op: Op
    value: int | Decimal
    pos: Position | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SequenceRule:
    """``sequence(cart_added, order_paid, within 24h, last 7d)``: A, then B strictly later within T."""

    first: str
    then: str
    within: Duration
    window: Window | None = None
    pos: Position | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class InSegment:
    """``in_segment("vip")``: membership of another named segment, inlined when compiling."""

    name: str
    pos: Position | None = dc_field(default=None, compare=False, repr=False)


Rule: TypeAlias = And | Or | Not | FieldRule | HasTag | TagRule | EventRule | OrderRule | SequenceRule | InSegment
LEAVES = (FieldRule, HasTag, TagRule, EventRule, OrderRule, SequenceRule, InSegment)


def children(rule: Rule) -> tuple[Rule, ...]:
    if isinstance(rule, And | Or):
        return rule.items
    if isinstance(rule, Not):
        return (rule.item,)
    return ()


def walk(rule: Rule) -> Iterator[Rule]:
    """Every node, parents before children (iterative: safe on any depth)."""
    stack: list[Rule] = [rule]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def depth(rule: Rule) -> int:
    """Nesting depth of and/or/not (a leaf alone is 0); iterative."""
    best, stack = 0, [(rule, 0)]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        stack.extend((c, d + 1) for c in children(node))
    return best


def operand_problem(op: Op, operand: Operand) -> str | None:
    """Why ``operand`` has the wrong shape for ``op`` (one value, a list, two values, none), or None."""
    if op in NULL_OPS:
        return None if operand is None else f"'{op.value}' takes no value"
    if op in LIST_OPS:
        ok = isinstance(operand, tuple) and len(operand) > 0
        return None if ok else f"'{op.value}' takes a non-empty list of values"
    if op is Op.BETWEEN:
        return None if isinstance(operand, tuple) and len(operand) == 2 else "'between' takes exactly two values"
    return None if operand is not None and not isinstance(operand, tuple) else f"'{op.value}' takes one value"
