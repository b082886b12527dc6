"""Retention deletes exactly the day partitions past their table's limit, once, and the lake still builds."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.privacy.retention import RetentionPolicy, expired_partitions, run_retention
from siyu.warehouse.build import build
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source
from tests.warehouse.mini import msg, write_lines

TODAY = date(2029, 6, 30)


def _checksums(lake: Lake) -> dict[str, str]:
    return {str(p.relative_to(lake.root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in lake.root.rglob("*.parquet")}


def _lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    for layer, table in (("ods", "events"), ("ods", "quarantine"), ("dwd", "events"), ("dws", "user_daily")):
        for age in (10, 364, 1094, 1095, 1096, 2000):
            day = TODAY - timedelta(days=age)
            lake.write_file(layer, table, "part-0.parquet", pa.table({"x": [age]}), dt=day.isoformat())
    lake.write_file("ads", "profiles", "part-0.parquet", pa.table({"x": [1]}))  # not day-partitioned: kept
    return lake


def test_deletes_what_is_past_the_limit_and_nothing_else(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    before = _checksums(lake)
    report = run_retention(lake, RetentionPolicy(default_days=1095, tables={"ods/quarantine": 365}), today=TODAY)
    cutoff = TODAY - timedelta(days=1095)
    assert report.deleted["ods/events"] == [(TODAY - timedelta(days=a)).isoformat() for a in (2000, 1096)]
    assert report.deleted["ods/quarantine"] == [(TODAY - timedelta(days=a)).isoformat()
                                                for a in (2000, 1096, 1095, 1094)]
    for layer, table in (("ods", "events"), ("dwd", "events"), ("dws", "user_daily")):
        assert all(d >= cutoff.isoformat() for d in lake.partitions(layer, table))
    after = _checksums(lake)
    assert set(after) < set(before) and all(before[k] == v for k, v in after.items()), "the rest is untouched"
    assert "ads/profiles/part-0.parquet" in after
    again = run_retention(lake, RetentionPolicy(default_days=1095, tables={"ods/quarantine": 365}), today=TODAY)
    assert again.partitions == 0 and _checksums(lake) == after


def test_a_dry_run_deletes_nothing(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    before = _checksums(lake)
    report = run_retention(lake, RetentionPolicy(default_days=365), today=TODAY, dry_run=True)
    assert report.partitions == 4 * 4 and _checksums(lake) == before
    assert report.deleted == expired_partitions(lake, RetentionPolicy(default_days=365), TODAY)


@pytest.mark.parametrize("tables", [{"nowhere/events": 10}, {"ods": 10}, {"ods/events": 0}, {"ods/a/b": 5}])
def test_bad_policies_are_refused(tables: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        RetentionPolicy(default_days=365, tables=tables)


def test_the_lake_builds_after_retention_and_forgets_the_old_days(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    write_lines(tmp_path / "src" / "events" / "e.jsonl",
                [msg("r1", 1, user_id="old"), msg("r2", 20, user_id="new"), msg("r3", 21, user_id="new")])
    import_source(tmp_path / "src", lake)
    build(lake)
    report = run_retention(lake, RetentionPolicy(default_days=30), today=date(2026, 2, 15))
    assert report.deleted["ods/events"] == ["2026-01-01"] and "2026-01-01" in report.deleted["dwd/events"]
    build(lake)
    events = pq.read_table(lake.files("dwd", "events")).to_pylist()
    assert sorted(e["message_id"] for e in events) == ["r2", "r3"]
    profiles = {p["user_id"]: p for p in pq.read_table(lake.files("ads", "profiles")).to_pylist()}
    assert profiles["new"]["active_days"] == 2


def test_the_command_is_audited(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()
    dry = runner.invoke(app, ["privacy", "retention", "--lake", str(lake.root), "--days", "30", "--dry-run",
                              "--json", "--store", store])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["partitions"] > 0
    bad = runner.invoke(app, ["privacy", "retention", "--lake", str(lake.root), "--table", "nowhere/x=3"])
    assert bad.exit_code == 2 and "bad retention policy" in bad.stderr
    done = runner.invoke(app, ["privacy", "retention", "--lake", str(lake.root), "--days", "30", "--json",
                               "--store", store])
    assert done.exit_code == 0, done.output
    entries = json.loads(runner.invoke(app, ["privacy", "audit", "list", "--action", "retention_run", "--json",
                                             "--store", store]).stdout)
    assert len(entries) == 1 and entries[0]["details"]["partitions"] == json.loads(done.stdout)["partitions"]
