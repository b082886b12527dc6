"""Opening the store: SQLite pragmas (WAL) on every connection, real transactions, aware UTC times, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, select, text

from siyu.core.config import get_settings
from siyu.store import Store, create_key, default_store_url, open_store
from siyu.store.db import make_engine
from siyu.store.models import ApiKey


def test_sqlite_runs_in_wal_mode_with_the_pragmas_on_every_connection(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'deep' / 'er' / 'siyu.db'}") as store:
        assert (tmp_path / "deep" / "er" / "siyu.db").exists()  # parent folders created
        conns = [store.engine.connect() for _ in range(3)]  # several pooled connections, each set up
        try:
            for conn in conns:
                pragmas = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                           for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
                assert pragmas == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 5000}
        finally:
            for conn in conns:
                conn.close()


def test_sqlite_write_transactions_begin_immediate_and_reads_begin_deferred(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        seen: list[str] = []
        event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        with store.writing() as session:
            session.execute(text("SELECT 1"))
        with store.session() as session:
            session.execute(text("SELECT 1"))
        assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE", "BEGIN"]


def test_a_failed_session_rolls_back(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        session.add(ApiKey(key_id="0123456789ab", name="n", kind="user", role="admin", secret_hash="0" * 64,
                           created_at=datetime.now(UTC), description=""))
        session.flush()
        raise RuntimeError("boom")
    with store.session() as session:
        assert session.scalars(select(ApiKey)).all() == []


def test_times_come_back_timezone_aware_utc(store: Store) -> None:
    before = datetime.now(UTC)
    info, _ = create_key(store, kind="user", name="n", role="admin")
    with store.session() as session:
        row = session.scalars(select(ApiKey)).one()
        assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=5) <= row.created_at <= datetime.now(UTC)
        # any zone in, the same instant out, in UTC
        row.revoked_at = datetime(2026, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    with store.session() as session:
        assert session.scalars(select(ApiKey)).one().revoked_at == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert info.created_at.tzinfo is not None


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"), store.session() as session:
        session.add(ApiKey(key_id="0123456789ab", name="n", kind="user", role="admin", secret_hash="0" * 64,
                           created_at=datetime.now(), description=""))


def test_default_url_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SIYU_STORE_URL", raising=False)
    monkeypatch.setenv("SIYU_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        assert default_store_url() == f"sqlite:///{tmp_path / 'home' / 'siyu.db'}"
        with open_store() as store:
            assert store.dialect == "sqlite"
        assert (tmp_path / "home" / "siyu.db").exists()
        monkeypatch.setenv("SIYU_STORE_URL", "postgresql+psycopg://siyu@db.example/siyu")
        get_settings.cache_clear()
        assert default_store_url() == "postgresql+psycopg://siyu@db.example/siyu"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_the_url_shown_hides_the_password() -> None:
    store = Store(make_engine("postgresql+psycopg://siyu:s3cret@db.example:5432/siyu"))
    assert "s3cret" not in store.url and "db.example" in store.url


def test_an_in_memory_store_keeps_its_data_across_sessions() -> None:
    with open_store("sqlite://") as store:
        create_key(store, kind="write", name="mp", source="miniprogram")
        with store.session() as session:
            assert len(session.scalars(select(ApiKey)).all()) == 1
