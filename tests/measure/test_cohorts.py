"""Cohort retention (同期群留存) and revenue on DuckDB and Spark: a hand-worked example, right-censoring,
splits, and an independent person-by-person reference on random tables and on the demo lake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.measure.cohorts import CohortSpec, period_start, retention_days, retention_matrix
from siyu.measure.event_sql import Dimension
from siyu.warehouse.engine import Engine, open_engine
from tests.measure.measure_reference import (
    cohort_reference,
    events_table,
    lake_events,
    lake_orders,
    lake_user_daily,
)

AS_OF = date(2026, 3, 18)  # a Wednesday; weeks start on 2026-03-02, 03-09 and 03-16
ACTIVE = {"A": ["03-02", "03-03", "03-09", "03-16"], "B": ["03-04", "03-11"], "C": ["03-08", "03-09"],
          "D": ["03-10", "03-17"], "E": ["03-17"]}
ORDERS = [("A", "03-03", "100.00"), ("A", "03-10", "50.00"), ("B", "03-04", "20.00"), ("D", "03-17", "30.50"),
          ("F", "03-05", "10.00"), ("A", "03-19", "999.00")]  # the last one is after the data end


def _d(md: str) -> date:
    return date.fromisoformat(f"2026-{md}")


def user_daily_table(active: dict[str, list[str]], idle: tuple[tuple[str, str], ...] = ()) -> pa.Table:
    rows = [{"one_id": p, "dt": _d(d), "active": True} for p, days in active.items() for d in days]
    rows += [{"one_id": p, "dt": _d(d), "active": False} for p, d in idle]
    return pa.Table.from_pylist(rows, schema=pa.schema([("one_id", pa.string()), ("dt", pa.date32()),
                                                        ("active", pa.bool_())]))


def orders_table(orders: list[tuple[str, str, str]]) -> pa.Table:
    return pa.Table.from_pylist([{"one_id": p, "dt": _d(d), "amount": Decimal(a)} for p, d, a in orders],
                                schema=pa.schema([("one_id", pa.string()), ("dt", pa.date32()),
                                                  ("amount", pa.decimal128(18, 2))]))


EVENTS = [("A", "read", "2026-03-02 10:00", {"channel": "wecom"}), ("A", "read", "2026-03-02 09:00"),
          ("B", "read", "2026-03-04 10:00"), ("B", "read", "2026-03-05 10:00", {"channel": "sms"}),
          ("B", "read", "2026-03-05 10:00", {"channel": "mp"}), ("C", "read", "2026-03-30 10:00", {"channel": "late"})]


@pytest.fixture
def hand(engine: Engine) -> Engine:
    engine.register_arrow("user_daily", user_daily_table(ACTIVE, (("F", "03-05"),)))
    engine.register_arrow("orders", orders_table(ORDERS))
    engine.register_arrow("events", events_table(EVENTS))
    return engine


def _days(table: pa.Table) -> dict[tuple[date, str, int], tuple[Any, ...]]:
    return {(r["cohort"], r["segment"], r["day"]): (r["size"], r["observed"], r["retained"], r["rate"],
                                                   r["retained_unbounded"], r["rate_unbounded"])
            for r in table.to_pylist()}


def test_n_day_retention_hand_worked(hand: Engine) -> None:
    got = _days(retention_days(hand, CohortSpec(days=(1, 7, 14), as_of=AS_OF)))
    w1, w2, w3 = _d("03-02"), _d("03-09"), _d("03-16")
    assert got[(w1, "all", 1)] == (3, 3, 2, 2 / 3, 3, 1.0)       # A and C back the next day; all later
    assert got[(w1, "all", 7)] == (3, 3, 2, 2 / 3, 2, 2 / 3)     # A (03-09), B (03-11); C last seen 03-09
    assert got[(w1, "all", 14)] == (3, 2, 1, 0.5, 1, 0.5)        # C's day 14 (03-22) is after the data end
    assert got[(w2, "all", 14)] == (1, 0, None, None, None, None)  # censored: null, not 0
    assert got[(w3, "all", 1)] == (1, 1, 0, 0.0, 0, 0.0)
    assert got[(w3, "all", 7)][2] is None


def test_matrix_hand_worked(hand: Engine) -> None:
    rows = {(r["cohort"], r["period"]): r for r in retention_matrix(hand, CohortSpec(as_of=AS_OF)).to_pylist()}
    w1, w2, w3 = _d("03-02"), _d("03-09"), _d("03-16")
    assert len(rows) == 3 * 3  # three cohorts × periods 0..2 (the data end is in the third week)
    assert [rows[(w1, i)]["retained"] for i in range(3)] == [3, 3, 1]
    assert [rows[(w1, i)]["complete"] for i in range(3)] == [True, True, False]
    assert [rows[(w1, i)]["cumulative_gmv"] for i in range(3)] == [Decimal("120.00"), Decimal("170.00"),
                                                                   Decimal("170.00")]
    assert rows[(w1, 1)]["cumulative_gmv_per_member"] == pytest.approx(170 / 3)
    assert [rows[(w2, i)]["retained"] for i in range(3)] == [1, 1, None]  # period 2 starts after the data end
    assert [rows[(w2, i)]["gmv"] for i in range(3)] == [Decimal("0.00"), Decimal("30.50"), None]
    assert [rows[(w3, i)]["rate"] for i in range(3)] == [1.0, None, None]
    assert rows[(w3, 2)]["period_start"] == date(2026, 3, 30)


def test_first_order_cohorts_with_order_retention(hand: Engine) -> None:
    spec = CohortSpec(acquisition="first_order", activity="order", as_of=AS_OF)
    rows = {(r["cohort"], r["period"]): r for r in retention_matrix(hand, spec).to_pylist()}
    w1, w3 = _d("03-02"), _d("03-16")
    assert rows[(w1, 0)]["size"] == 3                          # A, B and F (F never active, but bought)
    assert [rows[(w1, i)]["retained"] for i in range(3)] == [3, 1, 0]
    assert rows[(w1, 0)]["gmv"] == Decimal("130.00") and rows[(w1, 1)]["gmv"] == Decimal("50.00")
    assert rows[(w3, 0)]["gmv"] == Decimal("30.50")


def test_monthly_cohorts_and_acquisition_range(hand: Engine) -> None:
    rows = retention_matrix(hand, CohortSpec(period="month", as_of=AS_OF)).to_pylist()
    assert len(rows) == 1 and rows[0]["size"] == 5 and rows[0]["retained"] == 5 and rows[0]["complete"] is False
    assert rows[0]["cumulative_gmv_per_member"] == pytest.approx(200.5 / 5)
    later = retention_matrix(hand, CohortSpec(period="month", as_of=AS_OF, start=_d("03-03"))).to_pylist()
    assert later[0]["size"] == 4  # A was acquired on 03-02


def test_first_touch_channel_split(hand: Engine) -> None:
    got = _days(retention_days(hand, CohortSpec(days=(1,), as_of=AS_OF, by_channel=True)))
    w1 = _d("03-02")
    # A: the 09:00 event has no channel, 10:00 is wecom; B: sms and mp at one instant → mp (alphabetical);
    # C: its only channel comes after the data end → unknown
    assert {k[1]: v[0] for k, v in got.items() if k[0] == w1} == {"wecom": 1, "mp": 1, "unknown": 1}


def test_dimension_split(hand: Engine) -> None:
    hand.register_arrow("regions", pa.table({"one_id": ["A", "B", "B"], "label": ["north", "north", "south"]}))
    got = _days(retention_days(hand, CohortSpec(days=(1,), as_of=AS_OF, dimension=Dimension(view="regions"))))
    w1 = _d("03-02")
    assert {k[1]: v[0] for k, v in got.items() if k[0] == w1} == {"north": 2, "south": 1, "unknown": 1}


def test_hand_example_matches_the_reference(hand: Engine) -> None:
    ud = user_daily_table(ACTIVE, (("F", "03-05"),)).to_pandas()
    od = orders_table(ORDERS).to_pandas()
    ev = events_table(EVENTS).to_pandas()
    for spec in (CohortSpec(as_of=AS_OF, by_channel=True), CohortSpec(as_of=AS_OF, acquisition="first_order"),
                 CohortSpec(as_of=AS_OF, period="month", activity="order")):
        _compare(hand, spec, cohort_reference(ud, od, ev, spec, AS_OF))


def _compare(eng: Engine, spec: CohortSpec, ref: dict[str, Any]) -> None:
    got = _days(retention_days(eng, spec))
    assert set(got) == set(ref["days"])
    for key, (size, observed, exact, later) in ref["days"].items():
        g = got[key]
        assert (g[0], g[1], g[2], g[4]) == (size, observed, exact if observed else None, later if observed else None)
    matrix = {(r["cohort"], r["segment"], r["period"]): r for r in retention_matrix(eng, spec).to_pylist()}
    assert set(matrix) == set(ref["matrix"])
    for key, (size, kept, gmv) in ref["matrix"].items():
        r = matrix[key]
        assert (r["size"], r["retained"], r["gmv"]) == (size, kept, gmv), key


def test_period_start_steps_months() -> None:
    assert period_start(date(2026, 11, 1), "month", 3) == date(2027, 2, 1)
    assert period_start(date(2026, 3, 2), "week", 2) == date(2026, 3, 16)


def test_specs_fail_closed() -> None:
    with pytest.raises(ValueError, match="distinct"):
        CohortSpec(days=(1, 1))
    with pytest.raises(ValueError, match="not both"):
        CohortSpec(by_channel=True, dimension={"view": "regions"})
    with pytest.raises(ValueError, match="Input should be"):
        CohortSpec(period="day")


# --- random tables against the reference (DuckDB) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def duck() -> Iterator[Engine]:
    eng = open_engine("duckdb")
    yield eng
    eng.close()


_people = st.sampled_from(["a", "b", "c", "d", "e"])
_day = st.integers(0, 60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(active=st.lists(st.tuples(_people, _day, st.booleans()), max_size=40),
       orders=st.lists(st.tuples(_people, _day, st.integers(1, 500)), max_size=15),
       as_of=st.integers(10, 60), period=st.sampled_from(["week", "month"]),
       acquisition=st.sampled_from(["first_active", "first_order"]), activity=st.sampled_from(["active", "order"]),
       days=st.lists(st.integers(0, 30), min_size=1, max_size=4, unique=True))
def test_random_cohorts_match_the_reference(duck: Engine, active: list[Any], orders: list[Any], as_of: int,
                                            period: str, acquisition: str, activity: str, days: list[int]) -> None:
    base = date(2026, 1, 26)
    ud = pa.Table.from_pylist([{"one_id": p, "dt": base + timedelta(days=d), "active": a} for p, d, a in active],
                              schema=pa.schema([("one_id", pa.string()), ("dt", pa.date32()), ("active", pa.bool_())]))
    od = pa.Table.from_pylist([{"one_id": p, "dt": base + timedelta(days=d), "amount": Decimal(a)}
                               for p, d, a in orders],
                              schema=pa.schema([("one_id", pa.string()), ("dt", pa.date32()),
                                                ("amount", pa.decimal128(18, 2))]))
    duck.register_arrow("user_daily", ud)
    duck.register_arrow("orders", od)
    duck.register_arrow("events", events_table([]))
    end = base + timedelta(days=as_of)
    spec = CohortSpec(period=period, acquisition=acquisition, activity=activity, days=tuple(days), as_of=end,
                      max_periods=6)
    _compare(duck, spec, cohort_reference(ud.to_pandas(), od.to_pandas(), None, spec, end))
    for r in retention_matrix(duck, spec).to_pylist():
        if r["rate"] is not None:
            assert 0 <= r["rate"] <= 1


# --- the demo lake ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_engine(demo: dict[str, Any]) -> Iterator[Engine]:
    from siyu.profile.views import register_profile_sources

    eng = open_engine("duckdb")
    register_profile_sources(eng, demo["lake"])
    yield eng
    eng.close()


def test_demo_cohorts_match_the_reference(demo_engine: Engine, demo: dict[str, Any]) -> None:
    ud, od = lake_user_daily(demo["lake"]), lake_orders(demo["lake"])
    ev: pd.DataFrame = lake_events(demo["lake"])
    as_of = max(ud["dt"])
    spec = CohortSpec(as_of=as_of, by_channel=True, days=(1, 7, 30), max_periods=8)
    ref = cohort_reference(ud, od, ev, spec, as_of)
    assert sum(v[0] for (_, _, n), v in ref["days"].items() if n == 1) > 10_000
    _compare(demo_engine, spec, ref)
    monthly = CohortSpec(period="month", acquisition="first_order", activity="order", start=date(2026, 2, 1))
    _compare(demo_engine, monthly, cohort_reference(ud, od, ev, monthly, as_of))
    matrix = retention_matrix(demo_engine, monthly).to_pylist()
    assert any(r["rate"] is None for r in matrix) and any(0 < (r["rate"] or 0) < 1 for r in matrix)
