"""Privacy tests that touch the operational store run on SQLite and PostgreSQL."""

from tests.store_fixtures import store, store_url

__all__ = ["store", "store_url"]
