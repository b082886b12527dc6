"""Folding new days into the identity graph gives the same profiles as resolving everything at once."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from siyu.synth import generate_world
from siyu.warehouse.build import build
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source


def _split_world(world: Path, first: Path, second: Path, cut: str) -> None:
    """Events before ``cut`` (by timestamp) and all entities go to ``first``; later events to ``second``."""
    shutil.copytree(world / "entities", first / "entities")
    for src in sorted((world / "events").iterdir()):
        opener = gzip.open if src.name.endswith(".gz") else open
        outs = {d: (d / "events" / src.name.replace(".gz", "")) for d in (first, second)}
        for path in outs.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        with opener(src, "rb") as f, outs[first].open("wb") as a, outs[second].open("wb") as b:
            for line in f:
                try:
                    ts = orjson.loads(line).get("timestamp") or ""
                except orjson.JSONDecodeError:
                    ts = ""
                (a if str(ts) < cut else b).write(line)


def _groups(lake: Lake) -> dict[str, str]:
    t = pq.read_table(lake.files("ads", "id_map"))
    return {f"{k}:{v}": o for k, v, o in zip(t["identifier_type"].to_pylist(), t["identifier_value"].to_pylist(),
                                             t["one_id"].to_pylist(), strict=True)}


def test_incremental_equals_full(tmp_path: Path) -> None:
    world = tmp_path / "world"
    generate_world(world, users=1500, days=40, seed=21)
    whole = Lake(tmp_path / "whole")
    import_source(world, whole)
    build(whole)

    _split_world(world, tmp_path / "first", tmp_path / "second", "2026-01-21")
    stepwise = Lake(tmp_path / "stepwise")
    import_source(tmp_path / "first", stepwise)
    build(stepwise)
    before = _groups(stepwise)
    import_source(tmp_path / "second", stepwise)
    second = build(stepwise)
    assert second.identity is not None
    after = _groups(stepwise)
    # the same identifiers grouped the same way as resolving everything at once…
    full = _groups(whole)
    assert set(after) == set(full)
    assert _partition(after) == _partition(full)
    # …and every profile of the first build kept its id, or was merged into another old profile
    red = pq.read_table(stepwise.files("identity", "redirects")).to_pylist()
    redirect = {r["from_one_id"]: r["to_one_id"] for r in red}
    old_ids = set(before.values())
    for key, old in before.items():
        assert after[key] == old or (redirect.get(old) == after[key] and after[key] in old_ids), key
    assert sum(1 for k, o in before.items() if after[k] == o) >= 0.9 * len(before)
    assert pq.read_table(stepwise.files("ads", "kpi_daily")).sort_by("dt").equals(
        pq.read_table(whole.files("ads", "kpi_daily")).sort_by("dt"))


def _partition(groups: dict[str, str]) -> set[frozenset[str]]:
    by: dict[str, set[str]] = {}
    for k, o in groups.items():
        by.setdefault(o, set()).add(k)
    return {frozenset(v) for v in by.values()}
