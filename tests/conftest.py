"""Shared fixtures: the engine parametrisation (DuckDB and Spark) and small lakes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from siyu.synth import generate_world
from siyu.warehouse.build import build
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source

ENGINES = ["duckdb", "spark"]


def _spark_required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("SIYU_REQUIRE_SPARK") == "1"


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Engine]:
    try:
        eng = open_engine("spark")
    except Exception as exc:  # a missing Java must fail CI, and only skip on a laptop without it
        if _spark_required():
            pytest.fail(f"Spark is required in CI but could not start: {exc}")
        pytest.skip(f"Spark unavailable here: {exc}")
    yield eng


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over every engine; Spark tests are marked ``spark``."""
    if request.param == "spark":
        request.getfixturevalue("spark_engine")
    return str(request.param)


@pytest.fixture
def engine(engine_name: str, request: pytest.FixtureRequest) -> Engine:
    if engine_name == "spark":
        return request.getfixturevalue("spark_engine")  # type: ignore[no-any-return]
    return open_engine("duckdb")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("engine_name") == "spark":
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo world (20,000 people × 180 days) imported and built on DuckDB, shared by every test."""
    root = tmp_path_factory.mktemp("demo")
    generate_world(root / "world", users=20_000, days=180, seed=7)
    lake = Lake(root / "lake")
    report = import_source(root / "world", lake)
    built = build(lake, "duckdb")
    planted = json.loads((root / "world" / "truth" / "defects.json").read_text())
    return {"root": root, "lake": lake, "import": report, "build": built, "planted": planted}


# --- PostgreSQL (operational store and API tests) -------------------------------------------------------------


def _postgres_required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("SIYU_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of database ``siyu_test`` on a private PostgreSQL server started for this session (tests/pg_server.py).

    Fails under CI (``CI=true``) when PostgreSQL cannot be found or started; skips elsewhere.
    """
    from tests.pg_server import start_postgres

    try:
        url, stop = start_postgres(tmp_path_factory.mktemp("postgres"))
    except Exception as exc:  # PostgresUnavailable, or anything unexpected (no 'postgres' user, …)
        if _postgres_required():
            pytest.fail(f"PostgreSQL is required in CI but is unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable here: {exc}")
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def pg_database(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards); its SQLAlchemy URL."""
    from tests.pg_server import fresh_database

    url, drop = fresh_database(postgres_server)
    try:
        yield url
    finally:
        drop()
