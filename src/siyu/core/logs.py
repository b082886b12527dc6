"""Structured logs (structlog): key-value events on standard error, JSON when ``SIYU_LOG_FORMAT=json``.

Rooms log facts (``log.info("build.step", step="dwd_events", seconds=1.2)``), never prose; the level
is ``SIYU_LOG_LEVEL`` (default ``WARNING``, so the CLI's own output stays clean).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

_configured = False


def configure(level: str | None = None, fmt: str | None = None) -> None:
    """Set up structlog once per process (idempotent)."""
    global _configured
    if _configured:
        return
    level_name = (level or os.environ.get("SIYU_LOG_LEVEL", "WARNING")).upper()
    renderer: Any = (structlog.processors.JSONRenderer() if (fmt or os.environ.get("SIYU_LOG_FORMAT")) == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
                    renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level_name, logging.WARNING)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    _configured = True


def get_logger(name: str) -> Any:
    configure()
    return structlog.get_logger(name)
