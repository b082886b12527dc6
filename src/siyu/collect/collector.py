"""The collector's logic (采集): normalise Segment HTTP API messages, validate them, spool them.

No HTTP here: the API parses a request and calls :meth:`Collector.collect` with its messages; the
answer says, per item, whether it was accepted, a duplicate or rejected (and why). Rejected items
are not dropped: they are spooled with their reason and the loader writes them to
``ods/quarantine``.

Normalisation follows Segment's HTTP tracking API
(https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/):

- ``type`` comes from the endpoint (``/v1/track`` → ``track``, …) when the message has none;
- a batch's ``context`` is merged *under* each message's own ``context`` (the message wins, nested
  objects are merged key by key);
- a batch's ``sentAt`` applies to each message that has no ``sentAt``;
- a message without ``timestamp`` happened when it was received: its ``timestamp`` becomes its
  ``sentAt`` (the client's clock) when it has one, else the receive time, so that the clock-skew
  correction ``receivedAt - (sentAt - timestamp)`` gives exactly the receive time either way;
- a message without ``messageId`` gets a generated one (``gen-<uuid>``) — such a message **cannot be
  deduplicated** when the client retries it, each retry is a new event;
- ``receivedAt`` is always the server's receive time (a client's own value is overwritten).

Limits (Segment's): an event larger than ``max_event_bytes`` (32 KB) is rejected as ``oversized``;
a request larger than ``max_batch_bytes`` (500 KB) raises :class:`BatchTooLarge` and stores
nothing (the API answers 413 and the client splits the batch). Sizes are of the message as sent
(``raw_sizes`` from the HTTP layer when it has them, else of the message re-encoded as JSON).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from siyu.collect.spool import Spool, SpoolItem
from siyu.core.config import get_settings
from siyu.core.errors import SiyuError
from siyu.core.logs import get_logger
from siyu.core.timeutil import iso, parse_ts
from siyu.core.validation import Reason, Rejected, validate_message

CONSENT_EVENT = "consent_changed"  # siyu.privacy.consent.CONSENT_EVENT; the collector does not import privacy

log = get_logger(__name__)
#: Batch context is merged into a message's context this deep; deeper, the message's value wins whole.
_MAX_MERGE_DEPTH = 32
#: Detail prefix of an item that broke the collector itself (a bug): quarantined rather than lost.
UNPROCESSABLE = "unprocessable"


class BatchTooLarge(SiyuError):
    """A request is over ``max_batch_bytes``: nothing of it was stored."""

    code = "batch_too_large"


@dataclass(frozen=True, slots=True)
class ItemError:
    """Why item ``index`` of a request was rejected (it is quarantined, not dropped)."""

    index: int
    message_id: str | None
    reason: str
    detail: str


@dataclass
class CollectResult:
    """Every input item is counted exactly once: ``accepted + duplicates + len(rejected)``."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[ItemError] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.accepted + self.duplicates + len(self.rejected)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": [{"index": e.index, "message_id": e.message_id, "reason": e.reason, "detail": e.detail}
                             for e in self.rejected]}


