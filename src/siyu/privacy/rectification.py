"""Rectification (更正权, PIPL art. 46): correct a person's profile attributes, with the audit trail.

A correction is data like any other: an ``identify`` event (source ``rectification``) whose traits are the
person's latest traits with the corrected values laid over them, landed in ods the way an import is (so
personal values are encrypted or tokenised on the way in) and visible after the next build. The old value
stays in history — the lake is a record of what was said when — but every profile read takes the latest.

Identifiers (phone, e-mail, unionid, member number, WeCom id, openid) are not corrected here: they are what
OneID links people by, and are corrected in the system they come from (or split with ``siyu identity
split``). The audit entry names the fields changed with masked old and new values, never plaintext.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson

from siyu.core.errors import SiyuError
from siyu.core.identifiers import IDENTIFIER_PRIORITY, IdentifierType
from siyu.privacy.classification import PiiKind, field_class
from siyu.privacy.masking import mask_value
from siyu.privacy.subject_access import find_person_in_lake
from siyu.warehouse.lake import Lake
from siyu.warehouse.ods import import_events

#: Trait keys that are identifiers: never corrected (nor carried) by a rectification event.
IDENTIFIER_TRAITS = frozenset({"phone", "email", "unionid", "member_no", "wecom_external_userid", "openid",
                               "openid_app_id", "user_id", "anonymous_id", "device_id"})
#: Identifiers a rectification event may carry to name the person (personal ones are tokens in the lake).
_ANCHORS = sorted((t for t in IdentifierType if t not in (IdentifierType.PHONE, IdentifierType.EMAIL)),
                  key=lambda t: -IDENTIFIER_PRIORITY[t])
MAX_FIELDS = 50
MAX_VALUE_CHARS = 1000


@dataclass(frozen=True)
class Rectification:
    one_id: str
    message_id: str
    changed: dict[str, tuple[str | None, str | None]]  # field → (old, new), masked

    def as_dict(self) -> dict[str, Any]:
        return {"one_id": self.one_id, "message_id": self.message_id,
                "changed": {k: {"old": o, "new": n} for k, (o, n) in self.changed.items()}}


def check_changes(changes: dict[str, str | None]) -> dict[str, str | None]:
    """The changes, refused with a clear error when a key is an identifier, empty, or too long."""
    if not changes:
        raise SiyuError("nothing to correct: give at least one field=value", code="bad_rectification")
    if len(changes) > MAX_FIELDS:
        raise SiyuError(f"at most {MAX_FIELDS} fields at once", code="bad_rectification")
    for key, value in changes.items():
        if not key or len(key) > 64 or not key.replace("_", "").isalnum():
            raise SiyuError(f"bad field name {key[:64]!r}", code="bad_rectification", input_name=key[:64])
        if key.lower() in IDENTIFIER_TRAITS:
            raise SiyuError(f"{key!r} is an identifier: correct it in its source system (or use "
                            "`siyu identity split`)", code="identifier_not_rectifiable", input_name=key)
        if value is not None and len(value) > MAX_VALUE_CHARS:
            raise SiyuError(f"value of {key!r} is over {MAX_VALUE_CHARS} characters", code="bad_rectification",
                            input_name=key)
    return changes


def rectify(lake: Lake, identifier_type: str, value: str, changes: dict[str, str | None]) -> Rectification:
    """Land a correcting ``identify`` event for the person; ``None`` as a value removes the trait."""
    check_changes(changes)
    ids = find_person_in_lake(lake, identifier_type, value)
    if not ids:
        raise SiyuError(f"no person with {identifier_type} = this value", code="unknown_person", input_name="value")
    anchor, current = _anchor_and_traits(lake, ids)
    if anchor is None:
        raise SiyuError("the person has no identifier a correction can name (only phone/e-mail tokens)",
                        code="no_anchor")
    traits = {k: v for k, v in current.items() if k.lower() not in IDENTIFIER_TRAITS}
    changed = {k: (_masked(k, current.get(k)), _masked(k, v)) for k, v in changes.items() if current.get(k) != v}
    for key, new in changes.items():
        if new is None:
            traits.pop(key, None)
        else:
            traits[key] = new
    now = datetime.now(UTC)
    message = {"type": "identify", "messageId": f"rectify-{uuid.uuid4().hex}", "timestamp": now.isoformat(),
               "receivedAt": now.isoformat(), "traits": traits, "context": {"library": {"name": "siyu-rectify"}},
               **_naming(anchor)}
    with tempfile.TemporaryDirectory(prefix="siyu-rectify-") as tmp:
        path = Path(tmp) / f"rectification-{message['messageId']}.jsonl"
        path.write_bytes(orjson.dumps(message) + b"\n")
        report = import_events(path, lake, workers=1)
    if report.accepted != 1:
        raise SiyuError(f"the correction was not accepted: {dict(report.quarantine_by_reason)}",
                        code="rectification_rejected")
    return Rectification(ids[0], str(message["messageId"]), changed)


def _masked(key: str, value: Any) -> str | None:
    """Masked by the field's kind, and generically when it has none: the audit never holds the value."""
    return None if value is None else mask_value(field_class(key).kind or PiiKind.GENERIC, value)


def _naming(anchor: tuple[str, str]) -> dict[str, Any]:
    kind, value = anchor
    if kind == "user_id":
        return {"userId": value}
    if kind == "anonymous_id":
        return {"anonymousId": value}
    if kind == "device_id":
        return {"anonymousId": f"rectify-{uuid.uuid4().hex}", "context": {"device": {"id": value}}}
    if kind == "openid":
        app, _, openid = value.partition(":")
        return {"anonymousId": f"rectify-{uuid.uuid4().hex}",
                "context": {"externalIds": [{"type": "openid", "id": openid, "collection": app}]}}
    return {"anonymousId": f"rectify-{uuid.uuid4().hex}", "context": {"externalIds": [{"type": kind, "id": value}]}}


def _anchor_and_traits(lake: Lake, ids: list[str]) -> tuple[tuple[str, str] | None, dict[str, Any]]:
    con = duckdb.connect()
    try:
        con.register("nodes", con.read_parquet(lake.files("identity", "nodes"), hive_partitioning=False))
        nodes = con.execute("SELECT identifier_type, identifier_value FROM nodes WHERE one_id IN "
                            "(SELECT unnest($ids))", {"ids": ids}).fetchall()
        traits: dict[str, Any] = {}
        events = lake.files("dwd", "events")
        if events:
            con.register("events", con.read_parquet(events, hive_partitioning=True, union_by_name=True))
            row = con.execute("SELECT traits FROM events WHERE one_id IN (SELECT unnest($ids)) AND type = 'identify' "
                              "AND traits IS NOT NULL ORDER BY event_time DESC, message_id DESC LIMIT 1",
                              {"ids": ids}).fetchone()
            if row and row[0]:
                parsed = orjson.loads(row[0])
                traits = parsed if isinstance(parsed, dict) else {}
    finally:
        con.close()
    have = {str(t): str(v) for t, v in nodes}
    for kind in _ANCHORS:
        if kind.value in have:
            return (kind.value, have[kind.value]), traits
    return None, traits


__all__ = ["IDENTIFIER_TRAITS", "Rectification", "check_changes", "rectify"]
