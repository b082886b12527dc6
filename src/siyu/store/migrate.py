"""Schema migrations (Alembic) shipped inside the package: upgrade a store and ask its revision.

No ``alembic.ini`` is needed: the script location is this package's ``migrations`` folder, and the
connection is handed to ``migrations/env.py`` directly (so passwords never pass through config files).
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from siyu.store.db import default_store_url, immediate, make_engine

#: Any constant: the PostgreSQL advisory lock that serialises concurrent upgrades of one database.
_PG_LOCK = 0x5179_7553


def migrations_path() -> str:
    """The folder holding ``env.py`` and ``versions/`` inside the installed package."""
    return str(resources.files("siyu.store") / "migrations")


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations (for ``command.*`` calls)."""
    cfg = Config()
    cfg.set_main_option("script_location", migrations_path())
    return cfg


def head_revision() -> str:
    """The newest migration this version of siyu ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations packaged"
    return head


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Run ``alembic upgrade`` on ``engine`` in one transaction; safe when several processes start at once."""
    cfg = alembic_config()
    try:
        with immediate(engine).begin() as conn:  # concurrent upgrades queue up: PostgreSQL lock below
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except Exception:
        # Belt and braces: if another process finished the same upgrade first, there is nothing left to do.
        if revision != "head" or _current(engine) != head_revision():
            raise


def upgrade(url: str | None = None, revision: str = "head") -> str | None:
    """``alembic upgrade head`` on the store at ``url`` (default: the configured store); returns its revision."""
    engine = make_engine(url or default_store_url())
    try:
        upgrade_engine(engine, revision)
        return _current(engine)
    finally:
        engine.dispose()


def current_revision(url: str | None = None) -> str | None:
    """The store's schema revision, or None when it has never been migrated."""
    engine = make_engine(url or default_store_url())
    try:
        return _current(engine)
    finally:
        engine.dispose()


def _current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
