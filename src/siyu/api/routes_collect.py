"""Segment-compatible tracking endpoints: ``/v1/track`` … ``/v1/batch`` and ``/v1/import``.

As Segment's HTTP API: the write key is the HTTP Basic user name (or ``writeKey`` in the body),
bodies may be gzipped, one event is at most 32 KB and one request at most 500 KB, and success is
``200 {"success": true}``. We add what happened to each item: a batch with bad items keeps the good
ones and lists each bad one with its reason (the bad ones are quarantined, not dropped). The answer
is sent only after the items are durable in the spool.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from siyu.api.auth import basic_username
from siyu.api.body import decompress, parse_json, read_capped
from siyu.api.deps import authenticate_write_key, basic_scheme, runtime
from siyu.api.errors import ApiError
from siyu.api.models import CollectOut, ErrorOut, RejectedItem
from siyu.api.runtime import ServiceRuntime
from siyu.collect.collector import BatchTooLarge
from siyu.collect.spool import SpoolError

router = APIRouter(tags=["collect"])

SINGLE_TYPES = ("track", "identify", "page", "screen", "group", "alias")

_ID = {"type": ["string", "integer"], "minLength": 1}
_TIME = {"type": "string", "format": "date-time"}
#: What the collector checks in one message (Segment's common fields); anything else is kept as sent.
_MESSAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": list(SINGLE_TYPES),
                 "description": "Defaults to the endpoint's type on `/v1/track` … `/v1/alias`."},
        "messageId": {"type": "string", "minLength": 1,
                      "description": "Deduplication key: a repeated messageId is counted as a duplicate, not stored."},
        "userId": _ID, "anonymousId": _ID, "previousId": _ID, "groupId": _ID,
        "event": {"type": "string", "minLength": 1}, "name": {"type": "string"},
        "properties": {"type": "object"}, "traits": {"type": "object"}, "context": {"type": "object"},
        "timestamp": _TIME, "sentAt": _TIME,
    },
    "anyOf": [{"required": ["userId"]}, {"required": ["anonymousId"]}],
    "additionalProperties": True,
}
_EXAMPLES: dict[str, dict[str, Any]] = {
    "track": {"userId": "u_1001", "event": "order_paid", "messageId": "3b1c9d2e-track-0001",
              "properties": {"order_id": "o_1", "amount": 99.0, "currency": "CNY"},
              "timestamp": "2026-01-31T12:00:00Z"},
    "identify": {"userId": "u_1001", "traits": {"city": "上海", "gender": "f"}, "messageId": "3b1c9d2e-identify-0001"},
    "page": {"anonymousId": "a_77", "name": "Home", "properties": {"path": "/"}},
    "screen": {"userId": "u_1001", "name": "Cart"},
    "group": {"userId": "u_1001", "groupId": "g_1", "traits": {"name": "VIP 群"}},
    "alias": {"previousId": "a_77", "userId": "u_1001"},
}


def _body_doc(schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {**schema, "examples": [example]}}},
        "description": "`Content-Encoding: gzip` accepted. A single event that fails these rules is answered 400 "
                       "(and quarantined); in a batch, such items are listed under `rejected`.",
    }}


def _single_doc(kind: str) -> dict[str, Any]:
    required = {"track": ["event"], "alias": ["previousId"]}.get(kind)
    return _body_doc({**_MESSAGE, **({"required": required} if required else {})}, _EXAMPLES[kind])


_BATCH_DOC = _body_doc(
    {"type": "object", "required": ["batch"], "additionalProperties": True, "properties": {
        "batch": {"type": "array", "items": {**_MESSAGE, "required": ["type"]}},
        "context": {"type": "object", "description": "Merged under every item's own context."},
        "sentAt": _TIME,
        "writeKey": {"type": "string", "description": "The write key, for clients that cannot send HTTP Basic."}}},
    {"batch": [{"type": t, **e} for t, e in _EXAMPLES.items() if t in ("track", "identify")],
     "sentAt": "2026-01-31T12:00:01Z"})
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Malformed or oversized request; a rejected single event."},
    401: {"model": ErrorOut, "description": "Missing, unknown or revoked write key."},
    403: {"model": ErrorOut, "description": "Not a write key."},
    415: {"model": ErrorOut, "description": "Unsupported Content-Encoding."},
    429: {"model": ErrorOut, "description": "Over the key's rate limit; retry after `Retry-After` seconds."},
    503: {"model": ErrorOut, "description": "The spool cannot take events now; retry."},
}


async def _collect(request: Request, rt: ServiceRuntime, *, batch: bool, type_hint: str | None) -> CollectOut:
    received_at = datetime.now(UTC)
    token = basic_username(request.headers.get("authorization"))
    caller = authenticate_write_key(rt, token) if token is not None else None  # refuse before reading the body
    limit = rt.config.max_batch_bytes if batch else rt.config.max_event_bytes
    raw = await read_capped(request, limit + 1024 if batch else limit)
    body = decompress(raw, request.headers.get("content-encoding"), limit)
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    if caller is None:
        caller = authenticate_write_key(rt, payload.get("writeKey") if isinstance(payload.get("writeKey"), str)
                                        else None)
    if batch:
        items = payload.get("batch")
        if not isinstance(items, list):
            raise ApiError(400, "invalid_request", "a batch body needs a `batch` array")
        context = payload.get("context") if isinstance(payload.get("context"), dict) else None
        sent_at = payload.get("sentAt") if isinstance(payload.get("sentAt"), str) else None
    else:
        items, context, sent_at = [payload], None, None
    try:
        result = await run_in_threadpool(
            rt.collector.collect, items, source=caller.source or caller.name, received_at=received_at,
            batch_context=context, batch_sent_at=sent_at, type_hint=type_hint)
    except BatchTooLarge as exc:
        raise ApiError(400, "payload_too_large", f"the batch is larger than the limit: {exc.message}") from None
    except SpoolError as exc:
        raise ApiError(503, "unavailable", f"events cannot be stored right now: {exc.message}",
                       headers={"Retry-After": "1"}) from None
    rejected = [RejectedItem(index=r.index, messageId=r.message_id, reason=r.reason, detail=r.detail)
                for r in result.rejected]
    out = CollectOut(success=True, accepted=result.accepted, duplicates=result.duplicates, rejected=rejected)
    if not batch and rejected:
        first = rejected[0]
        raise ApiError(400, first.reason, f"event rejected ({first.reason}): {first.detail}; it was quarantined",
                       details=out.model_dump(by_alias=True))
    return out


def _single(kind: str) -> None:
    async def endpoint(request: Request, rt: ServiceRuntime = Depends(runtime),
                       _auth: object = Depends(basic_scheme)) -> CollectOut:
        return await _collect(request, rt, batch=False, type_hint=kind)

    endpoint.__name__ = f"collect_{kind}"
    router.add_api_route(f"/v1/{kind}", endpoint, methods=["POST"], response_model=CollectOut,
                         response_model_by_alias=True,
                         summary=f"Send one {kind} message (Segment spec)", responses=_ERRORS,
                         openapi_extra=_single_doc(kind))


for _kind in SINGLE_TYPES:
    _single(_kind)


async def _batch_endpoint(request: Request, rt: ServiceRuntime = Depends(runtime),
                          _auth: object = Depends(basic_scheme)) -> CollectOut:
    return await _collect(request, rt, batch=True, type_hint=None)


for _path in ("/v1/batch", "/v1/import"):
    router.add_api_route(_path, _batch_endpoint, methods=["POST"], response_model=CollectOut,
                         response_model_by_alias=True,
                         summary="Send up to 500 KB of messages (Segment's batch)", responses=_ERRORS,
                         openapi_extra=_BATCH_DOC, operation_id=f"collect_{_path.rsplit('/', 1)[-1]}")
