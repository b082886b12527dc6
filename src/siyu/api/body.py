"""Reading request bodies within limits: a size cap before and after gzip, then JSON."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from fastapi import Request

from siyu.api.errors import ApiError


async def read_capped(request: Request, limit: int) -> bytes:
    """The raw body, refused with 400 ``payload_too_large`` (as Segment) once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding: gzip`` (or deflate) without ever inflating more than ``limit`` bytes."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc not in ("gzip", "deflate", "x-gzip"):
        raise ApiError(415, "unsupported_encoding", f"Content-Encoding {enc[:20]!r} is not supported; use gzip")
    wbits = 16 + zlib.MAX_WBITS if enc in ("gzip", "x-gzip") else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ApiError(400, "bad_encoding", f"the body is not valid {enc}: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise _too_large(limit)
    return out


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {str(exc)[:200]}") from None


def _too_large(limit: int) -> ApiError:
    return ApiError(400, "payload_too_large", f"the request body is larger than {limit} bytes")
