"""The loader: spool → ods exactly once across crashes at every step, quarantine, and the build."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import siyu.collect.drain as drain_mod
from siyu.cli.main import app
from siyu.collect.collector import Collector
from siyu.collect.drain import DrainError, DrainLoop, drain, state_name
from siyu.collect.spool import Spool
from siyu.warehouse.build import build
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source
from tests.warehouse.mini import msg, small_world, write_lines

NOW = datetime(2026, 1, 7, 4, 0, tzinfo=UTC)
STEPS = ["intent", "publish", "mark_landed"]


def ev(mid: str, day: int, **ids: Any) -> dict[str, Any]:
    """A track message as an SDK sends it: no receivedAt (the server stamps it), no sentAt."""
    m = msg(mid, day, **ids)
    del m["sentAt"], m["receivedAt"]
    return m


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool.db") as sp:
        yield sp


def fill(spool: Spool) -> tuple[set[str], int]:
    """25 accepted events over 3 days and 2 sources, 5 duplicates, 4 rejected items."""
    c = Collector(spool)
    web = [ev(f"w{i}", 1 + i % 3, user_id=f"u{i % 4}") for i in range(15)]
    res = c.collect(web + web[:5] + [[1], {"type": "nope", "messageId": "x", "userId": "u"}], source="web",
                    received_at=NOW)
    assert (res.accepted, res.duplicates, len(res.rejected)) == (15, 5, 2)
    mini = [ev(f"p{i}", 2 + i % 2, anonymous_id=f"a{i}") for i in range(10)]
    res = c.collect([*mini, "junk", ev("noid", 2, user_id="u1") | {"timestamp": "soon"}], source="mini",
                    received_at=NOW)
    assert (res.accepted, len(res.rejected)) == (10, 2)
    return {f"w{i}" for i in range(15)} | {f"p{i}" for i in range(10)}, 4


def assert_exactly_once(lake: Lake, accepted: set[str], rejected: int) -> None:
    ids = Counter(pq.read_table(lake.files("ods", "events"), columns=["message_id"])["message_id"].to_pylist())
    assert set(ids) == accepted and set(ids.values()) == {1}
    quarantine = pq.read_table(lake.files("ods", "quarantine")).to_pylist()
    assert len(quarantine) == rejected and len({q["line_no"] for q in quarantine}) == rejected


def test_drain_lands_accepted_in_ods_and_rejected_in_quarantine(tmp_path: Path, spool: Spool) -> None:
    accepted, rejected = fill(spool)
    lake = Lake(tmp_path / "lake")
    spooled = {r.seq: r.reason for r in spool.pending(100)}
    report = drain(spool, lake, max_rows=10, build_engine=None)
    assert (report.accepted, report.quarantined) == (25, 4)
    assert report.batches == [f"spool-{spool.spool_id}-{a}-{b}" for a, b in ((1, 10), (11, 20), (21, 29))]
    assert report.quarantine_by_reason == {"not_an_object": 2, "unknown_type": 1, "invalid_timestamp": 1}
    assert report.days == {"2026-01-01", "2026-01-02", "2026-01-03"}
    assert_exactly_once(lake, accepted, rejected)
    ods = {r["message_id"]: r for r in pq.read_table(lake.files("ods", "events")).to_pylist()}
    assert ods["w0"]["source"] == "web" and ods["p0"]["source"] == "mini"
    assert ods["w0"]["received_at"] == NOW and ods["w0"]["batch_id"].startswith("spool-")
    assert ods["w1"]["event_time"] == datetime(2026, 1, 2, 10, tzinfo=UTC)  # the client's time (no sentAt)
    quarantine = pq.read_table(lake.files("ods", "quarantine")).to_pylist()
    by_payload = {r["payload"]: r for r in quarantine}
    assert by_payload['"junk"']["reason"] == "not_an_object" and by_payload['"junk"']["source"] == "mini"
    assert by_payload["[1]"]["source"] == "web"
    unknown = next(r for r in quarantine if r["reason"] == "unknown_type")
    assert unknown["source"] == "web" and unknown["detail"] == "type='nope'" and unknown["event"] is None
    bad_ts = next(r for r in quarantine if r["reason"] == "invalid_timestamp")
    assert bad_ts["event"] == "page_viewed" and '"receivedAt":"2026-01-07T04:00:00Z"' in bad_ts["payload"]
    for row in quarantine:
        assert row["payload_sha256"] == hashlib.sha256(row["payload"].encode()).hexdigest()
        assert spooled[row["line_no"]] == row["reason"]  # line_no is the spool's seq
    stats = spool.stats()
    assert stats.pending == 0 and stats.landed == 29
    assert spool.rows(1, 29) == []  # landed a day ago by their receive time: purged
    again = drain(spool, lake, build_engine=None)
    assert again.landed == 0 and again.batches == []
    state = lake.read_state(state_name(spool))
    assert "intent" not in state and state["accepted"] == 25 and state["quarantined"] == 4


class Crash(Exception):
    pass


def crash_at(step: str) -> Any:
    def hook(at: str) -> None:
        if at == step:
            raise Crash(at)
    return hook


@pytest.mark.parametrize("step", STEPS)
def test_exactly_once_after_an_exception_at_each_step(tmp_path: Path, spool: Spool, step: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    accepted, rejected = fill(spool)
    lake = Lake(tmp_path / "lake")
    monkeypatch.setattr(drain_mod, "_on_step", crash_at(step))
    with pytest.raises(Crash):
        drain(spool, lake, max_rows=7, build_engine=None)
    assert lake.read_state(state_name(spool))["intent"]["first"] == 1
    monkeypatch.setattr(drain_mod, "_on_step", drain_mod._no_hook)
    report = drain(spool, lake, max_rows=7, build_engine=None)
    assert report.redone == [f"spool-{spool.spool_id}-1-7"]
    assert_exactly_once(lake, accepted, rejected)
    assert spool.stats().pending == 0


CHILD = """
import os, sys
import siyu.collect.drain as d
from siyu.collect.spool import Spool
from siyu.warehouse.lake import Lake
step = sys.argv[3]
d._on_step = lambda at: os._exit(86) if at == step else None
d.drain(Spool(sys.argv[1]), Lake(sys.argv[2]), max_rows=int(sys.argv[4]), build_engine=None)
"""


@pytest.mark.parametrize("step", STEPS)
def test_exactly_once_after_the_process_dies_at_each_step(tmp_path: Path, spool: Spool, step: str) -> None:
    """A real crash (os._exit in a child process: no cleanup, no finally blocks) at each step."""
    accepted, rejected = fill(spool)
    lake = Lake(tmp_path / "lake")
    # The first batch lands whole, the second dies at ``step``.
    proc = subprocess.run([sys.executable, "-c", CHILD, str(spool.path), str(lake.root), "_none_", "6"],
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    more = Collector(spool).collect([ev(f"z{i}", 4, user_id="z") for i in range(9)], source="web", received_at=NOW)
    assert more.accepted == 9
    proc = subprocess.run([sys.executable, "-c", CHILD, str(spool.path), str(lake.root), step, "6"],
                          capture_output=True)
    assert proc.returncode == 86, proc.stderr.decode()[-2000:]
    report = drain(spool, lake, max_rows=6, build_engine=None)
    assert len(report.redone) == 1
    assert_exactly_once(lake, accepted | {f"z{i}" for i in range(9)}, rejected)
    assert spool.stats().pending == 0


def test_redo_replaces_a_partial_publish_and_stray_copies(tmp_path: Path, spool: Spool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the dying attempt had moved only some files, or had split a day into more files."""
    accepted, rejected = fill(spool)
    lake = Lake(tmp_path / "lake")
    monkeypatch.setattr(drain_mod, "_on_step", crash_at("publish"))
    with pytest.raises(Crash):
        drain(spool, lake, max_rows=40, build_engine=None)
    batch = lake.read_state(state_name(spool))["intent"]["batch_id"]
    files = sorted(lake.table_dir("ods", "events").glob(f"dt=*/b-{batch}-*.parquet"))
    assert len(files) == 3
    files[0].unlink()
    files[1].rename(files[1].with_name(f"b-{batch}-1.parquet"))
    monkeypatch.setattr(drain_mod, "_on_step", drain_mod._no_hook)
    assert drain(spool, lake, build_engine=None).redone == [batch]
    assert_exactly_once(lake, accepted, rejected)


