"""The FastAPI application: routers, error handlers, limits on time and size, and the runtime's lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from siyu import __version__
from siyu.api import routes_admin, routes_catalogue, routes_collect, routes_consent, routes_profiles, routes_segments
from siyu.api.config import ServiceConfig
from siyu.api.errors import install_error_handlers
from siyu.api.guards import RequestGuards
from siyu.api.models import ErrorOut
from siyu.api.runtime import ServiceRuntime

DESCRIPTION = """siyu's HTTP service.

* **Collector** (`/v1/track` … `/v1/batch`): Segment's HTTP tracking API. Authenticate with a source
  **write key** as the HTTP Basic user name, exactly as Segment's SDKs do.
* **Data service** (profiles, segments, tags, KPIs, keys): authenticate with a **user key**
  (`Authorization: Bearer sy_u_…` or `X-API-Key`). Its role (admin, analyst, operator, auditor) decides
  what it may call; identifiers are masked unless the role may see personal data.

Every error is JSON: `{"code": "...", "message": "..."}`.
"""


def create_app(config: ServiceConfig, *, runtime: ServiceRuntime | None = None) -> FastAPI:
    """The app; the runtime (store, spool, loader, snapshot) starts with the app and stops with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or ServiceRuntime(config)
        app.state.runtime = rt
        rt.start()
        try:
            yield
        finally:
            await asyncio.to_thread(rt.stop)

    app = FastAPI(title="siyu", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(RequestGuards, max_body=config.max_request_bytes, timeout=config.request_timeout_seconds,
                       exempt=tuple(f"/v1/{p}" for p in COLLECT_PATHS))
    app.include_router(routes_collect.router, responses={504: _TIMEOUT})
    for module in (routes_profiles, routes_consent, routes_segments, routes_catalogue, routes_admin):
        app.include_router(module.router, responses={413: _TOO_LARGE, 504: _TIMEOUT})
    return app


# Answers of the guards (siyu.api.guards), so any operation may give them (the collector answers an oversized
# body itself, with Segment's 400).
_TOO_LARGE: dict[str, Any] = {"model": ErrorOut, "description": "The request body is larger than the service's limit."}
_TIMEOUT: dict[str, Any] = {"model": ErrorOut, "description": "The request took longer than the service's time limit."}


COLLECT_PATHS = (*routes_collect.SINGLE_TYPES, "batch", "import")
