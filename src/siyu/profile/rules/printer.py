"""Rule tree → canonical text form and JSON form; both parse back to the same tree."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from siyu.profile.rules.ast import (
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
    OrderRule,
    Rule,
    SequenceRule,
    TagRule,
    TimeUnit,
    Value,
    Window,
)

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "between", "contains", "where", "last", "within",
                       "true", "false", "date", "timestamp"})


def to_text(rule: Rule) -> str:
    """The canonical text form, e.g. ``lifecycle = "silent" and did(order_paid, last 90d)``."""
    if isinstance(rule, And | Or):
        word = " and " if isinstance(rule, And) else " or "
        return word.join(_child(item) for item in rule.items)
    if isinstance(rule, Not):
        return "not " + _child(rule.item)
    return leaf_text(rule)


def _child(rule: Rule) -> str:
    return f"({to_text(rule)})" if isinstance(rule, And | Or) else to_text(rule)


def leaf_text(rule: Rule) -> str:
    """Text of one leaf predicate (also the label of explain nodes)."""
    if isinstance(rule, FieldRule):
        return f"{rule.field} {operand_text(rule.op, rule.value)}"
    if isinstance(rule, HasTag):
        return f"has_tag({quote(rule.tag)})"
    if isinstance(rule, TagRule):
        return f"tag({quote(rule.tag)}) {operand_text(rule.op, rule.value)}"
    if isinstance(rule, InSegment):
        return f"in_segment({quote(rule.name)})"
    if isinstance(rule, EventRule):
        inner = name_text(rule.event) + (f".{rule.property}" if rule.property else "")
        inner += _filters(rule.where, rule.window, leading_comma=True)
        if rule.agg is EventAgg.COUNT and rule.op is Op.GE and rule.value == 1 and not isinstance(rule.value, bool):
            return f"did({inner})"
        return f"{rule.agg.value}({inner}) {rule.op.value} {value_text(rule.value)}"
    if isinstance(rule, OrderRule):
        inner = _filters(rule.where, rule.window, leading_comma=False).lstrip(" ,")
        return f"order_{rule.agg.value}({inner}) {rule.op.value} {value_text(rule.value)}"
    if isinstance(rule, SequenceRule):
        window = f", {window_text(rule.window)}" if rule.window else ""
        return (f"sequence({name_text(rule.first)}, {name_text(rule.then)}, "
                f"within {rule.within.amount}{rule.within.unit.value}{window})")
    raise TypeError(f"not a rule node: {rule!r}")


def _filters(where: tuple[Condition, ...], window: Window | None, leading_comma: bool) -> str:
    out = ""
    if where:
        out += " where " + " and ".join(f"{c.property} {operand_text(c.op, c.value)}" for c in where)
    if window is not None:
        out += (", " if leading_comma or where else " ") + window_text(window)
    return out


def window_text(window: Window) -> str:
    if isinstance(window, LastDays):
        return f"last {window.days}d"
    assert isinstance(window, DateRange)
    return f"between {window.start.isoformat()} and {window.end.isoformat()}"


def operand_text(op: Op, value: Operand) -> str:
    if op in (Op.IS_NULL, Op.IS_NOT_NULL):
        return op.value
    if op in (Op.IN, Op.NOT_IN):
        assert isinstance(value, tuple)
        return f"{op.value} ({', '.join(value_text(v) for v in value)})"
    if op is Op.BETWEEN:
        assert isinstance(value, tuple)
        return f"between {value_text(value[0])} and {value_text(value[1])}"
    assert not isinstance(value, tuple) and value is not None
    return f"{op.value} {value_text(value)}"


def value_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return f"timestamp({quote(value.isoformat())})"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def name_text(name: str) -> str:
    """Event names print bare when they are plain identifiers, else quoted."""
    return name if _PLAIN.match(name) and name.lower() not in _KEYWORDS else quote(name)


# -- the JSON form ------------------------------------------------------------------------------------

def to_json(rule: Rule) -> dict[str, Any]:
    """The JSON form as plain JSON-compatible Python (``json.dumps`` works on it)."""
    if isinstance(rule, And):
        return {"and": [to_json(x) for x in rule.items]}
    if isinstance(rule, Or):
        return {"or": [to_json(x) for x in rule.items]}
    if isinstance(rule, Not):
        return {"not": to_json(rule.item)}
    if isinstance(rule, FieldRule):
        return {"field": rule.field, **_json_cmp(rule.op, rule.value)}
    if isinstance(rule, HasTag):
        return {"has_tag": rule.tag}
    if isinstance(rule, TagRule):
        return {"tag": rule.tag, **_json_cmp(rule.op, rule.value)}
    if isinstance(rule, EventRule):
        out: dict[str, Any] = {"event": rule.event, "agg": rule.agg.value}
        if rule.property is not None:
            out["property"] = rule.property
        return {**out, **_json_filters(rule.where, rule.window), "op": rule.op.value, "value": _jv(rule.value)}
    if isinstance(rule, OrderRule):
        return {"orders": rule.agg.value, **_json_filters(rule.where, rule.window), "op": rule.op.value,
                "value": _jv(rule.value)}
    if isinstance(rule, SequenceRule):
        unit = {TimeUnit.DAYS: "days", TimeUnit.HOURS: "hours", TimeUnit.MINUTES: "minutes"}[rule.within.unit]
        out = {"sequence": [rule.first, rule.then], "within": {unit: rule.within.amount}}
        if rule.window is not None:
            out["window"] = _json_window(rule.window)
        return out
    if isinstance(rule, InSegment):
        return {"segment": rule.name}
    raise TypeError(f"not a rule node: {rule!r}")


def _json_cmp(op: Op, value: Operand) -> dict[str, Any]:
    if value is None:
        return {"op": op.value}
    return {"op": op.value, "value": [_jv(v) for v in value] if isinstance(value, tuple) else _jv(value)}


def _json_filters(where: tuple[Condition, ...], window: Window | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if where:
        out["where"] = [{"property": c.property, **_json_cmp(c.op, c.value)} for c in where]
    if window is not None:
        out["window"] = _json_window(window)
    return out


def _json_window(window: Window) -> dict[str, Any]:
    if isinstance(window, LastDays):
        return {"last_days": window.days}
    return {"from": window.start.isoformat(), "to": window.end.isoformat()}


def _jv(value: Value) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return {"timestamp": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    return value
