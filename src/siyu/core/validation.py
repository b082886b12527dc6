"""Validation of Segment-spec messages into accepted records or quarantine reasons.

One line in, one verdict out. Reason codes are stable (they are what ``ods/quarantine`` and the
quality report count):

=========================  ============================================================
``oversized``              the line is larger than the per-event limit (32 KB, as Segment)
``malformed_json``         not parseable JSON
``not_an_object``          JSON, but not an object
``unknown_type``           ``type`` is not one of track/identify/page/screen/group/alias
``missing_required_field`` an envelope field or a standard event's required property is missing
``wrong_type``             a field or a standard property has the wrong JSON type
``invalid_timestamp``      a timestamp string that is not ISO-8601
=========================  ============================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from siyu.core.catalogue import STANDARD_EVENTS, type_matches
from siyu.core.identifiers import IdentifierType, extract_identifiers
from siyu.core.timeutil import corrected_time, parse_ts

MESSAGE_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})


class Reason(StrEnum):
    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_TYPE = "unknown_type"
    MISSING_REQUIRED_FIELD = "missing_required_field"
    WRONG_TYPE = "wrong_type"
    INVALID_TIMESTAMP = "invalid_timestamp"


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid message with its parsed envelope, identifiers and corrected event time."""

    msg: dict[str, Any]
    message_id: str
    type: str
    event: str | None
    timestamp: datetime
    sent_at: datetime | None
    received_at: datetime | None
    event_time: datetime
    identifiers: dict[IdentifierType, str]
    id_problems: list[str]


def _event_name(msg: dict[str, Any], mtype: str) -> str | None:
    if mtype == "track":
        return msg.get("event")
    if mtype in ("page", "screen"):
        name = msg.get("name")
        return f"{mtype}:{name}" if isinstance(name, str) and name else mtype
    return mtype


def validate_message(msg: Any, *, received_at: datetime | None = None) -> Accepted | Rejected:
    """Validate one decoded message. ``received_at`` (server time) overrides the message's own."""
    if not isinstance(msg, dict):
        return Rejected(Reason.NOT_AN_OBJECT, f"expected a JSON object, got {type(msg).__name__}")
    mtype = msg.get("type")
    if mtype is None:
        return Rejected(Reason.MISSING_REQUIRED_FIELD, "type")
    if not isinstance(mtype, str) or mtype not in MESSAGE_TYPES:
        return Rejected(Reason.UNKNOWN_TYPE, f"type={str(mtype)[:40]!r}")
    for name in ("messageId", "timestamp"):
        if name not in msg or msg[name] is None:
            return Rejected(Reason.MISSING_REQUIRED_FIELD, name)
    if not isinstance(msg["messageId"], str) or not msg["messageId"]:
        return Rejected(Reason.WRONG_TYPE, "messageId must be a non-empty string")
    if msg.get("userId") is None and msg.get("anonymousId") is None:
        return Rejected(Reason.MISSING_REQUIRED_FIELD, "userId or anonymousId")
    for name in ("userId", "anonymousId", "event", "previousId", "groupId"):
        value = msg.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            return Rejected(Reason.WRONG_TYPE, f"{name} must be a string")
    for name in ("properties", "traits", "context"):
        if msg.get(name) is not None and not isinstance(msg[name], dict):
            return Rejected(Reason.WRONG_TYPE, f"{name} must be an object")
    if mtype == "track" and not msg.get("event"):
        return Rejected(Reason.MISSING_REQUIRED_FIELD, "event")
    if mtype == "alias" and msg.get("previousId") is None:
        return Rejected(Reason.MISSING_REQUIRED_FIELD, "previousId")
    times: dict[str, datetime | None] = {}
    for name in ("timestamp", "sentAt", "receivedAt"):
        raw = msg.get(name)
        if raw is None:
            times[name] = None
            continue
        try:
            times[name] = parse_ts(raw)
        except TypeError:
            return Rejected(Reason.WRONG_TYPE, f"{name} must be an ISO-8601 string")
        except ValueError:
            return Rejected(Reason.INVALID_TIMESTAMP, f"{name}={str(raw)[:40]!r}")
    event = _event_name(msg, mtype)
    spec = STANDARD_EVENTS.get(event) if mtype == "track" and isinstance(event, str) else None
    if spec is not None:
        props = msg.get("properties") or {}
        for p in spec.props:
            value = props.get(p.name)
            if value is None:
                if p.required:
                    return Rejected(Reason.MISSING_REQUIRED_FIELD, f"properties.{p.name}")
                continue
            if not type_matches(value, p.type):
                return Rejected(Reason.WRONG_TYPE, f"properties.{p.name} must be {p.type.value}")
            if p.enum and value not in p.enum:
                return Rejected(Reason.WRONG_TYPE, f"properties.{p.name} must be one of {list(p.enum)}")
    identifiers, problems = extract_identifiers(msg)
    if not identifiers:
        return Rejected(Reason.MISSING_REQUIRED_FIELD, "no usable identifier: " + "; ".join(problems)[:160])
    ts = times["timestamp"]
    assert ts is not None
    recv = received_at or times["receivedAt"]
    return Accepted(
        msg=msg,
        message_id=msg["messageId"],
        type=mtype,
        event=event,
        timestamp=ts,
        sent_at=times["sentAt"],
        received_at=recv,
        event_time=corrected_time(ts, times["sentAt"], recv),
        identifiers=identifiers,
        id_problems=problems,
    )


def validate_line(line: bytes | str, *, max_bytes: int, received_at: datetime | None = None) -> Accepted | Rejected:
    """Validate one JSON line (already decoded to UTF-8 where it was not)."""
    size = len(line.encode() if isinstance(line, str) else line)
    if size > max_bytes:
        return Rejected(Reason.OVERSIZED, f"{size} bytes > limit {max_bytes}")
    try:
        msg = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Rejected(Reason.MALFORMED_JSON, str(exc)[:200])
    return validate_message(msg, received_at=received_at)
