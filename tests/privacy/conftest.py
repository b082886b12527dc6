"""Privacy tests that touch the operational store run on SQLite and PostgreSQL; ``small_lake`` is a built
lake (world → import → build → tags) shared read-only — copy it before changing it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from siyu.cli.profile_cmds import default_tag_defs
from siyu.profile.tags.build import build_tags
from siyu.synth import generate_world
from siyu.warehouse.build import build
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source
from tests.store_fixtures import store, store_url

__all__ = ["store", "store_url"]


@pytest.fixture(scope="session")
def small_lake_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("privacy-world")
    generate_world(root / "world", users=800, days=40, seed=5)
    lake = Lake(root / "lake")
    import_source(root / "world", lake)
    build(lake, "duckdb")
    build_tags(lake, default_tag_defs(), "duckdb")
    return root


@pytest.fixture
def small_lake(small_lake_template: Path, tmp_path: Path) -> Lake:
    """A private copy of the built small lake (its synthetic world stays beside the template)."""
    shutil.copytree(small_lake_template / "lake", tmp_path / "lake")
    return Lake(tmp_path / "lake")
