"""Keeps the serving files in step with the lake: rebuild when the lake's facts change, then switch.

Two files are served: the look-up snapshot (``siyu.serving.snapshot``) and the segment store
(``siyu.serving.segment_store``). A background thread compares a fingerprint of what they are built
from (the build and tag states and the profile tables' files) with the one each current file saw;
when it differs and ``min_interval`` has passed since that file's last rebuild, it rebuilds the file
and tells its reader to switch. The look-up snapshot goes first, so profiles are fresh soonest.
Failures are logged and retried on a later tick; the old file keeps serving.

Copies compete with the loader's builds for the same cores, so the keeper's thread (and the DuckDB
worker threads it starts, which inherit it) runs at a lower CPU priority (``nice`` +10 on Linux: the
loader and requests go first), and after rebuilding for T seconds it rests ``idle_factor`` × T
(default 2) before the next rebuild.
At a million profiles that is what bounds staleness (a rebuild of both files takes about 75 s), not
``min_interval``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from siyu.core.logs import get_logger
from siyu.serving.snapshot import serving_dir
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


#: How much lower the keeper's CPU priority is than the rest of the service (Linux per-thread nice).
KEEPER_NICENESS = 10


def _lower_priority() -> None:
    """Lower this thread's priority; threads created from it afterwards (DuckDB's pool) inherit it."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed: run at normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), KEEPER_NICENESS)


def fingerprint_file(lake: Lake, kind: str) -> Path:
    """Where the fingerprint of the lake a published file of ``kind`` was built from is kept."""
    return serving_dir(lake) / ("fingerprint" if kind == "snapshot" else f"fingerprint-{kind}")


@dataclass
class ServedFile:
    """One kind of serving file: how to build it and who to tell when a new one is published."""

    kind: str
    build: Callable[[Lake], Path]
    on_new: Callable[[], object]
    seen: str | None = None
    last_build: float = 0.0
    last_built_at: datetime | None = None
    last_error: str | None = None


class SnapshotKeeper:
    """Rebuilds the serving files, in order, when the lake changes."""

    def __init__(self, lake: Lake, files: list[ServedFile], *, check_seconds: float = 2.0,
                 min_interval_seconds: float = 60.0, idle_factor: float = 2.0) -> None:
        self.lake, self.files = lake, files
        self.check_seconds, self.min_interval, self.idle_factor = check_seconds, min_interval_seconds, idle_factor
        self._rest_until = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for f in files:
            p = fingerprint_file(lake, f.kind)
            f.seen = p.read_text(encoding="utf-8") if p.exists() else None

    @property
    def last_built_at(self) -> datetime | None:
        """When the first file (the look-up snapshot) was last rebuilt by this keeper."""
        return self.files[0].last_built_at if self.files else None

    @property
    def resting_seconds(self) -> float:
        """How long the keeper will still rest after its last rebuild (0 when it may rebuild now)."""
        return max(0.0, self._rest_until - time.monotonic())

    def tick(self, *, force: bool = False) -> bool:
        """Rebuild what is out of date (and past its interval, unless ``force``); True when any was."""
        if not self.lake.exists("ads", "lifecycle"):
            return False  # no profile facts yet: nothing to serve
        if not force and time.monotonic() < self._rest_until:
            return False
        fp = lake_fingerprint(self.lake)  # before building: a change during the build is seen next time
        rebuilt = False
        started = time.monotonic()
        for f in self.files:
            if fp == f.seen or (not force and time.monotonic() - f.last_build < self.min_interval):
                continue
            try:
                f.build(self.lake)
            except Exception as exc:  # keep serving the old file; try again later
                f.last_error = repr(exc)[:500]
                log.error("serving.rebuild_failed", kind=f.kind, error=f.last_error)
                f.last_build = time.monotonic()
                continue
            fingerprint_file(self.lake, f.kind).write_text(fp, encoding="utf-8")
            f.seen, f.last_build = fp, time.monotonic()
            f.last_built_at, f.last_error = datetime.now(UTC), None
            f.on_new()
            rebuilt = True
        if rebuilt:
            self._rest_until = time.monotonic() + self.idle_factor * (time.monotonic() - started)
        return rebuilt

    def _run(self) -> None:
        _lower_priority()
        self.tick(force=True)
        while not self._stop.wait(self.check_seconds):
            self.tick()

    def start(self) -> None:
        """Check now and then every ``check_seconds`` in a daemon thread (the current files keep serving)."""
        self._thread = threading.Thread(target=self._run, name="siyu-snapshot-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
