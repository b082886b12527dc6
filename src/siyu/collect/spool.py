"""The collector's spool (暂存): where an acknowledged event waits, durable, until the loader lands it.

One SQLite file (WAL, ``synchronous=FULL``). :meth:`Spool.append` returns only after its
transaction has committed and the WAL has been fsynced, so an event the HTTP collector has
acknowledged survives a crash of the process or of the machine.

Tables::

    spool(seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id, body BLOB, source, received_at,
          reason NULL, detail NULL, landed 0|1)      -- every stored item, accepted or rejected
    seen(message_id PRIMARY KEY, received_at)        -- messageIds of accepted items, for dedupe
    counters(name, value), meta(key, value)          -- totals for stats(); this spool's id

**Idempotency.** An accepted item is stored only if ``INSERT OR IGNORE INTO seen`` inserted its
messageId, in the same transaction as its ``spool`` row, so a retried request is stored once
however the two copies race. A rejected item (``reason`` set) is always stored: it is quarantined
by the loader, never dropped. ``seen`` rows older than ``dedupe_days`` (setting, default 7) are
pruned by the loader: **a retry arriving later than that is not deduplicated here** (DWD still
keeps one copy per messageId among the days it builds together, see ``siyu.warehouse.layers.dwd``).

**Group commit.** An fsync costs milliseconds; one per HTTP request would cap the collector at a few
hundred requests per second. Callers therefore hand their items to one writer thread and wait; the
writer takes everything queued, writes it in one transaction, commits (one fsync) and wakes every
caller. Under load many requests share an fsync; alone, a request waits for nothing but its own
commit. If a shared transaction fails, each request is retried alone so one bad request cannot fail
the others.

**Order.** ``seq`` is AUTOINCREMENT (never reused) and SQLite has one writer at a time, so a row
that a reader cannot see yet always gets a ``seq`` above every row it can see: a range of ``seq``
read once is closed for ever. The loader relies on this (``siyu.collect.drain``).

Several processes may share a spool file (SQLite locks; ``busy_timeout``); within a process use one
:class:`Spool` so that group commit can share fsyncs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from siyu.core.config import Settings, get_settings
from siyu.core.errors import SiyuError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT,
    body BLOB NOT NULL,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    reason TEXT,
    detail TEXT,
    landed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS spool_pending ON spool(seq) WHERE landed = 0;
CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY, received_at TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_received_at ON seen(received_at);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO counters VALUES ('accepted', 0), ('duplicates', 0), ('quarantined', 0), ('landed', 0);
"""
_COLUMNS = "seq, message_id, body, source, received_at, reason, detail"
_LAST_SEQ = "SELECT seq FROM sqlite_sequence WHERE name = 'spool'"
#: Fixed-width UTC text, so that comparing strings compares times.
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class SpoolError(SiyuError):
    code = "spool_error"


class SpoolClosed(SpoolError):
    code = "spool_closed"


@dataclass(frozen=True, slots=True)
class SpoolItem:
    """One item to store. ``reason`` None: accepted (``message_id`` required, deduplicated);
    otherwise rejected with that reason code and ``detail``, stored for quarantine."""

    body: bytes
    source: str
    received_at: datetime
    message_id: str | None = None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class SpoolRow:
    """One stored item as the loader reads it back."""

    seq: int
    message_id: str | None
    body: bytes
    source: str
    received_at: datetime
    reason: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """For a health endpoint: what waits, since when, and the totals since the spool was created."""

    pending: int
    oldest_pending_received_at: datetime | None
    oldest_pending_age_seconds: float | None
    accepted: int
    duplicates: int
    quarantined: int
    landed: int
    last_seq: int

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.oldest_pending_received_at is not None:
            out["oldest_pending_received_at"] = self.oldest_pending_received_at.isoformat()
        return out


@dataclass(eq=False)
class _Request:
    items: list[SpoolItem]
    done: threading.Event = field(default_factory=threading.Event)
    results: list[bool] | None = None
    error: BaseException | None = None


_STOP = object()


def default_spool_path(settings: Settings | None = None) -> Path:
    """``SIYU_SPOOL_PATH``, else ``spool.db`` in ``SIYU_HOME``."""
    s = settings or get_settings()
    return Path(s.spool_path) if s.spool_path else Path(s.home) / "spool.db"


