"""Funnels (漏斗) on DuckDB and Spark: a hand-worked example, edge cases, an independent reference
(per-person Python walk of the definition) on random tables and on the demo lake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.core.errors import SiyuError
from siyu.measure.event_sql import Dimension
from siyu.measure.funnels import (
    FunnelSpec,
    funnel,
    funnel_dropouts,
    funnel_people_sql,
    funnel_time_histogram,
    write_funnel_dropouts,
)
from siyu.warehouse.engine import Engine, open_engine
from tests.measure.measure_reference import events_table, funnel_reference, funnel_summary_reference

MARCH = {"start": date(2026, 3, 2), "end": date(2026, 3, 8)}

#: Hand-worked people (see the comments for each one's loose / strict result).
ROWS = [
    # p1: a plain conversion — loose 3, strict 3 (600 s to cart, 1200 s more to pay)
    ("p1", "view", "2026-03-02 10:00"), ("p1", "cart", "2026-03-02 10:10"), ("p1", "pay", "2026-03-02 10:30"),
    # p2: a scroll between view and cart — loose 3; strict stops at 1 (the scroll interrupts)
    ("p2", "view", "2026-03-02 09:00"), ("p2", "scroll", "2026-03-02 09:01"),
    ("p2", "cart", "2026-03-02 09:02"), ("p2", "pay", "2026-03-02 09:05"),
    # p3: three steps at one instant — simultaneous steps convert in both orders, in 0 s
    ("p3", "pay", "2026-03-03 12:00"), ("p3", "cart", "2026-03-03 12:00"), ("p3", "view", "2026-03-03 12:00"),
    # p4: the first view's cart comes after the 1-day window (1 step); the second view gets to cart (2 steps)
    ("p4", "view", "2026-03-02 08:00"), ("p4", "cart", "2026-03-04 08:00"),
    ("p4", "view", "2026-03-05 10:00"), ("p4", "cart", "2026-03-05 11:00"),
    # p5: views only outside the date range (the cart and pay inside it do not make an entry) — not counted
    ("p5", "view", "2026-03-01 23:00"), ("p5", "cart", "2026-03-02 00:10"), ("p5", "pay", "2026-03-02 00:20"),
    ("p5", "view", "2026-03-09 09:00"),
    # p6: a cancel between cart and pay (excluded after step 2) — 2 steps in both orders
    ("p6", "view", "2026-03-04 10:00"), ("p6", "cart", "2026-03-04 10:05"), ("p6", "cancel", "2026-03-04 10:06"),
    ("p6", "pay", "2026-03-04 10:10"),
    # p7: repeated steps — loose: first view → first cart → pay, 3 steps; strict: the second view (the first
    # is followed by a view) → cart at the next instant → the next instant is a cart, not pay: 2 steps
    ("p7", "view", "2026-03-06 10:00", {"channel": "wecom"}), ("p7", "view", "2026-03-06 10:01", {"channel": "mp"}),
    ("p7", "cart", "2026-03-06 10:02"), ("p7", "cart", "2026-03-06 10:03"), ("p7", "pay", "2026-03-06 10:04"),
    # p8: a cancel before the view: exclusions only count between steps
    ("p8", "cancel", "2026-03-07 10:00"), ("p8", "view", "2026-03-07 11:00"),
]


def _spec(**kw: Any) -> FunnelSpec:
    base: dict[str, Any] = {"steps": ["view", "cart", "pay"], "window": timedelta(days=1),
                            "exclusions": [{"event": "cancel", "after_step": 2}], **MARCH}
    return FunnelSpec(**(base | kw))


@pytest.fixture
def hand(engine: Engine) -> Engine:
    engine.register_arrow("events", events_table(ROWS))
    return engine


def _by_step(table: pa.Table) -> dict[int, dict[str, Any]]:
    return {r["step"]: r for r in table.to_pylist()}


def test_loose_funnel_hand_worked(hand: Engine) -> None:
    got = _by_step(funnel(hand, _spec()))
    assert [got[k]["people"] for k in (1, 2, 3)] == [7, 6, 4]  # p1 p2 p3 p4 p6 p7 p8 · p8 stops · p4 p6 stop
    assert got[2]["conversion_from_previous"] == pytest.approx(6 / 7)
    assert got[3]["conversion_from_previous"] == pytest.approx(4 / 6)
    assert got[3]["conversion_from_first"] == pytest.approx(4 / 7)
    # step 2 from step 1: 0 (p3), 120 (p2), 120 (p7), 300 (p6), 600 (p1), 3600 (p4)
    assert got[2]["median_seconds_from_previous"] == pytest.approx(210)   # (120 + 300) / 2
    assert got[2]["p90_seconds_from_previous"] == pytest.approx(2100)     # h = 4.5: 600 + 0.5 × 3000
    # step 3 from step 2: 0, 120 (p7), 180 (p2), 1200 (p1); from step 1: 0, 240, 300, 1800
    assert got[3]["median_seconds_from_previous"] == pytest.approx(150)
    assert got[3]["p90_seconds_from_previous"] == pytest.approx(894)      # h = 2.7: 180 + 0.7 × 1020
    assert got[3]["median_seconds_from_first"] == pytest.approx(270)
    assert got[3]["p90_seconds_from_first"] == pytest.approx(1350)
    assert got[1]["median_seconds_from_previous"] is None


def test_strict_funnel_hand_worked(hand: Engine) -> None:
    got = _by_step(funnel(hand, _spec(order="strict")))
    assert [got[k]["people"] for k in (1, 2, 3)] == [7, 5, 2]  # p2, p8 stop at 1; p4, p6, p7 at 2
    # step 2 from step 1: 0 (p3), 60 (p7, second view), 300 (p6), 600 (p1), 3600 (p4)
    assert got[2]["median_seconds_from_previous"] == pytest.approx(300)
    assert got[2]["p90_seconds_from_previous"] == pytest.approx(2400)
    assert got[3]["median_seconds_from_first"] == pytest.approx(900)     # p1 1800, p3 0
    assert got[3]["p90_seconds_from_first"] == pytest.approx(1620)


def test_dropouts_are_the_people_who_stopped(hand: Engine) -> None:
    assert funnel_dropouts(hand, _spec(), 2)["one_id"].to_pylist() == ["p4", "p6"]
    assert funnel_dropouts(hand, _spec(), 1)["one_id"].to_pylist() == ["p8"]
    assert funnel_dropouts(hand, _spec(order="strict"), 1)["one_id"].to_pylist() == ["p2", "p8"]
    assert funnel_dropouts(hand, _spec(order="strict"), 2)["one_id"].to_pylist() == ["p4", "p6", "p7"]
    with pytest.raises(SiyuError, match=r"step must be 1\.\.2"):
        funnel_dropouts(hand, _spec(), 3)


def test_write_dropouts(hand: Engine, tmp_path: Path) -> None:
    write_funnel_dropouts(hand, _spec(), 2, tmp_path / "out")
    assert sorted(pq.read_table(tmp_path / "out")["one_id"].to_pylist()) == ["p4", "p6"]


def test_breakdown_takes_the_chosen_entry(hand: Engine) -> None:
    loose = {(r["breakdown"], r["step"]): r["people"] for r in funnel(hand, _spec(breakdown="channel")).to_pylist()}
    strict = {(r["breakdown"], r["step"]): r["people"]
              for r in funnel(hand, _spec(breakdown="channel", order="strict")).to_pylist()}
    assert loose[("wecom", 3)] == 1 and ("mp", 1) not in loose      # p7 enters at the first view (wecom)
    assert strict[("mp", 2)] == 1 and ("wecom", 1) not in strict    # strictly, only the second view (mp) goes on
    assert loose[("unknown", 1)] == 6


def test_exclusions_at_a_step_instant_do_not_cut(engine: Engine) -> None:
    engine.register_arrow("events", events_table([
        # q1: the cancel is at the cart's instant, not between cart and pay: 3 steps
        ("q1", "view", "2026-03-02 10:00"), ("q1", "cart", "2026-03-02 10:05"), ("q1", "cancel", "2026-03-02 10:05"),
        ("q1", "pay", "2026-03-02 10:10"),
        # q2: the cancel is at the view's instant: 2 steps; q3: 30 s after the view, before the cart: 1 step
        ("q2", "view", "2026-03-02 10:00"), ("q2", "cancel", "2026-03-02 10:00"), ("q2", "cart", "2026-03-02 10:01"),
        ("q3", "view", "2026-03-02 10:00"), ("q3", "cancel", "2026-03-02 10:00:30"),
        ("q3", "cart", "2026-03-02 10:01")]))
    for order in ("loose", "strict"):
        spec = FunnelSpec(steps=["view", "cart", "pay"], exclusions=[{"event": "cancel"}], order=order, **MARCH)
        assert funnel(engine, spec)["people"].to_pylist() == [3, 2, 1], order


def test_time_histogram(hand: Engine) -> None:
    h = funnel_time_histogram(hand, _spec())
    got = {(r["step"], r["lower_seconds"]): r["people"] for r in h.to_pylist() if r["people"]}
    assert got == {(2, 0): 1, (2, 60): 2, (2, 300): 2, (2, 3600): 1, (3, 0): 1, (3, 60): 2, (3, 300): 1}
    assert h.num_rows == 2 * 9 and h["upper_seconds"].to_pylist()[8] is None
    with pytest.raises(SiyuError, match="ascending"):
        funnel_time_histogram(hand, _spec(), edges=(60, 60))


def test_dimension_breakdown(engine: Engine) -> None:
    engine.register_arrow("events", events_table(ROWS))
    engine.register_arrow("tiers", pa.table({"one_id": ["p1", "p2", "p4"], "tier": ["gold", "gold", "silver"]}))
    got = {(r["breakdown"], r["step"]): r["people"]
           for r in funnel(engine, _spec(dimension=Dimension(view="tiers", column="tier"))).to_pylist()}
    assert got[("gold", 3)] == 2 and got[("silver", 2)] == 1 and got[("silver", 3)] == 0
    assert got[("unknown", 1)] == 4  # p3, p6, p7, p8 have no tier


def test_property_filters_and_repeated_step_names(engine: Engine) -> None:
    rows = [("a", "view", "2026-03-02 10:00", {"sku": "S1", "properties": '{"page": "home", "n": 2}'}),
            ("a", "view", "2026-03-02 10:00", {"sku": "S2"}),
            ("b", "view", "2026-03-02 10:00", {"sku": "S1", "properties": '{"page": "list", "n": 2}'}),
            ("c", "view", "2026-03-02 10:00", {"event_hour": 10})]
    engine.register_arrow("events", events_table(rows))
    twice = funnel(engine, FunnelSpec(steps=["view", "view"], **MARCH))
    assert twice["people"].to_pylist() == [3, 1]  # only a has a second view (at the same instant: no reuse)
    filtered = FunnelSpec(steps=[{"event": "view", "filters": {"properties.n": 2}},
                                 {"event": "view", "filters": {"sku": "S2"}}], **MARCH)
    assert funnel(engine, filtered)["people"].to_pylist() == [2, 1]
    page = FunnelSpec(steps=[{"event": "view", "filters": {"properties.page": "home", "event_hour": 10}}, "view"],
                      **MARCH)
    assert funnel(engine, page)["people"].to_pylist() == [1, 1]


def test_specs_fail_closed() -> None:
    with pytest.raises(ValueError, match="unknown event column"):
        FunnelSpec(steps=["a", "b"], breakdown="channel; DROP TABLE events", **MARCH)
    with pytest.raises(ValueError, match="unknown event column"):
        FunnelSpec(steps=[{"event": "a", "filters": {"properties.x') OR 1=1 --": "y"}}, "b"], **MARCH)
    with pytest.raises(ValueError, match="2 to 20 steps"):
        FunnelSpec(steps=["a"], **MARCH)
    with pytest.raises(ValueError, match="after_step"):
        FunnelSpec(steps=["a", "b"], exclusions=[{"event": "x", "after_step": 2}], **MARCH)
    with pytest.raises(ValueError, match="invalid view name"):
        FunnelSpec(steps=["a", "b"], dimension={"view": "tags; DROP"}, **MARCH)
    with pytest.raises(ValueError, match="not both"):
        FunnelSpec(steps=["a", "b"], breakdown="channel", dimension={"view": "tags"}, **MARCH)


def test_hostile_event_names_are_values(engine: Engine) -> None:
    evil = "view' OR '1'='1"
    engine.register_arrow("events", events_table([("a", evil, "2026-03-02 10:00"), ("b", "view", "2026-03-02 10:00")]))
    assert funnel(engine, FunnelSpec(steps=[evil, "cart"], **MARCH))["people"].to_pylist() == [1, 0]


def _people(eng: Engine, spec: FunnelSpec) -> dict[str, dict[str, Any]]:
    sql, params = funnel_people_sql(spec)
    out = {}
    for r in eng.query(sql, params).to_pylist():
        times = [pd.Timestamp(r[f"t{k}"]).tz_convert("UTC") for k in range(1, r["progress"] + 1)]
        out[r["one_id"]] = {"breakdown": r["breakdown"], "progress": r["progress"], "times": times}
    return out


def _reference_people(table: pa.Table, spec: FunnelSpec) -> dict[str, dict[str, Any]]:
    ref = funnel_reference(table.to_pandas(), spec)
    for rec in ref.values():
        rec["times"] = [pd.Timestamp(t).tz_convert("UTC") for t in rec["times"]]
    return ref


def test_hand_example_matches_the_reference(hand: Engine) -> None:
    for spec in (_spec(), _spec(order="strict"), _spec(breakdown="channel", exclusions=[])):
        assert _people(hand, spec) == _reference_people(events_table(ROWS), spec)


# --- random tables: the SQL against the reference, and the funnel's invariants (DuckDB) -------------------------


@pytest.fixture(scope="module")
def duck() -> Iterator[Engine]:
    eng = open_engine("duckdb")
    yield eng
    eng.close()


_BASE = datetime(2026, 3, 2, 9, 0)
_event_rows = st.lists(st.tuples(
    st.sampled_from(["u1", "u2", "u3"]), st.sampled_from(["a", "b", "c", "x"]), st.integers(0, 40),
    st.sampled_from([None, "w", "m"])), max_size=25)
_specs = st.fixed_dictionaries({
    "steps": st.lists(st.sampled_from(["a", "b", "c"]), min_size=2, max_size=4),
    "window": st.sampled_from([timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1)]),
    "exclusions": st.sampled_from([[], [{"event": "x"}], [{"event": "x", "after_step": 1}]]),
    "breakdown": st.sampled_from([None, "channel"]),
})


def _table(rows: list[tuple[str, str, int, str | None]]) -> pa.Table:
    return events_table([(u, e, (_BASE + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M"), {"channel": c})
                         for u, e, m, c in rows])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_event_rows, spec=_specs)
def test_random_funnels_match_the_reference(duck: Engine, rows: list[Any], spec: dict[str, Any]) -> None:
    table = _table(rows)
    duck.register_arrow("events", table)
    counts = {}
    for order in ("loose", "strict"):
        s = FunnelSpec(**spec, order=order, start=_BASE.date(), end=_BASE.date())
        assert _people(duck, s) == _reference_people(table, s)
        got = funnel(duck, s)
        counts[order] = {(r["breakdown"], r["step"]): r["people"] for r in got.to_pylist()}
        for bd in {b for b, _ in counts[order]}:
            steps = [counts[order][(bd, k)] for k in range(1, len(s.steps) + 1)]
            assert steps == sorted(steps, reverse=True)  # never more people at a later step
    for key, n in counts["strict"].items():
        assert counts["loose"].get(key, 0) >= n  # strict order is harder than loose


# --- the demo lake ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_engine(demo: dict[str, Any]) -> Iterator[Engine]:
    from siyu.profile.views import register_profile_sources

    eng = open_engine("duckdb")
    register_profile_sources(eng, demo["lake"])
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def demo_events(demo: dict[str, Any]) -> pd.DataFrame:
    from tests.measure.measure_reference import lake_events

    return lake_events(demo["lake"])


def test_demo_funnel_matches_the_reference(demo_engine: Engine, demo_events: pd.DataFrame) -> None:
    last = max(demo_events["dt"])
    spec = FunnelSpec(steps=["product_viewed", "cart_added", "order_paid"], start=last - timedelta(days=60),
                      end=last - timedelta(days=7), window=timedelta(days=7), breakdown="channel",
                      exclusions=[{"event": "order_refunded", "after_step": 2}])
    names = {"product_viewed", "cart_added", "order_paid", "order_refunded"}
    ref_people = funnel_reference(demo_events[demo_events["event"].isin(names)], spec)
    assert len(ref_people) > 500
    got = _people(demo_engine, spec)
    assert {k: (v["progress"], v["breakdown"]) for k, v in got.items()} == {
        k: (v["progress"], v["breakdown"]) for k, v in ref_people.items()}
    summary = funnel_summary_reference(ref_people, spec)
    table = funnel(demo_engine, spec).to_pylist()
    assert len(table) == len(summary)
    for r in table:
        ref = summary[(r["breakdown"], r["step"])]
        assert r["people"] == ref["people"]
        for col, key in (("median_seconds_from_previous", "median_prev"), ("p90_seconds_from_first", "p90_first")):
            assert r[col] == (None if ref[key] is None else pytest.approx(ref[key], rel=1e-9, abs=1e-6))
    assert sum(r["people"] for r in table if r["step"] == 3) > 20


def test_demo_strict_funnel_matches_the_reference(demo_engine: Engine, demo_events: pd.DataFrame) -> None:
    last = max(demo_events["dt"])
    spec = FunnelSpec(steps=["cart_added", "order_paid"], start=last - timedelta(days=10), end=last,
                      window=timedelta(hours=6), order="strict")
    buyers = set(demo_events.loc[(demo_events["event"] == "cart_added") & (demo_events["dt"] >= spec.start), "one_id"])
    ref_people = funnel_reference(demo_events[demo_events["one_id"].isin(buyers)], spec)
    got = _people(demo_engine, spec)
    assert {k: v["progress"] for k, v in got.items()} == {k: v["progress"] for k, v in ref_people.items()}
    assert 0 < sum(v["progress"] == 2 for v in got.values()) < len(got)
