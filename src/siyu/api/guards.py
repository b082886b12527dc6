"""Size and time limits for every request, as plain ASGI middleware (no per-request wrapping objects).

Bodies larger than the limit are refused with 413 — by ``Content-Length`` before reading, and while
streaming when no length was sent. A request still running after the time limit answers 504, unless
its answer has already started (then the connection is closed). Collector paths are exempt from the
size limit: they enforce Segment's own limits and answer Segment's 400.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siyu.api.errors import ApiError, error_response


class RequestGuards:
    """ASGI middleware enforcing ``max_body`` bytes (outside ``exempt`` path prefixes) and ``timeout`` seconds."""

    def __init__(self, app: ASGIApp, *, max_body: int, timeout: float, exempt: tuple[str, ...] = ()) -> None:
        self.app, self.max_body, self.timeout, self.exempt = app, max_body, timeout, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not str(scope.get("path", "")).startswith(self.exempt):
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body:
                await self._too_large()(scope, receive, send)
                return
            receive = self._capped(receive)
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, receive, tracked_send), self.timeout)
        except TimeoutError:
            if started:
                raise
            await error_response(504, "timeout", f"the request took longer than {self.timeout:g} s")(
                scope, receive, send)

    def _too_large(self) -> Any:
        return error_response(413, "payload_too_large", f"the request body is larger than {self.max_body} bytes")

    def _capped(self, receive: Receive) -> Receive:
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise ApiError(413, "payload_too_large", f"the request body is larger than {self.max_body} bytes")
            return message

        return capped


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None
