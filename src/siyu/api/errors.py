"""JSON errors with a stable code and a human message, and the handlers that guarantee them.

Every error response has the shape ``{"code": "...", "message": "..."}`` (plus ``details`` where a
caller can act on them) — the same shape Segment's SDKs read — and never a stack trace.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from siyu.core.errors import SiyuError
from siyu.core.logs import get_logger
from siyu.store.errors import Conflict

log = get_logger("siyu.api")

#: HTTP status of SiyuError codes that are not plain bad input (400).
STATUS_BY_CODE: dict[str, int] = {
    **dict.fromkeys(("unknown_person", "not_found", "unknown_segment", "unknown_tag", "unknown_kpi"), 404),
    "conflict": 409,
    **dict.fromkeys(("not_ready", "profile_not_built", "lake_not_built", "tags_not_built", "no_data"), 503),
}


def status_of(exc: SiyuError) -> int:
    """The HTTP status of a domain error: by its code, else by its kind (the store's ``NotFound`` is a
    ``LookupError`` whatever its code, e.g. ``unknown_key``; its ``Conflict`` is 409), else 400."""
    if exc.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[exc.code]
    if isinstance(exc, LookupError):
        return 404
    if isinstance(exc, Conflict):
        return 409
    return 400


class ApiError(Exception):
    """An error the API answers with ``status`` and a JSON body; raise it from any route or dependency."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.details = status, code, message, headers, details


def error_response(status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                   details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def _clean_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors()[:20]:
        out.append({"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))[:300],
                    "type": str(err.get("type", ""))})
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the JSON error shape; unexpected ones are logged with a request id."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers, details=exc.details)

    @app.exception_handler(SiyuError)
    async def _siyu_error(_request: Request, exc: SiyuError) -> JSONResponse:
        status = status_of(exc)
        details = {"input": exc.input_name} if exc.input_name else None
        return error_response(status, exc.code, exc.message, details=details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", "the request does not match the API's schema",
                              details=_clean_validation_errors(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex[:12]
        log.error("api.unhandled", request_id=request_id, path=request.url.path, error=repr(exc)[:500],
                  exc_info=exc)
        return error_response(500, "internal_error", f"internal error; the server log has request id {request_id}")
