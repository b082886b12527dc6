"""Planted defects: broken copies of valid messages that a collector must reject with a known reason.

Every defective line is a *new* line (its own messageId, or none) built from a clean template, so no
valid event is lost and no defective line shares a messageId with a valid one. Each line carries
exactly one defect; which reason :func:`siyu.core.validation.validate_line` gives is fixed by
construction (the template is otherwise valid).
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from siyu.core.catalogue import STANDARD_EVENTS, PropType

#: Events never used as templates for property defects (they must stay consistent with entities).
NO_TEMPLATE = frozenset({"order_paid", "order_refunded"})
NON_NUMBERS = ("abc", "N/A", "十二", "12,5元", "", "null")
GARBAGE = (b"<html><body><h1>502 Bad Gateway</h1></body></html>", b"undefined", b"NaN", b"\xef\xbb\xbf{")


def property_template_ok(msg: dict[str, Any]) -> bool:
    """True for standard track events with at least one required property."""
    event = msg.get("event")
    return (msg.get("type") == "track" and isinstance(event, str) and event in STANDARD_EVENTS
            and event not in NO_TEMPLATE and bool(STANDARD_EVENTS[event].required))


def missing_required(msg: dict[str, Any], new_id: str, py: random.Random) -> dict[str, Any]:
    """Drop one required property (or, for one in five, the messageId itself)."""
    if py.random() < 0.2 or not property_template_ok(msg):
        return {k: v for k, v in msg.items() if k != "messageId"}
    name = py.choice(STANDARD_EVENTS[msg["event"]].required)
    props = {k: v for k, v in msg["properties"].items() if k != name}
    return {**msg, "messageId": new_id, "properties": props}


def wrong_type(msg: dict[str, Any], new_id: str, py: random.Random) -> dict[str, Any]:
    """Give one required property the wrong JSON type: text for numbers/booleans, an object for text."""
    spec = STANDARD_EVENTS[msg["event"]]
    prop = py.choice([p for p in spec.props if p.required])
    value: Any
    if prop.type in (PropType.NUMBER, PropType.INTEGER):
        value = py.choice(NON_NUMBERS)
    elif prop.type is PropType.BOOLEAN:
        value = py.choice(("yes", "true", "1"))
    else:
        value = {"value": msg["properties"][prop.name]}
    props = dict(msg["properties"])
    props[prop.name] = value
    return {**msg, "messageId": new_id, "properties": props}


def malformed(msg: dict[str, Any], new_id: str, py: random.Random) -> bytes:
    """A line that is not JSON: cut mid-object (at an ASCII byte, so UTF-8 stays valid) or garbage."""
    line = orjson.dumps({**msg, "messageId": new_id})
    roll = py.random()
    if roll < 0.6:
        cuts = [k for k in range(8, len(line) - 1) if line[k] < 0x80]
        return line[:py.choice(cuts)]
    if roll < 0.8:
        return line + b',"'
    return py.choice(GARBAGE)
