"""Migrations: a fresh upgrade, an idempotent second one, concurrent ones, and a schema equal to the models."""

from __future__ import annotations

import threading
from importlib import resources
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from siyu.store import current_revision, head_revision, open_store, upgrade
from siyu.store.db import make_engine
from siyu.store.models import Base


def test_migrations_ship_inside_the_package() -> None:
    folder = resources.files("siyu.store") / "migrations"
    assert (folder / "env.py").is_file() and (folder / "script.py.mako").is_file()
    assert (folder / "versions" / "0001_initial.py").is_file()
    assert head_revision() == "0004"


def test_fresh_upgrade_then_idempotent(store_url: str) -> None:
    assert current_revision(store_url) is None
    assert upgrade(store_url) == head_revision()
    assert current_revision(store_url) == head_revision()
    assert upgrade(store_url) == head_revision()  # nothing to do the second time
    with open_store(store_url) as store:  # open_store upgrades too: also a no-op now
        assert set(inspect(store.engine).get_table_names()) >= {"api_keys", "segments", "segment_versions"}


def test_open_store_without_migrate_leaves_an_empty_database_alone(store_url: str) -> None:
    with open_store(store_url, migrate=False):
        pass
    assert current_revision(store_url) is None


def test_concurrent_upgrades_of_one_fresh_database_all_succeed(store_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(store_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and current_revision(store_url) == head_revision()


def test_migrated_schema_equals_the_models(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        upgrade(store_url)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        engine.dispose()


def _schema(engine: Engine) -> dict[str, Any]:
    """What compare_metadata does not look at too: check constraints, unique constraints, indexes, defaults."""
    insp = inspect(engine)
    return {table: {
        "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
        "pk": insp.get_pk_constraint(table),
        "unique": sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)),
        "indexes": sorted((i["name"], tuple(i["column_names"]), i["unique"]) for i in insp.get_indexes(table)),
        "checks": sorted((c["name"], c["sqltext"]) for c in insp.get_check_constraints(table)),
    } for table in sorted(Base.metadata.tables)}


def test_migrated_schema_matches_create_all_in_every_detail(store_url: str, request: pytest.FixtureRequest,
                                                            tmp_path: Any) -> None:
    if store_url.startswith("postgresql"):
        from tests.pg_server import fresh_database

        other_url, drop = fresh_database(request.getfixturevalue("postgres_server"))
        request.addfinalizer(drop)
    else:
        other_url = f"sqlite:///{tmp_path / 'create_all.db'}"
    migrated, created = make_engine(store_url), make_engine(other_url)
    try:
        upgrade(store_url)
        Base.metadata.create_all(created)
        assert _schema(migrated) == _schema(created)
    finally:
        migrated.dispose()
        created.dispose()
