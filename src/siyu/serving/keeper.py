"""Keeps the serving snapshot in step with the lake: rebuild when the lake's facts change, then switch.

A background thread compares a fingerprint of what a snapshot is built from (the build and tag
states and the profile tables' files) with the one the current snapshot saw; when it differs and
``min_interval`` has passed since the last rebuild, it builds a new snapshot and tells the look-up
to switch. Failures are logged and retried on the next tick; the old snapshot keeps serving.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from siyu.core.logs import get_logger
from siyu.serving.snapshot import build_snapshot, serving_dir
from siyu.warehouse.lake import Lake

log = get_logger("siyu.serving")

_WATCHED_TABLES = (("ads", "profiles"), ("ads", "lifecycle"), ("ads", "tag_values"), ("ads", "segment_members"),
                   ("identity", "nodes"), ("identity", "redirects"))


def lake_fingerprint(lake: Lake) -> str:
    """Names and modification times of everything a snapshot reads (cheap: no file is opened)."""
    parts: list[str] = []
    for name in ("build-duckdb", "build-spark", "tags"):
        p = lake.root / "_state" / f"{name}.json"
        if p.exists():
            parts.append(f"{p.name}:{p.stat().st_mtime_ns}")
    for layer, table in _WATCHED_TABLES:
        for f in lake.files(layer, table):
            parts.append(f"{f}:{os.stat(f).st_mtime_ns}")
    return "|".join(parts)


class SnapshotKeeper:
    """Rebuilds the serving snapshot when the lake changes; ``on_new`` is called with nothing after each."""

    def __init__(self, lake: Lake, on_new: Callable[[], object], *, check_seconds: float = 2.0,
                 min_interval_seconds: float = 60.0) -> None:
        self.lake, self.on_new = lake, on_new
        self.check_seconds, self.min_interval = check_seconds, min_interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: str | None = self._published_fingerprint()
        self._last_build = 0.0
        self.last_built_at: datetime | None = None
        self.last_error: str | None = None

    def _published_fingerprint(self) -> str | None:
        p = serving_dir(self.lake) / "fingerprint"
        return p.read_text(encoding="utf-8") if p.exists() else None

    def tick(self, *, force: bool = False) -> bool:
        """Rebuild if the lake changed (and the interval passed, unless ``force``); True when rebuilt."""
        if not self.lake.exists("ads", "lifecycle"):
            return False  # no profile facts yet: nothing to serve
        fp = lake_fingerprint(self.lake)
        if fp == self._seen:
            return False
        if not force and time.monotonic() - self._last_build < self.min_interval:
            return False
        try:
            build_snapshot(self.lake)
        except Exception as exc:  # keep serving the old snapshot; try again next tick
            self.last_error = repr(exc)[:500]
            log.error("serving.snapshot_failed", error=self.last_error)
            self._last_build = time.monotonic()
            return False
        (serving_dir(self.lake) / "fingerprint").write_text(fp, encoding="utf-8")
        self._seen, self._last_build = fp, time.monotonic()
        self.last_built_at, self.last_error = datetime.now(UTC), None
        self.on_new()
        return True

    def _run(self) -> None:
        self.tick(force=True)
        while not self._stop.wait(self.check_seconds):
            self.tick()

    def start(self) -> None:
        """Check now and then every ``check_seconds`` in a daemon thread (the current snapshot keeps serving)."""
        self._thread = threading.Thread(target=self._run, name="siyu-snapshot-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
