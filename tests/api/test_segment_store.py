"""The segment store: sizes, members and explanations read from it equal the lake's; the service
switches to each new store, falls back to the lake (under its lock) before the first, and the keeper
rebuilds the look-up snapshot and the store in order, retrying only what failed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from siyu.core.errors import SiyuError
from siyu.profile.segments import SegmentDefinition, open_profile, people_data, segment_size
from siyu.serving import segments as serving_segments
from siyu.serving.keeper import ServedFile, SnapshotKeeper, fingerprint_file
from siyu.serving.segment_store import build_segment_store, open_segment_store
from siyu.serving.segments import SegmentService
from siyu.serving.snapshot import build_snapshot, current_file, serving_dir
from siyu.warehouse.engine.duckdb_engine import DuckDBEngine
from siyu.warehouse.lake import Lake

RULES = [
    'count(product_viewed where category = "精华", last 30d) >= 1',
    "did(cart_added, last 7d) and not sequence(cart_added, order_paid, within 24h, last 7d)",
    'lifecycle in ("silent", "churned") and count(order_paid, last 60d) >= 1',
    "order_sum(last 60d) >= 300 or order_avg(last 30d) >= 150",
    'has_tag("high_value") or tier in ("gold", "diamond")',
    "count(article_read where read_seconds >= 60, between 2026-01-01 and 2026-12-31) >= 2",
    'in_segment("buyers") and not did(message_clicked, last 14d)',
]
SEGMENTS = {"buyers": SegmentDefinition(name="buyers", name_zh="购买者", owner="t", rule="order_count(last 60d) >= 1")}


def test_store_answers_exactly_as_the_lake(api_lake: Lake) -> None:
    lake_ctx = open_profile(api_lake, DuckDBEngine(), segments=SEGMENTS)
    store = current_file(api_lake, "segments")
    assert store is not None
    store_ctx = open_segment_store(store, api_lake, SEGMENTS)
    assert store_ctx.as_of == lake_ctx.as_of
    sizes = []
    for text in RULES:
        a, b = lake_ctx.rule(text), store_ctx.rule(text)
        sql_a, pa_ = lake_ctx.members_sql(a)
        sql_b, pb = store_ctx.members_sql(b)
        members_lake = set(lake_ctx.engine.query(sql_a, pa_)["one_id"].to_pylist())
        members_store = set(store_ctx.engine.query(sql_b, pb)["one_id"].to_pylist())
        assert members_store == members_lake, text
        assert segment_size(store_ctx, b) == len(members_lake)
        sizes.append(len(members_lake))
    assert sum(1 for n in sizes if n > 0) >= 5, sizes  # the rules select someone, so equality means something
    person = sorted(members_lake | {"nobody"})[0]
    assert people_data(store_ctx, [person]) == people_data(lake_ctx, [person])


def test_service_reads_the_lake_until_a_store_then_switches(api_lake: Lake) -> None:
    for f in serving_dir(api_lake).glob("*segments*"):
        f.unlink()
    svc = SegmentService(api_lake)
    rule = svc.check({}, RULES[2])
    from_lake = svc.size({}, rule)
    assert svc.source is not None and svc.source.startswith("lake:")
    first = build_segment_store(api_lake)
    assert svc.size({}, rule) == from_lake and svc.source == f"store:{first.name}"
    second = build_segment_store(api_lake)
    svc.refresh()
    assert svc.size({}, rule) == from_lake and svc.source == f"store:{second.name}"
    build_segment_store(api_lake)
    assert not first.exists(), "only the newest two stores are kept"
    svc.close()


def test_without_a_store_a_running_build_makes_requests_wait_then_503(api_lake: Lake,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for f in serving_dir(api_lake).glob("*segments*"):
        f.unlink()
    monkeypatch.setattr(serving_segments, "LAKE_WAIT_SECONDS", 0.3)
    svc = SegmentService(api_lake)
    rule = svc.check({}, RULES[0])
    held, release = threading.Event(), threading.Event()

    def build_in_progress() -> None:
        with api_lake.lock():
            held.set()
            release.wait(30)

    t = threading.Thread(target=build_in_progress)
    t.start()
    held.wait(10)
    try:
        with pytest.raises(SiyuError) as err:
            svc.size({}, rule)
        assert err.value.code == "not_ready"
    finally:
        release.set()
        t.join()
    assert svc.size({}, rule)[1] > 0
    svc.close()


def test_keeper_builds_in_order_and_retries_only_what_failed(api_lake: Lake) -> None:
    calls: list[str] = []
    fail = {"segments": True}

    def snapshot(lake: Lake) -> Path:
        calls.append("snapshot")
        return build_snapshot(lake)

    def segments(lake: Lake) -> Path:
        calls.append("segments")
        if fail["segments"]:
            raise OSError("disk full")
        return build_segment_store(lake)

    told: list[str] = []
    keeper = SnapshotKeeper(api_lake, [ServedFile("snapshot", snapshot, lambda: told.append("snapshot")),
                                       ServedFile("segments", segments, lambda: told.append("segments"))],
                            min_interval_seconds=0, idle_factor=0)
    for kind in ("snapshot", "segments"):
        fingerprint_file(api_lake, kind).unlink(missing_ok=True)
    keeper.files[0].seen = keeper.files[1].seen = None
    assert keeper.tick(force=True)
    assert calls == ["snapshot", "segments"] and told == ["snapshot"]
    assert keeper.files[1].last_error is not None and "disk full" in keeper.files[1].last_error
    fail["segments"] = False
    assert keeper.tick()
    assert calls == ["snapshot", "segments", "segments"] and told == ["snapshot", "segments"]
    assert not keeper.tick(), "nothing changed in the lake: nothing to rebuild"
    assert fingerprint_file(api_lake, "segments").read_text() == fingerprint_file(api_lake, "snapshot").read_text()


def test_keeper_rests_twice_as_long_as_it_worked(api_lake: Lake) -> None:
    def slow_snapshot(lake: Lake) -> Path:
        time.sleep(0.5)
        return build_snapshot(lake)

    keeper = SnapshotKeeper(api_lake, [ServedFile("snapshot", slow_snapshot, lambda: None)], min_interval_seconds=0)
    keeper.files[0].seen = None
    assert keeper.tick()
    keeper.files[0].seen = None  # as if the lake changed again at once
    assert keeper.resting_seconds > 0.5 and not keeper.tick(), "rebuilt again without resting"
    assert keeper.tick(force=True), "a forced tick does not wait"
