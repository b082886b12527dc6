"""JSON form → rule tree, with pydantic v2 models (the API and UI's shape of a rule); ``to_json`` is in
:mod:`.printer`.

Depth, list sizes and total size are checked on the raw JSON *before* pydantic sees it, so a
10,000-deep document is refused cleanly instead of exhausting the stack.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
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
    Operand,
    Or,
    OrderAgg,
    OrderRule,
    Rule,
    SequenceRule,
    TagRule,
    TimeUnit,
    Value,
    Window,
    depth,
    operand_problem,
)
from siyu.profile.rules.errors import MAX_DEPTH, MAX_IN_VALUES, MAX_TEXT_LENGTH, RuleError
from siyu.profile.rules.lexer import Locator, number_problem

#: Containers per level of rule nesting are at most two ({"and": [...]}); leaves add a few more.
MAX_JSON_DEPTH = 2 * MAX_DEPTH + 8
MAX_JSON_VALUES = 2 * MAX_TEXT_LENGTH


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DateJ(_M):
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="ISO date, e.g. 2026-01-31")


class TimestampJ(_M):
    timestamp: str = Field(description="ISO timestamp in the business time zone, e.g. 2026-01-31T20:00:00")


Number = Annotated[Decimal, WithJsonSchema({"type": "number"})]
Scalar = StrictBool | StrictInt | Number | StrictStr | DateJ | TimestampJ
OperandJ = Scalar | list[Scalar] | None


class ConditionJ(_M):
    property: str
    op: Op
    value: OperandJ = None


class LastDaysJ(_M):
    last_days: StrictInt = Field(description="the last N days up to and including as_of")


class DateRangeJ(_M):
    from_: str = Field(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$")
    to: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")


WindowJ = LastDaysJ | DateRangeJ


class DurationJ(_M):
    days: StrictInt | None = None
    hours: StrictInt | None = None
    minutes: StrictInt | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DurationJ:
        if sum(v is not None for v in (self.days, self.hours, self.minutes)) != 1:
            raise ValueError("give exactly one of days, hours or minutes")
        return self


class AndJ(_M):
    and_: list[RuleJ] = Field(alias="and", min_length=1)


class OrJ(_M):
    or_: list[RuleJ] = Field(alias="or", min_length=1)


class NotJ(_M):
    not_: RuleJ = Field(alias="not")


class FieldJ(_M):
    field: str
    op: Op
    value: OperandJ = None


class HasTagJ(_M):
    has_tag: str


class TagJ(_M):
    tag: str
    op: Op
    value: OperandJ = None


class EventJ(_M):
    event: str
    agg: EventAgg = EventAgg.COUNT
    property: str | None = None
    where: list[ConditionJ] = Field(default_factory=list)
    window: WindowJ | None = None
    op: Literal["=", "!=", "<", "<=", ">", ">="]
    value: StrictInt | Number


class OrdersJ(_M):
    orders: OrderAgg
    where: list[ConditionJ] = Field(default_factory=list)
    window: WindowJ | None = None
    op: Literal["=", "!=", "<", "<=", ">", ">="]
    value: StrictInt | Number


class SequenceJ(_M):
    sequence: tuple[str, str]
    within: DurationJ
    window: WindowJ | None = None


class SegmentJ(_M):
    segment: str


_KEYS = ("and", "or", "not", "field", "has_tag", "tag", "event", "orders", "sequence", "segment")
_MODELS: dict[str, type[_M]] = {"and": AndJ, "or": OrJ, "not": NotJ, "field": FieldJ, "has_tag": HasTagJ,
                                "tag": TagJ, "event": EventJ, "orders": OrdersJ, "sequence": SequenceJ,
                                "segment": SegmentJ}


def _which(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((k for k in _KEYS if k in value), None)
    return next((k for k, m in _MODELS.items() if isinstance(value, m)), None)


RuleJ = Annotated[
    Annotated[AndJ, Tag("and")] | Annotated[OrJ, Tag("or")] | Annotated[NotJ, Tag("not")]
    | Annotated[FieldJ, Tag("field")] | Annotated[HasTagJ, Tag("has_tag")] | Annotated[TagJ, Tag("tag")]
    | Annotated[EventJ, Tag("event")] | Annotated[OrdersJ, Tag("orders")] | Annotated[SequenceJ, Tag("sequence")]
    | Annotated[SegmentJ, Tag("segment")],
    Discriminator(_which, custom_error_type="rule_shape",
                  custom_error_message=f"a rule is an object with one of the keys {', '.join(_KEYS)}"),
]
for _model in (AndJ, OrJ, NotJ):
    _model.model_rebuild()
_ADAPTER: TypeAdapter[Any] = TypeAdapter(RuleJ)


def rule_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the JSON form of a rule."""
    schema = _ADAPTER.json_schema(by_alias=True)
    schema["title"] = "siyu segment rule"
    return schema


# -- parsing -----------------------------------------------------------------------------------------

def parse_json(doc: str | dict[str, Any]) -> Rule:
    """Parse the JSON form (a JSON string or an already-decoded dict)."""
    if isinstance(doc, str):
        doc = _decode(doc)
    _check_size(doc)
    try:
        model = _ADAPTER.validate_python(doc)
    except ValidationError as exc:
        raise RuleError(_describe(exc), code="rule_json") from None
    rule = _rule(model)
    if depth(rule) > MAX_DEPTH:
        raise RuleError(f"rule is nested more than {MAX_DEPTH} levels deep", code="too_deep")
    return rule


