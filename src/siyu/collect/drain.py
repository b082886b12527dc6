"""The loader (装载): drains the spool into ``lake/ods`` exactly once, then builds incrementally.

Each micro-batch of spooled rows goes through four steps::

    1. intent   take the oldest pending rows, seq first..last; write the intent
                {batch_id = "spool-<spool_id>-<first>-<last>", first, last, rows, loaded_at,
                 load_day, timezone} into the lake state file ``collector-<spool_id>``
                (atomic rename, then fsync);
    2. publish  land the rows with the import code (``siyu.warehouse.ods``): accepted rows are
                re-validated into ``ods/events/dt=<event day>/b-<batch_id>-0.parquet``, rejected
                ones go with their reason to ``ods/quarantine/dt=<load_day>/b-<batch_id>.parquet``;
                fsync the files;
    3. mark     ``spool.mark_landed(first, last)``, one fsynced SQLite transaction;
    4. clear    remove the intent from the state file.

When a drain starts and finds an intent, the last drain died during that batch: it is redone from
step 2 with exactly the recorded range, load time, load day and time zone. The scratch folder the
dead attempt was writing (``ods/.tmp-collect-<batch_id>-…``, hidden, never read) is deleted first.

Why every spooled row ends up in ``ods`` exactly once, whatever step a crash interrupts:

* **Never lost.** A row stops being pending only at step 3, after its files were published and
  fsynced. A crash before step 1 completed (the state file is replaced by an atomic rename) leaves
  no intent and published nothing: the rows are still pending and a later batch takes them. A crash
  after it leaves an intent, and the redo publishes every row of the range. A redo refuses to run
  if the spool no longer holds exactly ``rows`` rows in the range; rows leave the spool only through
  ``purge_landed``, which the loader runs after resolving the intent, under the same lock.
* **Never twice.** (a) Ranges of different batches are disjoint: a new batch starts only when no
  intent is outstanding, so the previous batch's rows are already marked landed and are never
  pending again; and a range of ``seq`` read once can never gain a row (``seq`` is AUTOINCREMENT and
  SQLite has one writer; see :mod:`siyu.collect.spool`). (b) Publishing the same batch again cannot
  add a copy: every file name is derived only from the batch id, the event day (the row's own time
  in the recorded time zone) and the recorded load day, so a redo *replaces* the files of the
  earlier attempt; a redo also deletes any file of the batch first, in case the attempt that died
  had split a day into more files. (c) A crash after step 3 redoes a batch whose rows are already
  marked: the files are replaced by identical ones and marking again changes nothing.
* **One loader at a time.** The whole drain holds :meth:`Spool.consumer_lock` (``flock``), across
  threads and processes.

Duplicates sent by clients are another matter: the spool drops retries within the dedupe window
and DWD keeps one copy per messageId; ``ods`` holds what the collector accepted.

Accepted rows are validated again when landed (the import code needs the parsed envelope and the
identifiers); the size limit is not applied again (it was applied to the event as sent, before
batch context was merged into it). A row that no longer validates, because a setting changed in
between, is quarantined with its reason: accounted for either way.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from siyu.collect.spool import Spool, SpoolRow
from siyu.core.config import get_settings
from siyu.core.errors import SiyuError
from siyu.core.logs import get_logger
from siyu.core.validation import Reason
from siyu.warehouse.build import BuildReport, build
from siyu.warehouse.lake import Lake
from siyu.warehouse.ods import FileReport, _FileLander, _publish

log = get_logger(__name__)
#: ``_publish`` splits a day into a second file only beyond 4,000,000 rows; keep a batch below that.
MAX_BATCH_ROWS = 1_000_000
#: Seen-ids pruning and landed-row purging run at most this often.
HOUSEKEEPING_EVERY = timedelta(minutes=10)


class DrainError(SiyuError):
    code = "drain_error"


def _no_hook(step: str) -> None:
    return None


#: Test hook called after each step ("intent", "publish", "mark_landed"): crash injection.
_on_step: Callable[[str], None] = _no_hook


@dataclass(frozen=True, slots=True)
class _Intent:
    batch_id: str
    first: int
    last: int
    rows: int
    loaded_at: datetime
    load_day: str
    timezone: str

    @classmethod
    def new(cls, spool_id: str, rows: list[SpoolRow], timezone: str) -> _Intent:
        first, last = rows[0].seq, rows[-1].seq
        loaded_at = datetime.now(UTC)
        load_day = loaded_at.astimezone(ZoneInfo(timezone)).date().isoformat()
        return cls(f"spool-{spool_id}-{first}-{last}", first, last, len(rows), loaded_at, load_day, timezone)

    def as_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "first": self.first, "last": self.last, "rows": self.rows,
                "loaded_at": self.loaded_at.isoformat(), "load_day": self.load_day, "timezone": self.timezone}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _Intent:
        return cls(str(d["batch_id"]), int(d["first"]), int(d["last"]), int(d["rows"]),
                   datetime.fromisoformat(d["loaded_at"]), str(d["load_day"]), str(d["timezone"]))


@dataclass
class DrainReport:
    """What one :func:`drain` did."""

    batches: list[str] = field(default_factory=list)
    redone: list[str] = field(default_factory=list)
    accepted: int = 0
    quarantined: int = 0
    quarantine_by_reason: Counter[str] = field(default_factory=Counter)
    days: set[str] = field(default_factory=set)
    landed_through: datetime | None = None
    pruned_seen: int = 0
    purged: int = 0
    build: BuildReport | None = None
    build_error: str | None = None
    built_at: datetime | None = None
    seconds: float = 0.0

    @property
    def landed(self) -> int:
        return self.accepted + self.quarantined

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches, "redone": self.redone, "accepted": self.accepted,
            "quarantined": self.quarantined, "quarantine_by_reason": dict(sorted(self.quarantine_by_reason.items())),
            "days": sorted(self.days), "landed_through": _iso(self.landed_through), "pruned_seen": self.pruned_seen,
            "purged": self.purged, "build": self.build.as_dict() if self.build else None,
            "build_error": self.build_error, "built_at": _iso(self.built_at), "seconds": self.seconds,
        }


def state_name(spool: Spool) -> str:
    """The lake state file of this spool's loader (``_state/collector-<spool_id>.json``)."""
    return f"collector-{spool.spool_id}"


