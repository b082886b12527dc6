"""Open the operational store: a SQLAlchemy engine and sessions over SQLite (default) or PostgreSQL.

SQLite runs in WAL mode with ``synchronous=NORMAL``, foreign keys on and a 5 s busy timeout on every
connection, and SQLAlchemy (not the sqlite3 driver) emits ``BEGIN`` so transactions really are
transactions (see SQLAlchemy's "Transactions with SQLite and the sqlite3 driver").
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL, Connection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from siyu.core.config import get_settings

SQLITE_PRAGMAS = ("PRAGMA busy_timeout=5000", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON")
#: Switching a new file to WAL needs an exclusive lock and SQLite answers "database is locked" at once
#: (no busy handler) while another connection opens it, so the switch is retried for this long.
_WAL_SWITCH_SECONDS = 5.0
_BEGIN_OPTION = "siyu_sqlite_begin"


def default_store_url() -> str:
    """``SIYU_STORE_URL``, else ``sqlite:///<SIYU_HOME>/siyu.db`` (``SIYU_HOME`` defaults to ``./.siyu``)."""
    settings = get_settings()
    if settings.store_url:
        return settings.store_url
    return f"sqlite:///{Path(settings.home).expanduser() / 'siyu.db'}"


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or str(url.database).startswith("file::memory:")


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for ``url`` with the store's connection settings (SQLite pragmas, pool pre-ping)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, echo=echo, pool_pre_ping=True)
    kwargs: dict[str, Any] = {}
    if _is_memory(parsed):  # one shared connection, or every connection would see its own empty database
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    elif parsed.database:
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, echo=echo, **kwargs)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        _use_wal(cursor)
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Put the database in WAL mode (persistent: only a new file needs it), retrying a busy switch."""
    deadline = time.monotonic() + _WAL_SWITCH_SECONDS
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() in ("wal", "memory"):
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


def immediate(engine: Engine) -> Engine:
    """``engine`` whose transactions take SQLite's write lock at BEGIN (waiting up to busy_timeout for it)."""
    return engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"}) if engine.dialect.name == "sqlite" else engine


class Store:
    """The operational store: an engine plus sessions. Use :meth:`session` to read, :meth:`writing` to write."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # Read-then-write transactions on SQLite take the write lock up front (BEGIN IMMEDIATE), so a second
        # writer waits on busy_timeout instead of failing with "database is locked" when it upgrades.
        self._writers = sessionmaker(immediate(engine), expire_on_commit=False)

    @property
    def url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction, committed on success and rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """Like :meth:`session`, for transactions that read and then write (serialised on SQLite)."""
        with self._writers.begin() as session:
            yield session

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def insert_ignoring_duplicates(model: Any, dialect: str, key: list[str]) -> Any:
    """An INSERT that skips rows whose ``key`` already exists (idempotent appends: ledger rows, alerts)."""
    from sqlalchemy.dialects import postgresql, sqlite

    from siyu.core.errors import SiyuError

    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=key)
    if dialect == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing(index_elements=key)
    raise SiyuError(f"the operational store supports SQLite and PostgreSQL, not {dialect}",
                    code="unsupported_database")


def open_store(url: str | None = None, *, migrate: bool = True, echo: bool = False) -> Store:
    """Open the store at ``url`` (default :func:`default_store_url`), upgrading its schema to the latest
    migration first unless ``migrate=False`` — so a fresh machine just works.

    >>> store = open_store("sqlite://")  # in memory
    """
    engine = make_engine(url or default_store_url(), echo=echo)
    if migrate:
        from siyu.store.migrate import upgrade_engine

        upgrade_engine(engine)
    return Store(engine)
