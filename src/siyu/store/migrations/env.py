"""Alembic environment: migrate the connection :mod:`siyu.store.migrate` passes in ``config.attributes``.

For developers running the ``alembic`` command by hand, ``sqlalchemy.url`` (or ``SIYU_STORE_URL``) is used.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from siyu.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    from siyu.store.db import default_store_url

    url = config.get_main_option("sqlalchemy.url") or default_store_url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from siyu.store.db import default_store_url, make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or default_store_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
