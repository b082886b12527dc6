"""The request guards: 413 for large bodies (declared or streamed), 504 for slow requests, JSON always."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI, Request

from siyu.api.errors import install_error_handlers
from siyu.api.guards import RequestGuards
from tests.api.service import RunningService


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestGuards, max_body=1000, timeout=0.5, exempt=("/v1/track",))

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/v1/track")
    async def track(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/slow")
    def slow() -> dict[str, bool]:
        time.sleep(2)
        return {"done": True}

    return app


@contextmanager
def _serve(app: FastAPI) -> Iterator[httpx.Client]:
    """The app on uvicorn on a free loopback port (real HTTP, as the service runs)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_declared_and_streamed_bodies_over_the_limit_are_413() -> None:
    with _serve(_app()) as client:
        _check_sizes(client)


def _check_sizes(client: httpx.Client) -> None:
    assert client.post("/echo", content=b"x" * 1000).json() == {"bytes": 1000}
    r = client.post("/echo", content=b"x" * 1001)
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"y" * 400

    r = client.post("/echo", content=chunks())  # no Content-Length: counted while streaming
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert client.post("/v1/track", content=b"z" * 5000).json() == {"bytes": 5000}  # exempt path


def test_slow_requests_answer_504() -> None:
    with _serve(_app()) as client:
        r = client.get("/slow")
    assert r.status_code == 504 and r.json()["code"] == "timeout"


def test_the_service_refuses_a_large_body(service: RunningService) -> None:
    with service.client("operator") as c:
        r = c.post("/v1/segments/validate", content=b'{"rule": "' + b"a" * 2_000_000 + b'"}',
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert httpx.get(service.base_url + "/healthz").status_code == 200
