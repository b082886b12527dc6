"""A small built lake (world → import → build → tags → serving snapshot) and a running service per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from siyu.cli.profile_cmds import default_tag_defs
from siyu.profile.tags.build import build_tags
from siyu.serving.segment_store import build_segment_store
from siyu.serving.snapshot import build_snapshot
from siyu.synth import generate_world
from siyu.warehouse.build import build
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source
from tests.api.service import RunningService, run_service


@pytest.fixture(scope="session")
def api_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 people × 60 days, fully built with the example tags, a look-up snapshot and a segment store
    (built once)."""
    root = tmp_path_factory.mktemp("api-world")
    generate_world(root / "world", users=1500, days=60, seed=11)
    lake = Lake(root / "lake")
    import_source(root / "world", lake)
    build(lake, "duckdb")
    build_tags(lake, default_tag_defs(), "duckdb")
    build_snapshot(lake)
    build_segment_store(lake)
    return root


@pytest.fixture
def api_lake(api_template: Path, tmp_path: Path) -> Lake:
    """A private copy of the built lake (services write to their lake)."""
    shutil.copytree(api_template / "lake", tmp_path / "lake")
    return Lake(tmp_path / "lake")


@pytest.fixture
def service(api_lake: Lake, tmp_path: Path) -> Iterator[RunningService]:
    with run_service(api_lake.root, tmp_path / "svc") as svc:
        yield svc
