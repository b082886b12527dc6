"""Running ``siyu serve``'s app on loopback for tests: real uvicorn, real sockets, real store and lake."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from siyu.api.app import create_app
from siyu.api.config import ServiceConfig
from siyu.store.db import open_store
from siyu.store.keys import create_key

ROLES = ("admin", "analyst", "operator", "auditor")


@dataclass
class RunningService:
    base_url: str
    write_key: str
    keys: dict[str, str]
    app: object
    store_url: str
    extra: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]

    @property
    def runtime(self):  # type: ignore[no-untyped-def]
        return self.app.state.runtime  # type: ignore[attr-defined]


def make_keys(store_url: str) -> tuple[str, dict[str, str]]:
    with open_store(store_url) as store:
        _info, write = create_key(store, kind="write", name="mini program", source="miniprogram")
        keys = {role: create_key(store, kind="user", name=f"{role} key", role=role)[1] for role in ROLES}
    return write, keys


@contextmanager
def run_service(lake: Path, tmp: Path, *, store_url: str | None = None, drain: bool = False,
                **config: object) -> Iterator[RunningService]:
    """Start the app in a uvicorn thread on a free loopback port; stop it (gracefully) afterwards."""
    store_url = store_url or f"sqlite:///{tmp / 'store.db'}"
    write, keys = make_keys(store_url)
    cfg = ServiceConfig(lake=lake, store_url=store_url, spool=tmp / "spool.db", export_dir=tmp / "exports",
                        drain=drain, **config)  # type: ignore[arg-type]
    app = create_app(cfg)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningService(base_url=f"http://127.0.0.1:{port}", write_key=write, keys=keys, app=app,
                             store_url=store_url)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