def drain(spool: Spool, lake: Lake, *, max_rows: int = 200_000, build_engine: str | None = "duckdb",
          dedupe_days: int | None = None, keep_landed: timedelta = timedelta(days=1),
          max_defer: timedelta = timedelta(0)) -> DrainReport:
    """Land every row pending in ``spool`` when the call starts into ``lake/ods``, then build.

    ``max_defer`` > 0 lets the build stop after dwd events while more rows wait (see ``_build``); the
    background loader uses it, a one-off ``siyu collect drain`` builds whole.

    ``max_rows`` rows per micro-batch; ``build_engine`` None lands only (the build runs elsewhere).
    Seen messageIds older than ``dedupe_days`` (setting) and landed rows older than ``keep_landed``
    are removed from the spool. A failed build is reported in ``build_error`` and retried by the
    next drain; any other failure raises, and the next drain finishes the interrupted batch.
    """
    if not 1 <= max_rows <= MAX_BATCH_ROWS:
        raise ValueError(f"max_rows must be within 1..{MAX_BATCH_ROWS}")
    settings = get_settings()
    t0 = time.perf_counter()
    report = DrainReport()
    name = state_name(spool)
    with spool.consumer_lock():
        _remove_stale_staging(spool, lake)
        state = lake.read_state(name)
        state["spool_id"] = spool.spool_id
        if state.get("intent"):
            intent = _Intent.from_dict(state["intent"])
            rows = spool.rows(intent.first, intent.last)
            if len(rows) != intent.rows:
                raise DrainError(f"batch {intent.batch_id} recorded {intent.rows} rows but the spool holds "
                                 f"{len(rows)} in its range; it cannot be redone exactly", input_name=str(spool.path))
            log.warning("collect.redo", batch_id=intent.batch_id, rows=intent.rows)
            _land(spool, lake, intent, rows, state, report, redo=True)
        upto = spool.last_seq()
        while rows := spool.pending(max_rows, upto=upto):
            intent = _Intent.new(spool.spool_id, rows, settings.business_timezone)
            _write_state(lake, name, {**state, "intent": intent.as_dict()})
            _on_step("intent")
            _land(spool, lake, intent, rows, state, report, redo=False)
        now = datetime.now(UTC)
        last_hk = state.get("last_housekeeping_at")
        if last_hk is None or now - datetime.fromisoformat(last_hk) >= HOUSEKEEPING_EVERY:
            report.pruned_seen = spool.prune_seen(now - timedelta(days=dedupe_days or settings.dedupe_days))
            report.purged = spool.purge_landed(now - keep_landed)
            state["last_housekeeping_at"] = now.isoformat()
        state["last_drain_at"] = now.isoformat()
        if build_engine and state.get("build_pending"):
            _build(spool, lake, build_engine, state, report, max_defer)
        _write_state(lake, name, state)
    report.seconds = round(time.perf_counter() - t0, 3)
    if report.landed or report.build_error:
        log.info("collect.drain", batches=len(report.batches), accepted=report.accepted,
                 quarantined=report.quarantined, days=len(report.days), seconds=report.seconds,
                 build_error=report.build_error)
    return report