def _decode(text: str) -> Any:
    if len(text) > MAX_TEXT_LENGTH:
        raise RuleError(f"rule is {len(text):,} characters; the limit is {MAX_TEXT_LENGTH:,}", code="rule_too_long")
    level, in_string, escaped, loc = 0, False, False, None
    for i, ch in enumerate(text):  # nesting depth before json.loads, whose C scanner recurses
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            level += 1
            if level > MAX_JSON_DEPTH:
                loc = Locator(text)
                raise loc.error(f"rule is nested more than {MAX_DEPTH} levels deep", i, "too_deep")
        elif ch in "}]":
            level -= 1

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a number a rule can use")

    try:
        return json.loads(text, parse_float=Decimal, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise Locator(text).error(f"invalid JSON: {exc.msg}", exc.pos) from None
    except (ValueError, RecursionError) as exc:
        raise RuleError(f"invalid JSON: {exc}", code="rule_syntax") from None


def _check_size(doc: Any) -> None:
    """Depth, list lengths and total size of decoded JSON, iteratively (no recursion)."""
    stack, count = [(doc, 1)], 0
    while stack:
        node, level = stack.pop()
        count += 1
        if count > MAX_JSON_VALUES:
            raise RuleError("rule is too large", code="rule_too_long")
        if isinstance(node, dict | list):
            if level > MAX_JSON_DEPTH:
                raise RuleError(f"rule is nested more than {MAX_DEPTH} levels deep", code="too_deep")
            if len(node) > MAX_IN_VALUES:
                raise RuleError(f"more than {MAX_IN_VALUES:,} values in one list", code="too_many_values")
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors()[:5]:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        lines.append(f"{path or 'rule'}: {err['msg']}")
    more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "invalid rule JSON: " + "; ".join(lines) + more


def _rule(m: Any) -> Rule:
    if isinstance(m, AndJ | OrJ):
        items = tuple(_rule(x) for x in (m.and_ if isinstance(m, AndJ) else m.or_))
        if len(items) == 1:
            return items[0]
        return And(items) if isinstance(m, AndJ) else Or(items)
    if isinstance(m, NotJ):
        return Not(_rule(m.not_))
    if isinstance(m, FieldJ):
        return FieldRule(m.field, m.op, _operand(m.op, m.value, f"field {m.field!r}"))
    if isinstance(m, HasTagJ):
        return HasTag(m.has_tag)
    if isinstance(m, TagJ):
        return TagRule(m.tag, m.op, _operand(m.op, m.value, f"tag {m.tag!r}"))
    if isinstance(m, EventJ):
        return EventRule(m.event, m.agg, m.property, _conditions(m.where), _window(m.window), Op(m.op),
                         _number(m.value))
    if isinstance(m, OrdersJ):
        return OrderRule(m.orders, _conditions(m.where), _window(m.window), Op(m.op), _number(m.value))
    if isinstance(m, SequenceJ):
        d = m.within
        unit, amount = ((TimeUnit.DAYS, d.days) if d.days is not None else
                        (TimeUnit.HOURS, d.hours) if d.hours is not None else (TimeUnit.MINUTES, d.minutes))
        assert amount is not None
        return SequenceRule(m.sequence[0], m.sequence[1], Duration(amount, unit), _window(m.window))
    assert isinstance(m, SegmentJ)
    return InSegment(m.segment)


def _conditions(items: list[ConditionJ]) -> tuple[Condition, ...]:
    return tuple(Condition(c.property, c.op, _operand(c.op, c.value, f"property {c.property!r}")) for c in items)


def _window(w: LastDaysJ | DateRangeJ | None) -> Window | None:
    if w is None:
        return None
    if isinstance(w, LastDaysJ):
        return LastDays(w.last_days)
    return DateRange(_date(w.from_), _date(w.to))


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RuleError(f"{text!r} is not a calendar date", code="type_mismatch") from None


def _number(value: int | Decimal) -> int | Decimal:
    if problem := number_problem(value):
        raise RuleError(f"{value}: {problem}", code="value_out_of_range")
    return value


def _scalar(v: Any) -> Value:
    if isinstance(v, DateJ):
        return _date(v.date)
    if isinstance(v, TimestampJ):
        try:
            ts = datetime.fromisoformat(v.timestamp)
        except ValueError:
            raise RuleError(f"{v.timestamp!r} is not an ISO timestamp", code="type_mismatch") from None
        if ts.tzinfo is not None:
            raise RuleError("timestamps are local to the business time zone; drop the offset", code="type_mismatch")
        return ts
    if isinstance(v, int | Decimal) and not isinstance(v, bool):
        return _number(v)
    assert isinstance(v, str | bool)
    return v


def _operand(op: Op, value: Any, what: str) -> Operand:
    operand: Operand = tuple(_scalar(v) for v in value) if isinstance(value, list) else (
        None if value is None else _scalar(value))
    if problem := operand_problem(op, operand):
        raise RuleError(f"{what}: {problem}", code="rule_json")
    return operand
