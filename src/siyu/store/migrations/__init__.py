"""Alembic migrations of the operational store (run through :mod:`siyu.store.migrate`)."""
