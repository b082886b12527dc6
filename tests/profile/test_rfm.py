"""RFM on the demo world against an independent pandas calculation, and fixed-threshold scoring."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siyu.profile.build import build_profile
from siyu.profile.config import RFMConfig
from siyu.profile.rfm import RFM_CLASSES, rfm_classes_table, rfm_sql
from siyu.warehouse.engine import Engine


@pytest.fixture(scope="module")
def profiled(demo: dict[str, Any]) -> dict[str, Any]:
    report = build_profile(demo["lake"], "duckdb")
    return {**demo, "report": report}


def _reference_rfm(lake: Any, as_of: date, window_days: int = 365, bins: int = 5) -> pd.DataFrame:
    """Textbook RFM in pandas: quantile scores by rank (ties share the top rank), high = above mean score."""
    orders = pq.read_table(lake.files("dwd", "orders"), columns=["one_id", "amount", "dt"]).to_pandas()
    redirects = pq.read_table(lake.files("identity", "redirects")).to_pandas()
    moved = dict(zip(redirects["from_one_id"], redirects["to_one_id"], strict=True))
    orders["one_id"] = orders["one_id"].map(lambda x: moved.get(x, x))
    orders = orders[orders["one_id"].notna()]
    start = as_of - timedelta(days=window_days - 1)
    orders = orders[(orders["dt"] >= start) & (orders["dt"] <= as_of)]
    g = orders.groupby("one_id").agg(last=("dt", "max"), frequency=("dt", "size"), monetary=("amount", "sum"))
    g["recency_days"] = g["last"].map(lambda d: (as_of - d).days)
    n = len(g)

    def score(values: pd.Series, ascending: bool) -> pd.Series:
        k = values.rank(method="max", ascending=ascending).astype(int)  # buyers no better than this one
        return (bins * k + n - 1) // n  # ceil(bins·k/n) in integers

    g["rfm_r"] = score(-g["recency_days"], ascending=True)
    g["rfm_f"] = score(g["frequency"].astype(int), ascending=True)
    g["rfm_m"] = score(g["monetary"].map(Decimal).astype(object).map(float), ascending=True)
    code = sum(w * (g[f"rfm_{a}"] > g[f"rfm_{a}"].mean()).astype(int) for w, a in ((4, "r"), (2, "f"), (1, "m")))
    names = {c.code: c.name_zh for c in RFM_CLASSES}
    g["rfm_class"] = code.map(names)
    return g


def test_rfm_equals_a_reference_calculation_on_the_demo_world(profiled: dict[str, Any]) -> None:
    ref = _reference_rfm(profiled["lake"], profiled["report"].as_of)
    got = pq.read_table(profiled["lake"].files("ads", "rfm")).to_pandas().set_index("one_id")
    assert len(got) == len(ref) > 1000
    joined = got.join(ref, rsuffix="_ref", how="outer")
    for col in ("recency_days", "frequency", "rfm_r", "rfm_f", "rfm_m", "rfm_class"):
        diff = joined[joined[col] != joined[f"{col}_ref"]]
        assert diff.empty, (col, diff.head())
    assert (joined["monetary"] == joined["monetary_ref"]).all()
    assert set(got["rfm_class"]) == {c.name_zh for c in RFM_CLASSES}  # all 8 classes occur on the demo world


def test_every_person_has_a_stage_and_a_tier(profiled: dict[str, Any]) -> None:
    report = profiled["report"]
    assert sum(report.lifecycle.values()) == report.people == sum(report.tiers.values())
    assert set(report.lifecycle) == {"potential", "new", "active", "silent", "churned"}
    assert report.lifecycle_changes == report.people  # the first record: everyone enters a stage


def test_fixed_thresholds(engine: Engine) -> None:
    as_of = date(2026, 3, 31)
    rows = [("a", 0, "5000"), ("a", 1, "10"), ("a", 2, "10"), ("a", 3, "10"), ("a", 4, "10"),  # 5 orders, 5040
            ("b", 30, "200"), ("c", 31, "199.99"), ("d", 181, "1"), ("d", 400, "99999")]
    engine.register_arrow("orders", pa.Table.from_pylist(
        [{"one_id": p, "dt": as_of - timedelta(days=n), "amount": Decimal(a)} for p, n, a in rows],
        schema=pa.schema([("one_id", pa.string()), ("dt", pa.date32()), ("amount", pa.decimal128(18, 2))])))
    engine.register_arrow("rfm_classes", rfm_classes_table())
    sql, params = rfm_sql(RFMConfig(method="fixed", split="score_threshold", high_score=3), as_of)
    got = {r["one_id"]: (r["rfm_r"], r["rfm_f"], r["rfm_m"], r["rfm_class_en"])
           for r in engine.query(sql, params).to_pylist()}
    assert got == {
        "a": (5, 4, 5, "important_value"),     # recency 0; 5 orders ≥ 5; 5040 ≥ 3000
        "b": (5, 1, 2, "general_develop"),     # exactly 30 days is still the top recency band
        "c": (4, 1, 1, "general_develop"),
        "d": (1, 1, 1, "general_win_back"),    # 181 days: below every cut; the 400-day order is out of window
    }


def test_fixed_thresholds_need_bins_minus_one_cut_points() -> None:
    with pytest.raises(ValueError, match="cut points"):
        RFMConfig(method="fixed", bins=5, frequency=[1, 2])


def test_backfill_records_each_transition_on_its_own_day(profiled: dict[str, Any], tmp_path: Any) -> None:
    import shutil

    from siyu.profile.build import backfill_profile
    from siyu.profile.config import LifecycleConfig
    from siyu.profile.lifecycle import lifecycle_sql
    from siyu.profile.views import register_profile_sources
    from siyu.warehouse.engine import open_engine
    from siyu.warehouse.lake import Lake

    lake = Lake(tmp_path / "lake")
    shutil.copytree(profiled["lake"].root, lake.root, ignore=shutil.ignore_patterns("*_changes"))
    end = profiled["report"].as_of
    start = end - timedelta(days=3)
    reports = backfill_profile(lake, "duckdb", start=start, end=end)
    assert [r.as_of for r in reports] == [start + timedelta(days=i) for i in range(4)]
    # independently: each day's stages, diffed day by day in Python
    eng = open_engine("duckdb")
    register_profile_sources(eng, lake)
    stages = {}
    for i in range(4):
        sql, params = lifecycle_sql(LifecycleConfig(), start + timedelta(days=i))
        stages[i] = {r["one_id"]: r["lifecycle"] for r in eng.query(sql, params).to_pylist()}
    changes = pq.read_table(lake.files("ads", "lifecycle_changes")).to_pandas()
    changes["dt"] = changes["dt"].astype(str)
    for i in range(1, 4):
        day = str(start + timedelta(days=i))
        got = {(r.one_id, r.from_value, r.to_value) for r in changes[changes["dt"] == day].itertuples()}
        expected = {(o, stages[i - 1][o], s) for o, s in stages[i].items() if stages[i - 1][o] != s}
        assert got == expected and got, day
