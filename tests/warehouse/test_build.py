"""The layered build on both engines, on a tiny world with answers worked out by hand."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siyu.warehouse.build import build
from siyu.warehouse.engine import Engine
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source
from tests.warehouse.mini import msg, order, small_world, write_lines


@pytest.fixture
def built(tmp_path: Path, engine: Engine) -> Lake:
    write_lines(tmp_path / "src" / "events" / "day.jsonl", small_world())
    lake = Lake(tmp_path / "lake")
    report = import_source(tmp_path / "src", lake)
    assert report.quarantine_by_reason == {"malformed_json": 1, "wrong_type": 1}
    build(lake, engine)
    return lake


def _profiles(lake: Lake) -> dict[str, dict]:  # type: ignore[type-arg]
    rows = pq.read_table(lake.files("ads", "profiles")).to_pylist()
    return {r["user_id"] or r["one_id"]: r for r in rows}


def test_profiles_orders_and_monetary(built: Lake) -> None:
    prof = _profiles(built)
    assert prof["uA"]["orders"] == 2 and prof["uA"]["monetary"] == Decimal("150.50")
    assert prof["uB"]["orders"] == 1 and prof["uB"]["monetary"] == Decimal("20.00")
    assert prof["uA"]["phone_token"] is not None


def test_shared_tablet_does_not_merge_people(built: Lake) -> None:
    id_map = pq.read_table(built.files("ads", "id_map")).to_pylist()
    one = {(r["identifier_type"], r["identifier_value"]): r["one_id"] for r in id_map}
    assert one[("user_id", "uA")] != one[("user_id", "uB")]
    assert one[("device_id", "tablet")] not in {one[("user_id", "uA")], one[("user_id", "uB")]}
    assert one[("anonymous_id", "anonB")] == one[("user_id", "uB")] == one[("openid", "wx_mp:opB")]


def test_every_valid_event_reaches_dwd_exactly_once(built: Lake) -> None:
    dwd = pq.read_table(built.files("dwd", "events"), columns=["message_id", "one_id"])
    ids = dwd["message_id"].to_pylist()
    assert sorted(ids) == sorted({"a1", "a2", "a3", "a4", "b1", "b2", "b3", "c1", "t1", "t2", "t3", "t4"})
    assert None not in dwd["one_id"].to_pylist()


def test_kpi_daily(built: Lake) -> None:
    kpi = {str(r["dt"]): r for r in pq.read_table(built.files("ads", "kpi_daily")).to_pylist()}
    assert kpi["2026-01-02"]["orders"] == 1 and kpi["2026-01-02"]["gmv"] == Decimal("100.00")
    assert kpi["2026-01-05"]["repeat_buyers"] == 1  # uA's second order
    assert sum(r["orders"] for r in kpi.values()) == 3


def test_incremental_new_day_leaves_history_and_rerun_replaces(tmp_path: Path, engine: Engine) -> None:
    lake = Lake(tmp_path / "lake")
    write_lines(tmp_path / "d1" / "events" / "a.jsonl", [msg("x1", 1, user_id="u1"), msg("x2", 2, user_id="u1")])
    import_source(tmp_path / "d1", lake)
    first = build(lake, engine)
    assert first.days_built == ["2026-01-01", "2026-01-02"]
    before = sorted(p.name for p in lake.partition_dir("dwd", "events", "2026-01-01").iterdir())
    write_lines(tmp_path / "d2" / "events" / "b.jsonl", [msg("x3", 3, user_id="u1")])
    import_source(tmp_path / "d2", lake)
    second = build(lake, engine)
    assert second.days_built == ["2026-01-03"]
    assert sorted(p.name for p in lake.partition_dir("dwd", "events", "2026-01-01").iterdir()) == before
    again = build(lake, engine)
    assert again.days_built == []
    full = build(lake, engine, full=True)
    assert full.days_built == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert pq.read_table(lake.files("dwd", "events")).num_rows == 3


def _identity_files(lake: Lake) -> dict[str, int]:
    return {str(p.relative_to(lake.root)): p.stat().st_mtime_ns for p in (lake.root / "identity").rglob("*.parquet")
            if "_raw" not in str(p)}


def test_known_people_on_a_new_day_leave_the_graph_alone(tmp_path: Path, engine: Engine) -> None:
    """The usual micro-batch adds no identifier and no link: the graph and id map are not rewritten, and
    the tables equal a from-scratch build; a new identifier or a new link takes the full pass again."""
    days = [[msg("k1", 1, user_id="u1", anonymous_id="anon1"), msg("k2", 1, user_id="u2")],
            [msg("k3", 2, user_id="u1"), msg("k4", 2, anonymous_id="anon1"), order("k5", 2, "o1", 10.0, user_id="u2")],
            [msg("k6", 3, user_id="u3"), msg("k7", 3, anonymous_id="anon5")],
            [msg("k8", 4, type_="identify", event=None, user_id="u3", anonymous_id="anon5")]]
    lake = Lake(tmp_path / "lake")
    reports = []
    for i, rows in enumerate(days):
        write_lines(tmp_path / f"d{i}" / "events" / "e.jsonl", rows)
        import_source(tmp_path / f"d{i}", lake)
        graph = _identity_files(lake)
        id_map = lake.files("ads", "id_map")
        reports.append(build(lake, engine))
        if i == 1:  # known people only
            assert reports[i].identity.unchanged and _identity_files(lake) == graph
            assert lake.files("ads", "id_map") == id_map
    assert [r.identity.unchanged for r in reports] == [False, True, False, False]
    assert reports[1].identity.identifiers == reports[0].identity.identifiers == 3
    assert reports[2].identity.identifiers == 5
    assert reports[3].identity.new_redirects == 1  # u3 and anon5 turn out to be one person
    whole = Lake(tmp_path / "whole")
    for i in range(len(days)):
        import_source(tmp_path / f"d{i}", whole)
    build(whole, engine)
    for layer, table in (("ads", "profiles"), ("ads", "id_map"), ("dws", "user_daily")):
        assert _rows(lake, layer, table) == _rows(whole, layer, table), table


def _rows(lake: Lake, layer: str, table: str) -> list[tuple]:  # type: ignore[type-arg]
    t = pq.read_table(lake.files(layer, table))
    drop = [c for c in t.column_names if c in ("built_at", "first_seen_at")]
    return sorted(tuple(str(v) for v in r.values()) for r in t.drop_columns(drop).to_pylist())


def test_late_link_merges_profiles_and_keeps_the_oldest_id(tmp_path: Path, engine: Engine) -> None:
    lake = Lake(tmp_path / "lake")
    write_lines(tmp_path / "d1" / "events" / "a.jsonl",
                [msg("y1", 1, user_id="u1"), msg("y2", 2, anonymous_id="anon9")])
    import_source(tmp_path / "d1", lake)
    build(lake, engine)
    old = {r["user_id"] or "anon": r["one_id"] for r in pq.read_table(lake.files("ads", "profiles")).to_pylist()}
    write_lines(tmp_path / "d2" / "events" / "b.jsonl",
                [msg("y3", 3, type_="identify", event=None, user_id="u1", anonymous_id="anon9")])
    import_source(tmp_path / "d2", lake)
    build(lake, engine)
    prof = pq.read_table(lake.files("ads", "profiles")).to_pylist()
    assert [p["one_id"] for p in prof] == [old["u1"]]
    assert prof[0]["active_days"] == 3  # day 2 was stamped with the retired id and is redirected


def test_building_a_few_days_at_a_time_gives_the_same_tables(tmp_path: Path) -> None:
    write_lines(tmp_path / "src" / "events" / "day.jsonl", small_world())
    lakes = []
    for chunk_days in (1, 30):
        lake = Lake(tmp_path / f"lake-{chunk_days}")
        import_source(tmp_path / "src", lake)
        build(lake, "duckdb", chunk_days=chunk_days)
        lakes.append(lake)
    for layer, table in (("dwd", "events"), ("dws", "user_daily"), ("ads", "profiles"), ("ads", "kpi_daily")):
        a, b = (_with_dt(pq.read_table(lk.files(layer, table), partitioning="hive")) for lk in lakes)
        a, b = (t.drop_columns([c for c in ("batch_id",) if c in t.column_names]) for t in (a, b))  # per import
        key = [c for c in ("message_id", "one_id", "dt") if c in a.column_names]
        order = [(k, "ascending") for k in key]
        assert a.sort_by(order).to_pylist() == b.sort_by(order).to_pylist(), (layer, table)


def _with_dt(t: pa.Table) -> pa.Table:
    if "dt" in t.column_names:
        t = t.set_column(t.column_names.index("dt"), "dt", t["dt"].cast(pa.string()))
    return t
