"""Service configuration: where the lake, the operational store and the spool are, and the limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ServiceConfig(BaseModel):
    """Everything ``create_app`` needs; ``siyu serve`` fills it from options and ``SIYU_*`` settings."""

    model_config = ConfigDict(extra="forbid")

    lake: Path = Field(description="The lake the loader writes and the APIs read.")
    store_url: str | None = Field(default=None, description="Operational store URL (default: SQLite under SIYU_HOME).")
    spool: Path | None = Field(default=None, description="Collector spool file (default: SIYU_HOME/spool.db).")
    build_engine: str | None = Field(default="duckdb", description="Engine for incremental builds after a drain; "
                                                           "None lands in ods only.")
    drain: bool = Field(default=True, description="Run the background loader that drains the spool into the lake.")
    drain_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    max_event_bytes: int = Field(default=32 * 1024, gt=0, description="Segment's per-event limit.")
    max_batch_bytes: int = Field(default=500 * 1024, gt=0, description="Segment's per-request limit (uncompressed).")
    max_request_bytes: int = Field(default=1024 * 1024, gt=0, description="Limit for every other request body.")
    rate_limit_per_minute: int = Field(default=6000, gt=0, description="Default per-key limit; a key may set its own.")
    request_timeout_seconds: float = Field(default=30.0, gt=0, description="A request still running then gets 504.")
    snapshot_interval_seconds: float = Field(default=60.0, gt=0, description="Least time between serving snapshots.")
    export_dir: Path | None = Field(default=None,
                                    description="Where segment export jobs write (default: SIYU_HOME/exports).")
