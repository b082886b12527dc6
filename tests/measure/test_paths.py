"""Paths (路径) before conversion, before going silent and after an entry, and the key drop-off node
(关键流失节点), on DuckDB and Spark: hand-worked examples and an independent reference."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.measure.paths import (
    ChurnPathSpec,
    ConversionPathSpec,
    ForwardPathSpec,
    PathReport,
    churn_paths,
    conversion_paths,
    forward_paths,
    key_dropoff_node,
)
from siyu.warehouse.engine import Engine, open_engine
from tests.measure.measure_reference import (
    churn_paths_reference,
    conversion_paths_reference,
    events_table,
    forward_paths_reference,
    lake_events,
)

CONVERSIONS = [
    # u1: repeats collapse and the brand-side delivery is not a step: read > view > cart
    ("u1", "read", "2026-03-02 10:00"), ("u1", "read", "2026-03-02 10:05"), ("u1", "view", "2026-03-02 10:10"),
    ("u1", "message_delivered", "2026-03-02 10:12"), ("u1", "cart", "2026-03-02 10:15"),
    ("u1", "pay", "2026-03-02 10:20"), ("u1", "pay", "2026-03-02 12:00"),
    # u2 and u8: view > read > view
    ("u2", "view", "2026-03-03 09:00"), ("u2", "read", "2026-03-03 09:10"), ("u2", "view", "2026-03-03 09:20"),
    ("u2", "pay", "2026-03-03 09:30"),
    ("u8", "view", "2026-03-04 09:00"), ("u8", "read", "2026-03-04 09:10"), ("u8", "view", "2026-03-04 09:20"),
    ("u8", "pay", "2026-03-04 09:30"),
    # u3: nothing before paying: the empty path
    ("u3", "pay", "2026-03-05 08:00"),
    # u4: seven steps before paying: only the last five count
    *[("u4", e, f"2026-03-06 10:0{i}") for i, e in enumerate(["a", "b", "c", "d", "e", "f"])],
    ("u4", "pay", "2026-03-06 10:09"),
    # u5: a read at the very instant of paying is not before it: view
    ("u5", "view", "2026-03-07 09:00"), ("u5", "read", "2026-03-07 10:00"), ("u5", "pay", "2026-03-07 10:00"),
    # u6 never pays; u7 pays after the date range
    ("u6", "read", "2026-03-05 09:00"), ("u6", "view", "2026-03-05 09:01"),
    ("u7", "read", "2026-03-20 09:00"), ("u7", "pay", "2026-03-20 09:01"),
]
RANGE = {"start": date(2026, 3, 1), "end": date(2026, 3, 15)}


def _paths(report: PathReport) -> dict[str, tuple[int, float]]:
    return {r["path"]: (r["people"], r["share"]) for r in report.paths.to_pylist()}


def test_conversion_paths_hand_worked(engine: Engine) -> None:
    engine.register_arrow("events", events_table(CONVERSIONS))
    report = conversion_paths(engine, ConversionPathSpec(target="pay", **RANGE))
    assert report.people == 6
    assert _paths(report) == {
        "view > read > view": (2, 2 / 6), "read > view > cart": (1, 1 / 6), "": (1, 1 / 6),
        "b > c > d > e > f": (1, 1 / 6), "view": (1, 1 / 6)}
    assert report.paths["path"][0].as_py() == "view > read > view"  # most common first
    links = {(r["source"], r["target"]): r["value"] for r in report.links.to_pylist()}
    assert links[("5:view", "6:pay")] == 3          # u2, u8 and u5 all end with a view (right-aligned)
    assert links[("3:read", "4:view")] == 1 and links[("1:b", "2:c")] == 1
    nodes = {r["name"]: r["people"] for r in report.nodes.to_pylist()}
    assert nodes["6:pay"] == 5                      # u3's empty path has no node
    assert sum(v for (_, t), v in links.items() if t == "6:pay") == nodes["6:pay"]


def test_conversion_paths_lookback_and_steps(engine: Engine) -> None:
    engine.register_arrow("events", events_table(CONVERSIONS))
    short = conversion_paths(engine, ConversionPathSpec(target="pay", lookback=timedelta(minutes=15), steps=2,
                                                        **RANGE))
    assert _paths(short) == {
        "view": (2, 2 / 6),          # u2 and u8: only the 09:20 view is within 15 minutes
        "": (2, 2 / 6),              # u3, and u5 (its view is an hour before)
        "view > cart": (1, 1 / 6),   # u1: read 10:05, view, cart → the last two
        "e > f": (1, 1 / 6)}


def test_churn_paths_hand_worked(engine: Engine) -> None:
    engine.register_arrow("events", events_table([
        ("c1", "read", "2026-03-01 10:00"), ("c1", "view", "2026-03-02 10:00"), ("c1", "view", "2026-03-03 10:00"),
        ("c1", "cs", "2026-03-05 10:00"),
        ("c2", "read", "2026-03-25 10:00"),                                       # active 6 days ago
        ("c3", "view", "2026-03-10 10:00"), ("c3", "coupon_issued", "2026-03-28 10:00"),  # a coupon is not activity
        ("c4", "read", "2026-03-01 10:00"), ("c4", "read", "2026-04-02 10:00"),   # after the data end
        *[("c5", e, f"2026-03-0{i + 1} 10:00") for i, e in enumerate("abcdefg")],
    ]))
    report = churn_paths(engine, ChurnPathSpec(silent_days=10, as_of=date(2026, 3, 31)))
    assert _paths(report) == {"read > view > cs": (1, 0.25), "view": (1, 0.25), "read": (1, 0.25),
                              "c > d > e > f > g": (1, 0.25)}
    assert {r["target"] for r in report.links.to_pylist()} >= {"6:went_silent"}
    assert _paths(churn_paths(engine, ChurnPathSpec(silent_days=24, as_of=date(2026, 3, 31)))) == {
        "read > view > cs": (1, 1 / 3), "read": (1, 1 / 3), "c > d > e > f > g": (1, 1 / 3)}  # c3: idle 21 days


FORWARD = [
    # f1: read > view > cart > pay within 30-minute gaps: more than 3 steps → continued
    ("f1", "read", "2026-03-02 10:00"), ("f1", "view", "2026-03-02 10:10"), ("f1", "cart", "2026-03-02 10:20"),
    ("f1", "pay", "2026-03-02 10:25"),
    # f2: read, read (collapsed), view 25 min later, then 75 min of silence → exits at 2:view
    ("f2", "read", "2026-03-02 10:00"), ("f2", "read", "2026-03-02 10:20"), ("f2", "view", "2026-03-02 10:45"),
    ("f2", "cart", "2026-03-02 12:00"),
    # f3: read, then nothing for an hour → exits at 1:read
    ("f3", "read", "2026-03-03 10:00"), ("f3", "view", "2026-03-03 11:00"),
    # f4: read 10 minutes before the data end: the session may go on → open
    ("f4", "read", "2026-03-31 23:50"),
    # f5: the path starts at the entry, not before; 40 minutes later is too late → exits at 1:read
    ("f5", "view", "2026-03-04 09:00"), ("f5", "read", "2026-03-04 09:10"), ("f5", "share", "2026-03-04 09:50"),
    # f6: a delivery does not bridge the gap between view (10:10) and view (10:50) → exits at 2:view
    ("f6", "read", "2026-03-05 10:00"), ("f6", "view", "2026-03-05 10:10"),
    ("f6", "message_delivered", "2026-03-05 10:15"), ("f6", "view", "2026-03-05 10:50"),
]


def test_forward_paths_and_key_dropoff_hand_worked(engine: Engine) -> None:
    engine.register_arrow("events", events_table(FORWARD))
    spec = ForwardPathSpec(entry="read", steps=3, max_gap=timedelta(minutes=30))
    report = forward_paths(engine, spec)
    rows = {r["path"]: (r["people"], r["exits"], r["continued"], r["open"]) for r in report.paths.to_pylist()}
    assert rows == {"read": (3, 2, 0, 1), "read > view": (2, 2, 0, 0), "read > view > cart": (1, 0, 1, 0)}
    assert report.dropoffs is not None
    drops = {r["node"]: (r["reached"], r["exits"]) for r in report.dropoffs.to_pylist()}
    assert drops == {"1:read": (6, 2), "2:view": (3, 2), "3:cart": (1, 0)}
    key = key_dropoff_node(engine, spec)
    assert key is not None and key["node"] == "2:view"   # 2 exits each; 2/3 beats 2/6
    assert key["exit_rate"] == pytest.approx(2 / 3)
    links = {(r["source"], r["target"]): r["value"] for r in report.links.to_pylist()}
    assert links == {("1:read", "2:view"): 3, ("2:view", "3:cart"): 1}


def test_key_dropoff_without_exits(engine: Engine) -> None:
    engine.register_arrow("events", events_table([("a", "read", "2026-03-31 23:59")]))
    assert key_dropoff_node(engine, ForwardPathSpec(entry="read")) is None  # open, not an exit


def test_specs_fail_closed() -> None:
    with pytest.raises(ValueError, match="among ignore_events"):
        ConversionPathSpec(target="message_delivered")
    with pytest.raises(ValueError, match="between 1 and 20"):
        ForwardPathSpec(entry="read", steps=0)
    with pytest.raises(ValueError, match="positive"):
        ForwardPathSpec(entry="read", max_gap=timedelta(0))


def _check(eng: Engine, table: pd.DataFrame, conv: ConversionPathSpec, churn: ChurnPathSpec,
           fwd: ForwardPathSpec, as_of: date) -> None:
    got = {tuple(r["path"].split(" > ")) if r["path"] else (): r["people"]
           for r in conversion_paths(eng, conv).paths.to_pylist()}
    assert got == dict(conversion_paths_reference(table, conv))
    got = {tuple(r["path"].split(" > ")): r["people"] for r in churn_paths(eng, churn).paths.to_pylist()}
    assert got == dict(churn_paths_reference(table, churn, as_of))
    expected: Counter[tuple[tuple[str, ...], str]] = forward_paths_reference(table, fwd, as_of)
    report = forward_paths(eng, fwd)
    for r in report.paths.to_pylist():
        path = tuple(r["path"].split(" > "))
        for outcome, col in (("exit", "exits"), ("continued", "continued"), ("open", "open")):
            assert r[col] == expected.pop((path, outcome), 0), (path, outcome)
    assert not +expected


# --- random tables against the reference (DuckDB) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def duck() -> Iterator[Engine]:
    eng = open_engine("duckdb")
    yield eng
    eng.close()


_BASE = datetime(2026, 3, 2, 9, 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3"]),
                               st.sampled_from(["a", "b", "c", "pay", "coupon_issued"]),
                               st.integers(0, 60 * 24 * 6).map(lambda m: m - m % 7)), max_size=30),
       steps=st.integers(1, 4), gap=st.sampled_from([10, 60, 600]))
def test_random_paths_match_the_reference(duck: Engine, rows: list[Any], steps: int, gap: int) -> None:
    table = events_table([(u, e, (_BASE + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M")) for u, e, m in rows])
    duck.register_arrow("events", table)
    as_of = date(2026, 3, 7)
    _check(duck, table.to_pandas(), ConversionPathSpec(target="pay", steps=steps),
           ChurnPathSpec(silent_days=2, as_of=as_of, steps=steps),
           ForwardPathSpec(entry="a", steps=steps, max_gap=timedelta(minutes=gap), as_of=as_of), as_of)


# --- the demo lake ----------------------------------------------------------------------------------------------


def test_demo_paths_match_the_reference(demo: dict[str, Any]) -> None:
    from siyu.profile.views import register_profile_sources

    eng = open_engine("duckdb")
    register_profile_sources(eng, demo["lake"])
    events = lake_events(demo["lake"])
    as_of = max(events["dt"])
    conv = ConversionPathSpec(target="order_paid", lookback=timedelta(days=14), start=as_of - timedelta(days=60))
    churn = ChurnPathSpec(silent_days=30)
    fwd = ForwardPathSpec(entry="article_read", max_gap=timedelta(hours=2), start=as_of - timedelta(days=30))
    _check(eng, events, conv, churn, fwd, as_of)
    assert conversion_paths(eng, conv).people > 1000
    key = key_dropoff_node(eng, fwd)
    assert key is not None and key["exits"] > 100
    eng.close()