def _ts(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return dt.astimezone(UTC).strftime(_TS_FORMAT)


def _parse_ts(text: str) -> datetime:
    return datetime.strptime(text, _TS_FORMAT).replace(tzinfo=UTC)


class Spool:
    """A durable, deduplicating queue of collected items in one SQLite file.

    Example::

        spool = Spool(home / "spool.db")
        spool.append([SpoolItem(body, "web", now, message_id="m1")])   # [True]: stored, durable
        spool.append([SpoolItem(body, "web", now, message_id="m1")])   # [False]: a duplicate

    ``group_commit=False`` commits each :meth:`append` on the calling thread (one fsync per call):
    simpler, and slower under concurrency. Thread-safe either way.
    """

    def __init__(self, path: str | Path, *, group_commit: bool = True, max_group_items: int = 20_000,
                 busy_timeout_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.group_commit = group_commit
        self.max_group_items = max_group_items
        self._busy_timeout = busy_timeout_seconds
        self._wlock = threading.Lock()  # the write connection: writer thread and maintenance calls
        self._rlock = threading.Lock()  # the read connection (WAL: reads do not wait for writes)
        self._state_lock = threading.Lock()
        self._closed = False
        created = not self.path.exists()
        self._wconn = self._connect()
        with self._wlock:  # one transaction, so two processes creating the file at once agree on the id
            self._wconn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            self._wconn.execute("BEGIN IMMEDIATE")
            self._wconn.execute("INSERT OR IGNORE INTO meta VALUES ('spool_id', ?)", (uuid.uuid4().hex[:8],))
            self._wconn.execute("COMMIT")
        if created:
            fsync_dir(self.path.parent)
        self.spool_id: str = self._wconn.execute("SELECT value FROM meta WHERE key = 'spool_id'").fetchone()[0]
        self._rconn = self._connect()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        if group_commit:
            self._writer = threading.Thread(target=self._run_writer, name=f"siyu-spool-{self.spool_id}",
                                            daemon=True)
            self._writer.start()

    # --- connections --------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # WAL + FULL: the WAL is fsynced at every commit
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        return conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT on the write connection (caller holds ``_wlock``)."""
        conn = self._wconn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # --- appending ----------------------------------------------------------------------------
    def append(self, items: Sequence[SpoolItem]) -> list[bool]:
        """Store ``items``; per item True if stored, False if a duplicate of an accepted messageId.

        Durable when it returns: the transaction holding the items has committed and been fsynced.
        Blocks while the writer commits; raises :class:`SpoolError` if the write failed (then
        nothing of this call was stored).
        """
        batch = list(items)
        for it in batch:
            _check_item(it)
        if not batch:
            return []
        if not self.group_commit:
            with self._state_lock:
                if self._closed:
                    raise SpoolClosed("the spool is closed", input_name=str(self.path))
            with self._wlock:
                return self._commit([batch])[0]
        req = _Request(batch)
        with self._state_lock:
            if self._closed:
                raise SpoolClosed("the spool is closed", input_name=str(self.path))
            self._queue.put(req)
        req.done.wait()
        if req.error is not None:
            raise SpoolError(f"could not store {len(batch)} item(s): {req.error}",
                             input_name=str(self.path)) from req.error
        assert req.results is not None
        return req.results

    def _run_writer(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            group: list[_Request] = [first]
            n = len(first.items)
            while n < self.max_group_items:  # everything that queued while the last commit ran
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                group.append(nxt)
                n += len(nxt.items)
            self._write_group(group)

    def _write_group(self, group: list[_Request]) -> None:
        try:
            with self._wlock:
                results = self._commit([r.items for r in group])
            for req, res in zip(group, results, strict=True):
                req.results = res
        except BaseException as exc:  # the writer must never die: callers get the error
            if len(group) == 1:
                group[0].error = exc
            else:
                for req in group:  # one failing request must not fail the others
                    self._write_group([req])
                return
        for req in group:
            req.done.set()

    def _commit(self, batches: list[list[SpoolItem]]) -> list[list[bool]]:
        """Write ``batches`` in one transaction (caller holds ``_wlock``)."""
        out: list[list[bool]] = []
        accepted = duplicates = quarantined = 0
        with self._transaction() as conn:
            rows: list[tuple[Any, ...]] = []
            stamps: dict[datetime, str] = {}  # the items of a request share one receive time
            for batch in batches:
                res: list[bool] = []
                for it in batch:
                    ts = stamps.get(it.received_at) or stamps.setdefault(it.received_at, _ts(it.received_at))
                    if it.reason is None:
                        cur = conn.execute("INSERT OR IGNORE INTO seen (message_id, received_at) VALUES (?, ?)",
                                           (it.message_id, ts))
                        if cur.rowcount == 0:
                            res.append(False)
                            duplicates += 1
                            continue
                        accepted += 1
                    else:
                        quarantined += 1
                    rows.append((it.message_id, it.body, it.source, ts, it.reason, it.detail))
                    res.append(True)
                out.append(res)
            conn.executemany("INSERT INTO spool (message_id, body, source, received_at, reason, detail) "
                             "VALUES (?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("UPDATE counters SET value = value + ? WHERE name = ?",
                             [(accepted, "accepted"), (duplicates, "duplicates"), (quarantined, "quarantined")])
        return out

    # --- the loader's side --------------------------------------------------------------------
    def pending(self, limit: int, *, upto: int | None = None) -> list[SpoolRow]:
        """The oldest ``limit`` rows not landed yet (with ``seq <= upto`` when given), by ``seq``."""
        sql = f"SELECT {_COLUMNS} FROM spool WHERE landed = 0"
        params: list[Any] = []
        if upto is not None:
            sql += " AND seq <= ?"
            params.append(upto)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        return self._read_rows(sql, params)

    def rows(self, first: int, last: int) -> list[SpoolRow]:
        """Every row with ``first <= seq <= last``, landed or not (to redo a batch exactly)."""
        return self._read_rows(f"SELECT {_COLUMNS} FROM spool WHERE seq BETWEEN ? AND ? ORDER BY seq",
                               [first, last])

    def _read_rows(self, sql: str, params: list[Any]) -> list[SpoolRow]:
        with self._rlock:
            fetched = self._rconn.execute(sql, params).fetchall()
        return [SpoolRow(seq, mid, bytes(body), source, _parse_ts(ts), reason, detail)
                for seq, mid, body, source, ts, reason, detail in fetched]

    def last_seq(self) -> int:
        """The highest ``seq`` ever given (0 when none), purged rows included."""
        with self._rlock:
            return self._last_seq()

    def _last_seq(self) -> int:
        row = self._rconn.execute(_LAST_SEQ).fetchone()
        return int(row[0] if row else 0)

    def mark_landed(self, first: int, last: int) -> int:
        """Mark rows ``first..last`` landed (durably); returns how many were not marked before."""
        with self._wlock, self._transaction() as conn:
            n = conn.execute("UPDATE spool SET landed = 1 WHERE seq BETWEEN ? AND ? AND landed = 0",
                             (first, last)).rowcount
            conn.execute("UPDATE counters SET value = value + ? WHERE name = 'landed'", (n,))
        return int(n)

    def purge_landed(self, older_than: datetime) -> int:
        """Delete landed rows received before ``older_than``, oldest first.

        Stops at the first row that is pending or younger, so the cost is that of the rows deleted,
        not of the table. Only the loader should call this (a batch being redone needs its rows).
        """
        cutoff = _ts(older_than)
        with self._wlock, self._transaction() as conn:
            row = conn.execute("SELECT seq FROM spool WHERE landed = 0 OR received_at >= ? ORDER BY seq LIMIT 1",
                               (cutoff,)).fetchone()
            if row is None:
                n = conn.execute("DELETE FROM spool").rowcount
            else:
                n = conn.execute("DELETE FROM spool WHERE seq < ?", (row[0],)).rowcount
        return int(n)

    def prune_seen(self, older_than: datetime) -> int:
        """Forget accepted messageIds received before ``older_than`` (the end of the dedupe window)."""
        with self._wlock, self._transaction() as conn:
            n = conn.execute("DELETE FROM seen WHERE received_at < ?", (_ts(older_than),)).rowcount
        return int(n)

    def stats(self) -> SpoolStats:
        with self._rlock:
            c = self._rconn
            pending = c.execute("SELECT count(*) FROM spool WHERE landed = 0").fetchone()[0]
            oldest = c.execute("SELECT received_at FROM spool WHERE landed = 0 ORDER BY seq LIMIT 1").fetchone()
            counters = dict(c.execute("SELECT name, value FROM counters").fetchall())
            last = self._last_seq()
        oldest_at = _parse_ts(oldest[0]) if oldest else None
        age = (datetime.now(UTC) - oldest_at).total_seconds() if oldest_at else None
        return SpoolStats(pending=int(pending), oldest_pending_received_at=oldest_at,
                          oldest_pending_age_seconds=age, accepted=int(counters.get("accepted", 0)),
                          duplicates=int(counters.get("duplicates", 0)),
                          quarantined=int(counters.get("quarantined", 0)), landed=int(counters.get("landed", 0)),
                          last_seq=last)

    @contextlib.contextmanager
    def consumer_lock(self) -> Iterator[None]:
        """Exclusive (across threads and processes) right to drain this spool: one loader at a time."""
        lock_path = self.path.with_name(self.path.name + ".drain-lock")
        with lock_path.open("a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    # --- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Finish every queued append, stop the writer and close the connections (idempotent)."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            if self._writer is not None:
                self._queue.put(_STOP)
        if self._writer is not None:
            self._writer.join()
        with self._wlock:
            self._wconn.close()
        with self._rlock:
            self._rconn.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_item(it: SpoolItem) -> None:
    """Refuse malformed items before they reach the shared transaction."""
    if not isinstance(it, SpoolItem):
        raise TypeError(f"expected SpoolItem, got {type(it).__name__}")
    if not isinstance(it.body, bytes | bytearray | memoryview) or not isinstance(it.source, str):
        raise TypeError("SpoolItem.body must be bytes and source a string")
    if not isinstance(it.received_at, datetime) or it.received_at.tzinfo is None:
        raise TypeError("SpoolItem.received_at must be a timezone-aware datetime")
    if it.reason is None and (not isinstance(it.message_id, str) or not it.message_id):
        raise ValueError("an accepted SpoolItem needs a non-empty message_id")


def fsync_dir(folder: Path) -> None:
    """Make a rename or create in ``folder`` durable (fsync the directory itself)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["Spool", "SpoolClosed", "SpoolError", "SpoolItem", "SpoolRow", "SpoolStats", "default_spool_path"]