def test_a_batch_that_cannot_be_redone_exactly_is_refused(tmp_path: Path, spool: Spool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fill(spool)
    lake = Lake(tmp_path / "lake")
    monkeypatch.setattr(drain_mod, "_on_step", crash_at("intent"))
    with pytest.raises(Crash):
        drain(spool, lake, max_rows=5, build_engine=None)
    with sqlite3.connect(spool.path) as conn:
        conn.execute("DELETE FROM spool WHERE seq = 3")
    monkeypatch.setattr(drain_mod, "_on_step", drain_mod._no_hook)
    with pytest.raises(DrainError, match="cannot be redone exactly"):
        drain(spool, lake, build_engine=None)


@pytest.fixture
def built_lake(tmp_path: Path) -> Lake:
    write_lines(tmp_path / "src" / "events" / "day.jsonl", small_world())
    lake = Lake(tmp_path / "lake")
    import_source(tmp_path / "src", lake)
    build(lake, "duckdb")
    return lake


def test_drain_and_incremental_build_make_new_events_queryable_for_the_right_person(
        built_lake: Lake, spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    id_map = {(r["identifier_type"], r["identifier_value"]): r["one_id"]
              for r in pq.read_table(built_lake.files("ads", "id_map")).to_pylist()}
    res = Collector(spool).collect([ev("n1", 6, user_id="uA"), ev("n2", 6, user_id="uB"),
                                    ev("n3", 6, anonymous_id="someone-new"), ev("a1", 1, anonymous_id="anonA")],
                                   source="web", received_at=datetime(2026, 1, 6, 12, tzinfo=UTC))
    assert res.accepted == 4  # a1 is a copy of an imported event: the spool cannot know, DWD dedupes it

    real_build = drain_mod.build
    monkeypatch.setattr(drain_mod, "build", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("engine down")))
    failed = drain(spool, built_lake)
    assert failed.accepted == 4 and failed.build is None and failed.build_error == "RuntimeError: engine down"
    assert built_lake.read_state(state_name(spool))["build_pending"] is True
    monkeypatch.setattr(drain_mod, "build", real_build)

    report = drain(spool, built_lake)  # nothing new to land, but the failed build is owed
    assert report.landed == 0 and report.build is not None
    assert report.build.days_built == ["2026-01-01", "2026-01-06"]
    dwd = pq.read_table(built_lake.files("dwd", "events"), columns=["message_id", "one_id"]).to_pylist()
    one = {r["message_id"]: r["one_id"] for r in dwd}
    assert one["n1"] == id_map[("user_id", "uA")] and one["n2"] == id_map[("user_id", "uB")]
    assert one["n3"] is not None and one["n3"] not in id_map.values()
    assert Counter(r["message_id"] for r in dwd)["a1"] == 1
    state = built_lake.read_state(state_name(spool))
    assert state["build_pending"] is False and state["queryable_through"] == "2026-01-06T12:00:00+00:00"
    assert drain(spool, built_lake).build is None  # nothing landed, nothing owed: no build


def test_drain_loop_survives_failures_and_drains_on_stop(tmp_path: Path, spool: Spool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(tmp_path / "lake")
    loop = DrainLoop(spool, lake, interval=3600, build_engine=None)
    calls = {"n": 0}
    real = drain_mod.drain

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("lake unreachable")
        return real(*args, **kwargs)

    monkeypatch.setattr(drain_mod, "drain", flaky)
    loop.start()  # drains at once, and that first drain fails
    _wait(lambda: loop.status().failures == 1)
    status = loop.status()
    assert status.running and status.last_error == "OSError: lake unreachable" and status.last_drain_at is None
    Collector(spool).collect([ev("l1", 1, user_id="u1")], source="web", received_at=NOW)
    loop.trigger()
    _wait(lambda: loop.status().last_drain_at is not None)
    assert loop.status().landed_through == NOW
    Collector(spool).collect([ev("l2", 1, user_id="u1")], source="web", received_at=NOW)
    loop.stop()  # the hour-long interval has not passed: stop() itself drains l2
    assert not loop.status().running
    ids = pq.read_table(lake.files("ods", "events"), columns=["message_id"])["message_id"].to_pylist()
    assert sorted(ids) == ["l1", "l2"]
    assert loop.status().as_dict()["landed_through"] == NOW.isoformat()


def test_cli_drain_and_stats(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as sp:
        fill(sp)
    runner = CliRunner()
    stats = runner.invoke(app, ["collect", "stats", "--spool", str(tmp_path / "spool.db"), "--json"])
    assert stats.exit_code == 0, stats.output
    assert '"pending": 29' in stats.output
    res = runner.invoke(app, ["collect", "drain", "--spool", str(tmp_path / "spool.db"), "--lake",
                              str(tmp_path / "lake"), "--no-build", "--json"])
    assert res.exit_code == 0, res.output
    assert '"accepted": 25' in res.output and '"quarantined": 4' in res.output
    missing = runner.invoke(app, ["collect", "drain", "--spool", str(tmp_path / "nope.db"), "--lake",
                                  str(tmp_path / "lake")])
    assert missing.exit_code == 2 and "not_found" in missing.output


def _wait(cond: Any, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_events_first_while_more_keep_arriving(tmp_path: Path, spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    """With rows waiting, the loader stops after dwd events (timelines are current), lands the rest,
    then builds whole; the result equals a from-scratch build."""
    lake = Lake(tmp_path / "lake")
    c = Collector(spool)
    c.collect([ev(f"e{i}", 1 + i % 2, user_id=f"u{i % 3}") for i in range(12)], source="web", received_at=NOW)
    assert drain(spool, lake).build is not None  # first build: whole
    profiles_before = lake.files("ads", "profiles")
    c.collect([ev(f"f{i}", 3, user_id=f"u{i % 3}") for i in range(6)], source="web", received_at=NOW)
    arrived: list[str] = []

    def one_more_arrives(step: str) -> None:  # an event comes in while the loader works
        if step == "mark_landed" and not arrived:
            arrived.append("late")
            c.collect([ev("late", 3, user_id="u1")], source="web", received_at=NOW)

    monkeypatch.setattr(drain_mod, "_on_step", one_more_arrives)
    first = drain(spool, lake, max_defer=timedelta(minutes=5))
    monkeypatch.setattr(drain_mod, "_on_step", drain_mod._no_hook)
    assert first.build is not None and first.build.deferred and first.built_at is None
    dwd = set(pq.read_table(lake.files("dwd", "events"), columns=["message_id"])["message_id"].to_pylist())
    assert {f"f{i}" for i in range(6)} <= dwd and "late" not in dwd
    assert lake.files("ads", "profiles") == profiles_before, "ads waits for the whole build"
    state = lake.read_state(state_name(spool))
    assert state["build_pending"] is True and state["events_queryable_through"]

    second = drain(spool, lake, max_defer=timedelta(minutes=5))  # nothing waits now: build whole
    assert second.build is not None and not second.build.deferred and second.accepted == 1
    assert lake.read_state(state_name(spool))["build_pending"] is False
    whole = Lake(tmp_path / "whole")
    shutil.copytree(lake.root / "ods", whole.root / "ods")
    build(whole, "duckdb")
    for layer, table in (("dwd", "events"), ("dws", "user_daily"), ("ads", "profiles")):
        ours = pq.read_table(lake.files(layer, table)).drop_columns(["dt"] if layer != "ads" else [])
        theirs = pq.read_table(whole.files(layer, table)).drop_columns(["dt"] if layer != "ads" else [])
        key = ours.column_names[:3]
        assert ours.sort_by([(k, "ascending") for k in key]).to_pylist() == \
            theirs.sort_by([(k, "ascending") for k in key]).to_pylist(), table
