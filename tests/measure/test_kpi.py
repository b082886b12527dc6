"""KPI catalogue: every kind of metric against an independent pandas computation on the demo world,
planted truths (spend, NPS, push failures), breakdowns, comparisons, drill-down and bad definitions."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from siyu.core.errors import SiyuError
from siyu.measure.kpi import Grain, KpiQuery, compute_kpi, drill_kpi, load_catalogue, register_kpi_sources
from siyu.profile.definitions import DefinitionError
from siyu.warehouse.engine import Engine, open_engine


@pytest.fixture(scope="module")
def kpi(demo: dict[str, Any]) -> dict[str, Any]:
    eng = open_engine("duckdb")
    register_kpi_sources(eng, demo["lake"])
    frames = {name: eng.query(view if view.startswith("SELECT") else f"SELECT * FROM {view}").to_pandas()
              for name, view in (
        ("daily", "user_daily"), ("orders", "orders"), ("dims", "person_dims"), ("spend", "spend"),
        ("events", "SELECT one_id, event, channel, dt, event_time, properties FROM events "
                   "WHERE event IN ('survey_answered', 'message_sent', 'message_failed', 'message_delivered')"))}
    daily = frames["daily"]
    start, end = daily["dt"].min(), daily["dt"].max()
    truth = json.loads((Path(demo["root"]) / "world" / "truth" / "params.json").read_text())
    return {"eng": eng, "cat": load_catalogue(), "start": start, "end": end, "truth": truth, **frames}


def _month(d: pd.Series) -> pd.Series:
    return pd.to_datetime(d).dt.to_period("M").dt.start_time.dt.date


def _run(kpi: dict[str, Any], metric: str, grain: Grain = Grain.MONTH, **kw: Any) -> pd.DataFrame:
    q = KpiQuery(metric, kpi["start"], kpi["end"], grain, **kw)
    return compute_kpi(kpi["eng"], kpi["cat"], q).to_pandas()


def test_gmv_orders_aov_and_comparison(kpi: dict[str, Any]) -> None:
    o = kpi["orders"].assign(m=_month(kpi["orders"]["dt"]), amount=lambda x: x["amount"].astype(float))
    ref = o.groupby("m").agg(gmv=("amount", "sum"), orders=("order_id", "count"), buyers=("one_id", "nunique"))
    got = _run(kpi, "gmv", compare=True).set_index("period_start")
    assert np.allclose(got["value"], ref["gmv"].reindex(got.index), rtol=1e-9)
    prev = ref["gmv"].shift(1).reindex(got.index)
    assert np.allclose(got["previous"].iloc[1:], prev.iloc[1:])
    assert np.allclose(got["change"].iloc[1:], ((ref["gmv"] - ref["gmv"].shift(1)) / ref["gmv"].shift(1)).iloc[1:])
    assert got["year_ago"].isna().all()  # the world is six months long
    aov = _run(kpi, "aov").set_index("period_start")["value"]
    assert np.allclose(aov, (ref["gmv"] / ref["orders"]).reindex(aov.index))
    buyers = _run(kpi, "buyers").set_index("period_start")["value"]
    assert np.allclose(buyers, ref["buyers"].reindex(buyers.index))


def test_dau_mean_and_rolling_wau_mau(kpi: dict[str, Any]) -> None:
    d = kpi["daily"][kpi["daily"]["active"]]
    per_day = d.groupby("dt")["one_id"].nunique()
    got = _run(kpi, "dau").set_index("period_start")["value"]
    for m, value in got.items():
        days = pd.date_range(max(m, kpi["start"]), min((pd.Timestamp(m) + pd.offsets.MonthEnd(0)).date(),
                                                       kpi["end"])).date
        month_days = (pd.Timestamp(m) + pd.offsets.MonthEnd(0)).day
        # the mean is over every day of the period (a day with nobody active counts as zero)
        assert value == pytest.approx(sum(per_day.get(x, 0) for x in days) / month_days, rel=1e-12)
    wau = _run(kpi, "wau", Grain.DAY).set_index("period_start")["value"]
    for day in list(wau.index)[::17]:
        window = d[(d["dt"] > day - timedelta(days=7)) & (d["dt"] <= day)]
        assert wau[day] == window["one_id"].nunique()
    mau = _run(kpi, "mau", Grain.WEEK).set_index("period_start")["value"]
    for week in mau.index:
        last = week + timedelta(days=6)
        window = d[(d["dt"] > last - timedelta(days=30)) & (d["dt"] <= last)]
        assert mau[week] == window["one_id"].nunique()


def test_retention_and_repurchase_with_censoring(kpi: dict[str, Any]) -> None:
    d = kpi["daily"][kpi["daily"]["active"]]
    first = d.groupby("one_id")["dt"].min()
    active = set(zip(d["one_id"], d["dt"], strict=True))
    got = _run(kpi, "retention_d7").set_index("period_start")
    end = kpi["end"]
    for m, row in got.iterrows():
        cohort = first[(_month(first) == m) & (first + timedelta(days=7) <= end)]
        if cohort.empty:
            assert pd.isna(row["value"])
            continue
        kept = sum((p, f + timedelta(days=7)) in active for p, f in cohort.items())
        assert (row["numerator"], row["denominator"]) == (kept, len(cohort))
    o = kpi["orders"].sort_values(["paid_at", "order_id"])
    o = o.assign(m=_month(o["dt"]))
    got = _run(kpi, "repurchase_rate_30d").set_index("period_start")
    by_person = {p: list(g["paid_at"]) for p, g in o.groupby("one_id")}
    for m, row in got.iterrows():
        firsts = o[o["m"] == m].groupby("one_id")["paid_at"].min()
        firsts = firsts[firsts.dt.date + timedelta(days=30) <= end]
        if firsts.empty:  # every buyer of the month is too recent to have 30 days observed
            assert pd.isna(row["value"])
            continue
        again = sum(any(t > f and (t.date() - f.date()).days <= 30 for t in by_person[p]) for p, f in firsts.items())
        assert (row["numerator"], row["denominator"]) == (again, len(firsts))


def test_reactivation_rate(kpi: dict[str, Any]) -> None:
    d = kpi["daily"][kpi["daily"]["active"]]
    days = {p: sorted(g) for p, g in d.groupby("one_id")["dt"]}
    got = _run(kpi, "reactivation_rate").set_index("period_start")
    for m, row in got.iloc[1:].iterrows():
        last = (pd.Timestamp(m) + pd.offsets.MonthEnd(0)).date()
        silent = back = 0
        for ds in days.values():
            before = [x for x in ds if x < m]
            if before and (m - before[-1]).days >= 30:
                silent += 1
                back += any(m <= x <= last for x in ds)
        assert (row["numerator"], row["denominator"]) == (back, silent)


def test_nps_matches_pandas_and_the_planted_score(kpi: dict[str, Any]) -> None:
    e = kpi["events"][kpi["events"]["event"] == "survey_answered"]
    scores = e["properties"].map(lambda s: json.loads(s)["score"]).astype(float)
    expected = 100 * ((scores >= 9).sum() - (scores <= 6).sum()) / len(scores)
    got = compute_kpi(kpi["eng"], kpi["cat"], KpiQuery("nps", kpi["start"], kpi["end"], Grain.MONTH))
    num = sum(x or 0 for x in got.column("numerator").to_pylist())
    den = sum(x or 0 for x in got.column("denominator").to_pylist())
    assert den == len(scores) > 1000
    assert num / den == pytest.approx(expected, rel=1e-12)
    p, dtr = (scores >= 9).mean(), (scores <= 6).mean()
    se = 100 * np.sqrt((p + dtr - (p - dtr) ** 2) / len(scores))
    assert abs(expected - kpi["truth"]["nps"]["planted"]) < 4 * se


def test_spend_cac_and_push_failures_against_planted_truth(kpi: dict[str, Any]) -> None:
    acq = kpi["truth"]["acquisition_cost"]
    planted = sum(acq["unit_cost"][c] * n for c, n in acq["acquired"].items())
    got = _run(kpi, "acquisition_spend", by="channel")
    assert got["value"].sum() == pytest.approx(planted, rel=1e-9)
    cac = _run(kpi, "cac", by="channel")
    s = kpi["spend"][kpi["spend"]["purpose"] == "acquisition"].assign(m=lambda x: _month(x["date"]))
    dims = kpi["dims"].dropna(subset=["first_active_date"]).assign(m=lambda x: _month(x["first_active_date"]))
    for _, row in cac.dropna(subset=["value"]).iterrows():
        spend = s[(s["m"] == row["period_start"]) & (s["channel"] == row["grp"])]["amount"].sum()
        users = ((dims["m"] == row["period_start"]) & (dims["channel"] == row["grp"])).sum()
        assert row["value"] == pytest.approx(spend / users, rel=1e-9)
    rate = _run(kpi, "push_failure_rate", by="channel")
    totals = rate.groupby("grp")[["numerator", "denominator"]].sum()
    for channel, f in (("wecom", 0.16), ("sms", 0.04)):
        n, d = totals.loc[channel]
        expected = f / (1 + f)  # one failed attempt before a share f of delivered touches
        assert abs(n / d - expected) < 4 * np.sqrt(expected * (1 - expected) / d) + 0.002


def test_breakdowns_add_up_and_drill_down_returns_the_rows(kpi: dict[str, Any]) -> None:
    total = _run(kpi, "gmv").set_index("period_start")["value"]
    for dim in ("channel", "region", "owner_staff", "acquisition_channel", "cohort"):
        by = _run(kpi, "gmv", by=dim).groupby("period_start")["value"].sum()
        assert np.allclose(by.reindex(total.index), total)
    month = total.index[2]
    rows = drill_kpi(kpi["eng"], kpi["cat"], "gmv", month, Grain.MONTH, limit=10**7).to_pandas()
    assert float(rows["amount"].astype(float).sum()) == pytest.approx(total[month], rel=1e-9)
    by = _run(kpi, "gmv", by="channel")
    pick = by[by["period_start"] == month].iloc[0]
    rows = drill_kpi(kpi["eng"], kpi["cat"], "aov", month, Grain.MONTH, by="channel", group=pick["grp"],
                     limit=10**7).to_pandas()
    assert float(rows["amount"].astype(float).sum()) == pytest.approx(pick["value"], rel=1e-9)
    assert set(rows["channel"]) == {pick["grp"]}


def test_every_metric_and_allowed_breakdown_computes(kpi: dict[str, Any]) -> None:
    ids = kpi["dims"]["one_id"]
    labels = pa.table({"one_id": ids, "label": np.where(np.arange(len(ids)) % 3 == 0, "a", "b")})
    start = kpi["end"] - timedelta(days=59)
    for name, metric in kpi["cat"].items():
        for by in (None, *metric.dimensions):
            got = compute_kpi(kpi["eng"], kpi["cat"], KpiQuery(name, start, kpi["end"], Grain.MONTH, by=by),
                              labels=labels)
            assert got.num_rows >= 1, (name, by)
    with pytest.raises(SiyuError, match="cannot be broken down"):
        compute_kpi(kpi["eng"], kpi["cat"], KpiQuery("cac", start, kpi["end"], by="region"))


SPARK_METRICS = ("gmv", "dau", "mau", "stickiness", "retention_d7", "repurchase_rate_30d", "reactivation_rate",
                 "nps", "cac", "click_rate")


@pytest.mark.spark
def test_spark_gives_the_same_numbers(kpi: dict[str, Any], demo: dict[str, Any], spark_engine: Engine) -> None:
    register_kpi_sources(spark_engine, demo["lake"])
    for name in SPARK_METRICS:
        for by in (None, kpi["cat"][name].dimensions[0] if kpi["cat"][name].dimensions else None):
            q = KpiQuery(name, kpi["start"], kpi["end"], Grain.MONTH, by=by, compare=True)
            a = compute_kpi(kpi["eng"], kpi["cat"], q).to_pandas()
            b = compute_kpi(spark_engine, kpi["cat"], q).to_pandas()
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kpis.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = "metrics:\n  - {name: x, name_zh: 叉, name_en: X, description: d, kind: aggregate, measure: %s}\n"


@pytest.mark.parametrize(("measure", "message"), [
    ("{source: nowhere, agg: count}", "unknown source 'nowhere'"),
    ("{source: orders, agg: sum}", "sum needs a column"),
    ("{source: orders, agg: sum, column: 'amount; DROP TABLE orders'}", "no column"),
    ("{source: orders, agg: count, filters: [{column: channel, op: in, value: store}]}", "needs a list"),
    ("{source: orders, agg: count, filters: [{column: channel, op: '~', value: x}]}", "'~' is not one of"),
    ("{source: orders, agg: median, column: amount}", "'median' is not one of"),
])
def test_bad_definitions_name_file_line_and_field(tmp_path: Path, measure: str, message: str) -> None:
    path = _write(tmp_path, BASE % measure)
    with pytest.raises(DefinitionError, match=message) as err:
        load_catalogue(path)
    assert str(path) in str(err.value) and ":2:" in str(err.value)


def test_ratio_loops_and_unknown_inputs_are_refused(tmp_path: Path) -> None:
    loop = ("metrics:\n"
            "  - {name: a, name_zh: a, name_en: a, description: d, kind: ratio, numerator: b, denominator: gmv}\n"
            "  - {name: b, name_zh: b, name_en: b, description: d, kind: ratio, numerator: a, denominator: gmv}\n")
    with pytest.raises(DefinitionError, match="refers to itself"):
        load_catalogue(_write(tmp_path, loop))
    with pytest.raises(DefinitionError, match="unknown metric 'nope'"):
        load_catalogue(_write(tmp_path, loop.replace("numerator: a", "numerator: nope")))


def test_filter_values_are_bound_not_pasted(kpi: dict[str, Any], tmp_path: Path) -> None:
    hostile = "store' OR '1'='1"
    path = _write(tmp_path, BASE % f"{{source: orders, agg: count, filters: [{{column: channel, op: '=', "
                                    f"value: \"{hostile}\"}}]}}")
    cat = load_catalogue(path)
    got = compute_kpi(kpi["eng"], cat, KpiQuery("x", kpi["start"], kpi["end"], Grain.MONTH))
    assert set(got.column("value").to_pylist()) == {0.0}


def test_period_helpers() -> None:
    from siyu.measure.kpi.compute import period_starts, previous, year_ago

    assert period_starts(date(2026, 1, 30), date(2026, 3, 1), Grain.MONTH) == [
        date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert period_starts(date(2026, 11, 22), date(2026, 11, 24), Grain.WEEK) == [date(2026, 11, 16),
                                                                                   date(2026, 11, 23)]
    assert previous(date(2026, 3, 1), Grain.MONTH) == date(2026, 2, 1)
    assert year_ago(date(2028, 2, 29), Grain.DAY) == date(2027, 2, 28)
    assert year_ago(date(2026, 11, 23), Grain.WEEK).weekday() == 0
    with pytest.raises(SiyuError, match="before it starts"):
        period_starts(date(2026, 2, 1), date(2026, 1, 1), Grain.DAY)