def _land(spool: Spool, lake: Lake, intent: _Intent, rows: list[SpoolRow], state: dict[str, Any],
          report: DrainReport, *, redo: bool) -> None:
    """Steps 2–4 for one batch whose intent is already recorded."""
    fr = FileReport(path=f"spool:{spool.spool_id}")
    reasons: Counter[str] = Counter()
    with lake.staging("ods", f"collect-{intent.batch_id}") as stage:
        lander = _FileLander(stage, intent.batch_id, "spool", intent.loaded_at, flush_rows=MAX_BATCH_ROWS,
                             timezone=intent.timezone)
        for source, run in groupby(rows, key=lambda r: r.source):
            group = list(run)
            # The size limit was applied at the door, to the event as sent: not again here.
            lander.land(((r.seq, r.body) for r in group if r.reason is None and r.body.strip()), source, fr,
                        reasons, max_bytes=sys.maxsize)
            for r in group:
                if r.reason is not None or not r.body.strip():
                    reason = r.reason or Reason.MALFORMED_JSON.value
                    lander.reject(reason, r.detail or "empty body", r.body, source, r.seq)
                    reasons[reason] += 1
        lander.flush()
        if fr.accepted + sum(reasons.values()) != len(rows):
            raise DrainError(f"batch {intent.batch_id}: {len(rows)} rows but {fr.accepted} accepted and "
                             f"{sum(reasons.values())} quarantined")
        if redo:
            _remove_batch_files(lake, intent)
        _publish(stage, lake, intent.batch_id, intent.load_day)
    _fsync_batch(lake, intent, lander.days)
    _on_step("publish")
    spool.mark_landed(intent.first, intent.last)
    _on_step("mark_landed")
    landed_through = max(r.received_at for r in rows)
    previous = state.get("landed_through")
    if previous is None or datetime.fromisoformat(previous) < landed_through:
        state["landed_through"] = landed_through.isoformat()
    state.update(build_pending=True, last_batch=intent.batch_id, batches=int(state.get("batches", 0)) + 1,
                 landed_seq=max(int(state.get("landed_seq", 0)), intent.last),
                 accepted=int(state.get("accepted", 0)) + fr.accepted,
                 quarantined=int(state.get("quarantined", 0)) + sum(reasons.values()))
    state.pop("intent", None)
    _write_state(lake, state_name(spool), state)
    (report.redone if redo else report.batches).append(intent.batch_id)
    report.accepted += fr.accepted
    report.quarantined += sum(reasons.values())
    report.quarantine_by_reason.update(reasons)
    report.days |= lander.days
    if report.landed_through is None or report.landed_through < landed_through:
        report.landed_through = landed_through


def _build(spool: Spool, lake: Lake, engine: str, state: dict[str, Any], report: DrainReport,
           max_defer: timedelta) -> None:
    """Build what was landed. Events first: when more rows are waiting in the spool and the last whole
    build is younger than ``max_defer``, stop after dwd events (timelines see the new events now) and
    let the next drain land the waiting rows before orders, dws and ads are built."""
    through = state.get("landed_through")
    last_whole = _parse(state.get("last_build_at"))

    def defer() -> bool:
        young = last_whole is not None and datetime.now(UTC) - last_whole < max_defer
        return young and spool.last_seq() > int(state.get("landed_seq", 0))

    try:
        report.build = build(lake, engine, defer=defer if max_defer > timedelta(0) else None)
    except Exception as exc:  # the rows are landed; the next drain builds again
        report.build_error = f"{type(exc).__name__}: {exc}"[:500]
        log.error("collect.build_failed", error=report.build_error)
        return
    state["events_queryable_through"] = through
    if report.build.deferred:
        return  # build_pending stays set: the next drain finishes the build
    report.built_at = datetime.now(UTC)
    state.update(build_pending=False, last_build_at=report.built_at.isoformat(), queryable_through=through)


def _remove_stale_staging(spool: Spool, lake: Lake) -> None:
    """Delete the scratch folders of this spool's loaders that died mid-batch (killed, power cut).

    A batch is written into ``ods/.tmp-collect-<batch_id>-<random>`` first; a loader that dies before
    publishing leaves it behind (hidden, so never read, but it takes space). The caller holds the
    consumer lock, so no living loader of this spool owns one; other spools' folders are left alone.
    """
    for folder in lake.table_dir("ods", "events").parent.glob(f".tmp-collect-spool-{spool.spool_id}-*"):
        log.warning("collect.stale_staging_removed", path=str(folder))
        shutil.rmtree(folder, ignore_errors=True)


def _remove_batch_files(lake: Lake, intent: _Intent) -> None:
    """Delete every file an interrupted attempt at this batch may have published."""
    for f in lake.table_dir("ods", "events").glob(f"dt=*/b-{intent.batch_id}-*.parquet"):
        f.unlink(missing_ok=True)
    (lake.partition_dir("ods", "quarantine", intent.load_day) / f"b-{intent.batch_id}.parquet").unlink(missing_ok=True)


