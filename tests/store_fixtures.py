"""Store fixtures shared by the store and privacy tests: SQLite and a real PostgreSQL server (marked ``postgres``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siyu.store import Store, open_store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database: a new SQLite file, or a new database on the session's PostgreSQL server."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_database"))
    return f"sqlite:///{tmp_path / 'store' / 'siyu.db'}"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An upgraded, empty store."""
    with open_store(store_url) as opened:
        yield opened
