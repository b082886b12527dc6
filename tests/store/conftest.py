"""Every store test runs on SQLite and on a real PostgreSQL server (marked ``postgres``)."""

from tests.store_fixtures import store, store_url

__all__ = ["store", "store_url"]
