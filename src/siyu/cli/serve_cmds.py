"""``siyu serve``: the collector and the data service APIs on one port."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siyu.cli.common import LakeOpt


def serve(
    lake: LakeOpt,
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    store: Annotated[str | None, typer.Option("--store", help="Operational store URL (default: SQLite in "
                                                              "SIYU_HOME).")] = None,
    spool: Annotated[Path | None, typer.Option(help="Collector spool file (default: SIYU_HOME/spool.db).")] = None,
    drain: Annotated[bool, typer.Option(help="Drain the spool into the lake in the background.")] = True,
    drain_interval: Annotated[float, typer.Option(help="Seconds between drains.")] = 5.0,
    build_engine: Annotated[str, typer.Option(help="Engine for incremental builds after a drain, or 'none'.")
                            ] = "duckdb",
    snapshot_interval: Annotated[float, typer.Option(help="Least seconds between serving snapshots.")] = 60.0,
    rate_limit: Annotated[int, typer.Option(help="Default requests a minute per key.")] = 6000,
) -> None:
    """Run the Segment-compatible collector and the data service APIs (OpenAPI document at /docs)."""
    import uvicorn

    from siyu.api.app import create_app
    from siyu.api.config import ServiceConfig

    config = ServiceConfig(lake=lake, store_url=store, spool=spool, drain=drain, drain_interval_seconds=drain_interval,
                           build_engine=None if build_engine == "none" else build_engine,
                           snapshot_interval_seconds=snapshot_interval, rate_limit_per_minute=rate_limit)
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=30)