def _fsync_batch(lake: Lake, intent: _Intent, days: set[str]) -> None:
    """Make a published batch survive a power cut before the spool forgets its rows."""
    folders = {lake.partition_dir("ods", "events", d) for d in days}
    folders.add(lake.partition_dir("ods", "quarantine", intent.load_day))
    for folder in folders:
        if not folder.exists():
            continue
        for f in folder.glob(f"b-{intent.batch_id}*.parquet"):
            _fsync(f)
        for d in (folder, folder.parent, folder.parent.parent):  # a new day, a new table: their entries too
            _fsync(d)


def _write_state(lake: Lake, name: str, state: dict[str, Any]) -> None:
    lake.write_state(name, state)
    path = lake.state_path(name)
    _fsync(path)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


@dataclass(frozen=True, slots=True)
class DrainStatus:
    """For a health endpoint and for measuring event-to-queryable delay.

    ``queryable_through``: the latest receive time of an event that the last successful build
    covered — an event received at or before it can be queried in dwd/dws/ads.
    """

    running: bool
    interval_seconds: float
    ticks: int
    failures: int
    last_drain_at: datetime | None
    last_build_at: datetime | None
    landed_through: datetime | None
    queryable_through: datetime | None
    last_error: str | None
    last_error_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: _iso(v) if isinstance(v, datetime) else v for k, v in values.items()}


class DrainLoop:
    """The background loader of ``siyu serve``: drains every ``interval`` seconds, builds, never dies.

    ``start()`` runs it on a daemon thread (first drain at once); ``trigger()`` drains now instead of at
    the next tick;
    ``stop()`` drains a last time and joins. A failing drain is logged and retried at the next tick.
    """

    def __init__(self, spool: Spool, lake: Lake, *, interval: float | None = None,
                 build_engine: str | None = "duckdb", max_rows: int = 200_000, dedupe_days: int | None = None,
                 max_defer: float | None = None) -> None:
        self.spool, self.lake = spool, lake
        self.interval = interval if interval is not None else get_settings().collect_interval_seconds
        self.build_engine, self.max_rows, self.dedupe_days = build_engine, max_rows, dedupe_days
        self.max_defer = timedelta(seconds=get_settings().collect_max_defer_seconds if max_defer is None
                                   else max_defer)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.ticks = self.failures = 0
        self.last_drain_at: datetime | None = None
        self.last_build_at: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.last_report: DrainReport | None = None
        self.landed_through: datetime | None = None
        self.queryable_through: datetime | None = None
        self._refresh()

    def _refresh(self) -> None:
        """Landing and build times from the lake state (another loader process may have moved them)."""
        state = self.lake.read_state(state_name(self.spool))
        self.landed_through = _parse(state.get("landed_through"))
        self.queryable_through = _parse(state.get("queryable_through"))
        self.last_build_at = _parse(state.get("last_build_at"))

    def start(self) -> DrainLoop:
        """Start the thread; its first drain runs at once (a backlog or a batch left by a crash lands now)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="siyu-drain", daemon=True)
            self._wake.set()
            self._thread.start()
        return self

    def trigger(self) -> None:
        """Drain at once rather than at the next tick (returns immediately)."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Drain once more and stop (also when never started)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self.run_once()

    def run_once(self) -> DrainReport | None:
        """One drain (and build); never raises — a failure is logged and kept in ``last_error``."""
        with self._lock:
            self.ticks += 1
            try:
                report = drain(self.spool, self.lake, max_rows=self.max_rows, build_engine=self.build_engine,
                               dedupe_days=self.dedupe_days, max_defer=self.max_defer)
            except Exception as exc:
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                self.last_error_at = datetime.now(UTC)
                log.error("collect.drain_failed", error=self.last_error, failures=self.failures)
                return None
            self.last_report = report
            self.last_drain_at = datetime.now(UTC)
            self._refresh()
            if report.build is not None and report.build.deferred:
                self._wake.set()  # rows are waiting: land them now, not after the interval
            if report.build_error:
                self.failures += 1
                self.last_error, self.last_error_at = report.build_error, self.last_drain_at
            return report

    def status(self) -> DrainStatus:
        return DrainStatus(
            running=self._thread is not None and self._thread.is_alive(), interval_seconds=self.interval,
            ticks=self.ticks, failures=self.failures, last_drain_at=self.last_drain_at,
            last_build_at=self.last_build_at, landed_through=self.landed_through,
            queryable_through=self.queryable_through, last_error=self.last_error, last_error_at=self.last_error_at)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping.is_set():
                break
            self.run_once()
        self.run_once()


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


__all__ = ["MAX_BATCH_ROWS", "DrainError", "DrainLoop", "DrainReport", "DrainStatus", "drain", "state_name"]