class Collector:
    """Validates and spools Segment-spec messages; thread-safe (the spool is).

    Example (what ``POST /v1/track`` does with its body)::

        collector = Collector(Spool(home / "spool.db"))
        collector.collect([{"userId": "u1", "event": "page_viewed"}], source="web", type_hint="track")
        # CollectResult(accepted=1, duplicates=0, rejected=[])
    """

    def __init__(self, spool: Spool, *, max_event_bytes: int | None = None, max_batch_bytes: int | None = None,
                 consent_sink: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        settings = get_settings()
        self.spool = spool
        #: Called with the accepted (newly stored) ``consent_changed`` messages of a request, after the spool's
        #: fsync: the consent ledger records them at once so a withdrawal counts before any build.
        self.consent_sink = consent_sink
        self.max_event_bytes = max_event_bytes or settings.max_event_bytes
        self.max_batch_bytes = max_batch_bytes or settings.max_batch_bytes

    def collect(self, messages: Sequence[Any], *, source: str, received_at: datetime | None = None,
                batch_context: dict[str, Any] | None = None, batch_sent_at: str | None = None,
                type_hint: str | None = None, raw_sizes: Sequence[int] | None = None) -> CollectResult:
        """Normalise, validate and durably spool ``messages`` (one request's worth) from ``source``.

        Returns when every item is stored (accepted and rejected alike) or is a known duplicate.
        ``source`` is the write key's source name; it is what ``ods`` records as ``source``.
        Raises :class:`BatchTooLarge` (nothing stored) or :class:`~siyu.collect.spool.SpoolError`.
        """
        if raw_sizes is not None and len(raw_sizes) != len(messages):
            raise ValueError(f"raw_sizes has {len(raw_sizes)} entries for {len(messages)} messages")
        now = (received_at or datetime.now(UTC)).astimezone(UTC)
        sizes = list(raw_sizes) if raw_sizes is not None else [len(_encode(m)[0]) for m in messages]
        total = sum(sizes)
        if total > self.max_batch_bytes:
            raise BatchTooLarge(f"{total} bytes > limit {self.max_batch_bytes}", input_name="batch")
        context = batch_context if isinstance(batch_context, dict) else None
        items: list[SpoolItem] = []
        errors: list[ItemError | None] = []
        consents: dict[int, dict[str, Any]] = {}
        for index, (message, size) in enumerate(zip(messages, sizes, strict=True)):
            try:
                item = self._item(message, size, source, now, context, batch_sent_at, type_hint, consents, index)
            except Exception as exc:  # a bug of ours must not lose the item or fail the request
                log.error("collect.unprocessable", index=index, error=f"{type(exc).__name__}: {exc}")
                body, _ = _encode(message)
                item = SpoolItem(body, source, now, None, Reason.WRONG_TYPE.value, f"{UNPROCESSABLE}: {exc}"[:500])
            items.append(item)
            errors.append(None if item.reason is None
                          else ItemError(index, item.message_id, item.reason, item.detail or ""))
        result = CollectResult()
        if not items:
            return result
        stored_consents: list[dict[str, Any]] = []
        for index, (stored, error) in enumerate(zip(self.spool.append(items), errors, strict=True)):
            if error is not None:
                result.rejected.append(error)
            elif stored:
                result.accepted += 1
                if index in consents:
                    stored_consents.append(consents[index])
            else:
                result.duplicates += 1
        if stored_consents and self.consent_sink is not None:
            try:
                self.consent_sink(stored_consents)
            except Exception as exc:  # the events are safe in the spool and reach the ledger by sync
                log.error("collect.consent_sink_failed", error=f"{type(exc).__name__}: {exc}",
                          messages=len(stored_consents))
        return result

    def _item(self, message: Any, size: int, source: str, now: datetime, context: dict[str, Any] | None,
              batch_sent_at: str | None, type_hint: str | None, consents: dict[int, dict[str, Any]],
              index: int) -> SpoolItem:
        msg = normalise(message, received_at=now, batch_context=context, batch_sent_at=batch_sent_at,
                        type_hint=type_hint) if isinstance(message, dict) else message
        message_id = msg.get("messageId") if isinstance(msg, dict) else None
        mid = message_id if isinstance(message_id, str) and message_id else None
        body, problem = _encode(msg)
        if size > self.max_event_bytes:
            return SpoolItem(body, source, now, mid, Reason.OVERSIZED.value,
                             f"{size} bytes > limit {self.max_event_bytes}")
        if problem is not None:  # a Python value JSON cannot hold (an int beyond 64 bits, a non-string key)
            return SpoolItem(body, source, now, mid, Reason.WRONG_TYPE.value, f"not representable as JSON: {problem}")
        # Validate what is stored, so the loader (which reads the body back) reaches the same verdict:
        # e.g. a NaN that a lenient JSON parser let through is stored, and validated, as null.
        parsed = orjson.loads(body)
        verdict = validate_message(parsed, received_at=now)
        if isinstance(verdict, Rejected):
            return SpoolItem(body, source, now, mid, verdict.reason.value, verdict.detail)
        if self.consent_sink is not None and parsed.get("event") == CONSENT_EVENT:
            consents[index] = parsed
        return SpoolItem(body, source, now, verdict.message_id)


def normalise(message: dict[str, Any], *, received_at: datetime, batch_context: dict[str, Any] | None = None,
              batch_sent_at: str | None = None, type_hint: str | None = None) -> dict[str, Any]:
    """A new message with Segment's server-side defaults applied (see the module docstring).

    >>> normalise({"event": "x", "userId": "u"}, received_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...           type_hint="track")["timestamp"]
    '2026-01-01T00:00:00Z'
    """
    msg = dict(message)
    if msg.get("type") is None and type_hint is not None:
        msg["type"] = type_hint
    if batch_context:
        own = msg.get("context")
        if own is None:
            msg["context"] = batch_context
        elif isinstance(own, dict):
            msg["context"] = _merge_under(batch_context, own, _MAX_MERGE_DEPTH)
    if msg.get("sentAt") is None and batch_sent_at is not None:
        msg["sentAt"] = batch_sent_at
    recv = iso(received_at)
    if msg.get("timestamp") is None:
        msg["timestamp"] = msg["sentAt"] if _is_timestamp(msg.get("sentAt")) else recv
    if msg.get("messageId") is None:
        msg["messageId"] = f"gen-{uuid.uuid4().hex}"
    msg["receivedAt"] = recv
    return msg


def _merge_under(base: dict[str, Any], own: dict[str, Any], depth: int) -> dict[str, Any]:
    """``own`` over ``base``; nested objects present in both are merged the same way."""
    out = dict(base)
    for key, value in own.items():
        below = out.get(key)
        if depth > 0 and isinstance(below, dict) and isinstance(value, dict):
            out[key] = _merge_under(below, value, depth - 1)
        else:
            out[key] = value
    return out


def _is_timestamp(value: Any) -> bool:
    try:
        parse_ts(value)
    except (TypeError, ValueError):
        return False
    return True


def _encode(value: Any) -> tuple[bytes, str | None]:
    """JSON bytes of ``value``; for what JSON cannot hold, a best-effort text and the reason."""
    try:
        return orjson.dumps(value), None
    except Exception as exc:  # orjson.JSONEncodeError (a TypeError), or anything a strange object raises
        try:
            text = repr(value)[:1024 * 1024]
        except Exception:  # a hostile __repr__ or a structure too deep to print
            text = f"<{type(value).__name__}>"
        return text.encode("utf-8", errors="backslashreplace"), str(exc)[:200]


__all__ = ["BatchTooLarge", "CollectResult", "Collector", "ItemError", "normalise"]
