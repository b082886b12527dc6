"""The activity heatmap (活跃热力图) and the best push time on DuckDB and Spark: a hand-worked example,
segments, and an independent reference on random tables and on the demo lake (re-deriving the cell
from ``event_time`` in the business time zone)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.measure.heatmap import HeatmapSpec, activity_heatmap, best_time_hint, send_time_click_rates
from siyu.warehouse.engine import Engine, open_engine
from tests.measure.measure_reference import click_rates_reference, events_table, heatmap_reference, lake_events


def _send(one_id: str, event: str, when: str, send_id: str) -> tuple[Any, ...]:
    return (one_id, event, when, {"properties": json.dumps({"send_id": send_id})})


ROWS = [
    # Monday 2026-03-02, 20:xx: four events by three people
    ("u1", "read", "2026-03-02 20:00"), ("u1", "view", "2026-03-02 20:30"), ("u2", "read", "2026-03-02 20:59"),
    ("u4", "read", "2026-03-02 20:10"),
    # 23:30 in Shanghai is 15:30 UTC: still Monday 23:00 in the business time zone
    ("u3", "read", "2026-03-02 23:30"),
    # Sunday 00:30 in Shanghai is Saturday in UTC: Sunday (7) 00:00
    ("u3", "read", "2026-03-08 00:30"),
    # brand-side events are not activity
    ("u2", "coupon_issued", "2026-03-02 20:00"), ("u2", "points_changed", "2026-03-02 20:00"),
    # Wednesday 20:00: four deliveries, two clicked (u1, and u2 the next morning) → 50 %
    *[_send(u, "message_delivered", "2026-03-04 20:00", f"w-{u}") for u in ("u1", "u2", "u3", "u4")],
    _send("u1", "message_clicked", "2026-03-04 20:05", "w-u1"),
    _send("u2", "message_clicked", "2026-03-05 08:00", "w-u2"),
    _send("u3", "message_clicked", "2026-03-04 20:06", "m-u3"),
    # Monday 09:00: four deliveries, one clicked (u3's click above is of m-u3) → 25 %; one without send_id is ignored
    *[_send(u, "message_delivered", "2026-03-02 09:00", f"m-{u}") for u in ("u1", "u2", "u3", "u4")],
    ("u1", "message_delivered", "2026-03-02 09:00"),
]


@pytest.fixture
def hand(engine: Engine) -> Engine:
    engine.register_arrow("events", events_table(ROWS))
    return engine


def _cells(table: pa.Table) -> dict[tuple[int, int], tuple[int, int]]:
    return {(r["weekday"], r["hour"]): (r["events"], r["people"]) for r in table.to_pylist() if r["events"]}


def test_heatmap_hand_worked(hand: Engine) -> None:
    table = activity_heatmap(hand)
    assert table.num_rows == 168
    assert _cells(table) == {(1, 20): (4, 3), (1, 23): (1, 1), (7, 0): (1, 1), (3, 20): (2, 2), (4, 8): (1, 1)}
    row = next(r for r in table.to_pylist() if (r["weekday"], r["hour"]) == (1, 20))
    assert row["event_share"] == pytest.approx(4 / 9) and row["people_share"] == pytest.approx(3 / 4)


def test_heatmap_for_a_segment_and_a_date_range(hand: Engine) -> None:
    hand.register_arrow("vip", pa.table({"one_id": ["u3"]}))
    assert _cells(activity_heatmap(hand, HeatmapSpec(segment="vip"))) == {
        (1, 23): (1, 1), (7, 0): (1, 1), (3, 20): (1, 1)}
    assert _cells(activity_heatmap(hand, HeatmapSpec(start=date(2026, 3, 3), end=date(2026, 3, 7)))) == {
        (3, 20): (2, 2), (4, 8): (1, 1)}


def test_click_rates_and_best_time(hand: Engine) -> None:
    rates = {(r["weekday"], r["hour"]): (r["deliveries"], r["clicked"])
             for r in send_time_click_rates(hand).to_pylist() if r["deliveries"]}
    assert rates == {(3, 20): (4, 2), (1, 9): (4, 1)}
    best = best_time_hint(hand, min_deliveries=4)
    assert best is not None
    assert (best.weekday, best.hour, best.basis, best.rate, best.support) == (3, 20, "click_rate", 0.5, 4)
    assert best.hint_zh == "建议在周三20:00推送互动类内容"
    assert best.hint_en == "Push interactive content on Wednesday at 20:00"
    # too few deliveries everywhere: fall back to the cell where most people are active
    fallback = best_time_hint(hand, min_deliveries=5)
    assert fallback is not None
    assert (fallback.weekday, fallback.hour, fallback.basis, fallback.support) == (1, 20, "activity_share", 3)
    assert fallback.rate == pytest.approx(3 / 4) and fallback.hint_en == "Push interactive content on Monday at 20:00"


def test_best_time_without_data(engine: Engine) -> None:
    engine.register_arrow("events", events_table([]))
    assert best_time_hint(engine) is None
    assert activity_heatmap(engine)["event_share"].null_count == 168


def test_specs_fail_closed() -> None:
    with pytest.raises(ValueError, match="invalid view name"):
        HeatmapSpec(segment="vip; DROP TABLE events")
    with pytest.raises(ValueError, match="end is before start"):
        HeatmapSpec(start=date(2026, 3, 2), end=date(2026, 3, 1))


# --- random tables against the reference (DuckDB) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def duck() -> Iterator[Engine]:
    eng = open_engine("duckdb")
    yield eng
    eng.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]),
                               st.sampled_from(["read", "message_delivered", "message_clicked", "coupon_issued"]),
                               st.integers(0, 60 * 24 * 14), st.sampled_from(["s1", "s2"])), max_size=40))
def test_random_heatmaps_match_the_reference(duck: Engine, rows: list[Any]) -> None:
    base = datetime(2026, 3, 1)
    table = events_table([(u, e, (base + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M"),
                           {"properties": json.dumps({"send_id": s})}) for u, e, m, s in rows])
    duck.register_arrow("events", table)
    df = table.to_pandas()
    assert _cells(activity_heatmap(duck)) == heatmap_reference(df, from_time=True)
    rates = {(r["weekday"], r["hour"]): (r["deliveries"], r["clicked"])
             for r in send_time_click_rates(duck).to_pylist() if r["deliveries"]}
    assert rates == click_rates_reference(df)


# --- the demo lake ----------------------------------------------------------------------------------------------


def test_demo_heatmap_matches_the_reference(demo: dict[str, Any]) -> None:
    from siyu.profile.views import register_profile_sources

    eng = open_engine("duckdb")
    register_profile_sources(eng, demo["lake"])
    events = lake_events(demo["lake"])
    # the warehouse's dt / event_hour agree with event_time in the business time zone
    assert _cells(activity_heatmap(eng)) == heatmap_reference(events, from_time=True)
    buyers = events.loc[events["event"] == "order_paid", "one_id"].drop_duplicates().head(3000)
    eng.register_arrow("buyers", pa.table({"one_id": buyers.tolist()}))
    assert _cells(activity_heatmap(eng, HeatmapSpec(segment="buyers"))) == heatmap_reference(events, set(buyers))
    rates = {(r["weekday"], r["hour"]): (r["deliveries"], r["clicked"])
             for r in send_time_click_rates(eng).to_pylist() if r["deliveries"]}
    assert rates == click_rates_reference(events)
    best = best_time_hint(eng)
    assert best is not None and best.basis == "click_rate"
    qualified = {c: v for c, v in rates.items() if v[0] >= 30}
    assert best.rate == pytest.approx(max(v[1] / v[0] for v in qualified.values()))
    eng.close()
