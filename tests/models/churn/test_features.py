"""Warning-model features on DuckDB and Spark: hand-worked values, an independent pandas reference, and no
time leakage — rows after the as-of date never change the features at it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from siyu.core.errors import SiyuError
from siyu.models.churn.features import FEATURE_NAMES, FEATURES, pair_features, snapshot_features
from siyu.warehouse.engine import Engine, open_engine
from tests.models.churn.reference import daily_row, features_reference, random_world, register

D = date(2026, 4, 20)


def ago(days: int) -> date:
    return D - timedelta(days=days)


def ev(one_id: str, event: str, age: int, satisfaction: int | None = None,
       response_seconds: float | None = None) -> dict[str, Any]:
    return {"one_id": one_id, "event": event, "dt": ago(age), "satisfaction": satisfaction,
            "response_seconds": response_seconds}


# Person a: a merged id leaves two rows on one day (age 6); every window edge has a row on each side.
# b: only brand-side rows (a delivered message); c: first seen after D; d: last active 40 days before D.
HAND_DAILY = [
    daily_row("a", ago(0), interactions=2, product_views=1),
    daily_row("a", ago(2), messages_delivered=1),
    daily_row("a", ago(6), interactions=1, messages_delivered=1, messages_clicked=1),
    daily_row("a", ago(6), interactions=1),
    daily_row("a", ago(7), interactions=1),
    daily_row("a", ago(29), interactions=1, orders=1, gmv=100.5),
    daily_row("a", ago(30), interactions=4),
    daily_row("a", ago(89), interactions=1, content_reads=1, read_seconds=10.5),
    daily_row("a", ago(90), interactions=5, orders=2, gmv=20),
    daily_row("a", ago(-1), interactions=9, orders=1),
    daily_row("b", ago(10), messages_delivered=1),
    daily_row("c", ago(-5), interactions=3),
    daily_row("d", ago(40), interactions=2, cart_adds=1),
]
HAND_EVENTS = [
    ev("a", "cs_consulted", 3, 2, 30.0), ev("a", "cs_consulted", 10, 5, 60.5), ev("a", "cs_consulted", 5, None, 10.0),
    ev("a", "cs_consulted", 100, 1, 5.0), ev("a", "cs_consulted", -2, 1, 500.0),
    ev("a", "coupon_issued", 5), ev("a", "coupon_issued", 40), ev("a", "coupon_issued", 100),
    ev("a", "coupon_redeemed", 4), ev("a", "coupon_redeemed", 95),
    ev("a", "wecom_friend_deleted", 1), ev("a", "group_left", -1), ev("a", "unsubscribed", 50),
    ev("a", "article_read", 1),
]
EXPECTED_A = {
    "interactions_7d": 4, "interactions_14d": 5, "interactions_30d": 6, "interactions_90d": 11,
    "active_days_7d": 2, "active_days_14d": 3, "active_days_30d": 4, "active_days_90d": 6,
    "interactions_trend_7d": 5 / 2, "interactions_trend_30d": 7 / 5,
    "messages_delivered_30d": 2, "messages_clicked_30d": 1, "push_response_rate_30d": 0.5,
    "push_response_rate_90d": 0.5, "product_views_7d": 1, "cart_adds_90d": 0,
    "orders_30d": 1, "gmv_30d": 100.5, "orders_90d": 1, "gmv_90d": 100.5, "orders_total": 3, "gmv_total": 120.5,
    "content_reads_30d": 0, "content_reads_90d": 1, "read_seconds_90d": 10.5,
    "days_since_last_interaction": 0, "days_since_last_order": 29, "days_since_last_activity": 0,
    "days_since_last_shopping": 0, "tenure_days": 90,
    "cs_satisfaction_avg_90d": 3.5, "cs_low_satisfaction_90d": 1, "cs_response_seconds_avg_90d": 33.5,
    "coupons_issued_30d": 1, "coupons_issued_90d": 2, "coupons_redeemed_30d": 1, "coupons_redeemed_90d": 1,
    "coupon_redeem_rate_90d": 0.5, "coupons_unused": 1, "wecom_friend_deleted": 1, "group_left": 0,
    "unsubscribed": 1,
}


def _frame(table: pa.Table) -> pd.DataFrame:
    df = table.to_pandas()
    for c in FEATURE_NAMES:
        df[c] = df[c].astype("float64")
    return df.set_index(["one_id", "as_of"])


def test_hand_worked_features(engine: Engine) -> None:
    register(engine, HAND_DAILY, HAND_EVENTS)
    got = snapshot_features(engine, [D])
    assert got.column_names == ["one_id", "as_of", *FEATURE_NAMES]
    df = _frame(got)
    assert sorted(df.index.get_level_values("one_id")) == ["a", "b", "d"]  # c is not known by D
    a = df.loc[("a", D)]
    for name, value in EXPECTED_A.items():
        assert a[name] == pytest.approx(value), name
    b = df.loc[("b", D)]
    assert np.isnan(b["days_since_last_interaction"]) and np.isnan(b["cs_satisfaction_avg_90d"])
    assert b["push_response_rate_30d"] == 0 and b["messages_delivered_30d"] == 1 and b["tenure_days"] == 10
    assert b["coupons_issued_90d"] == 0 and b["coupons_unused"] == 0
    # the population (active in the 30 days up to D) keeps only a; 41 days keeps d too
    assert _frame(snapshot_features(engine, [D], population_days=30)).index.get_level_values(0).tolist() == ["a"]
    wide = _frame(snapshot_features(engine, [D], population_days=41))
    assert sorted(wide.index.get_level_values(0)) == ["a", "d"]


def test_features_match_the_pandas_reference(engine: Engine) -> None:
    daily, events = random_world(seed=3)
    register(engine, daily, events)
    dates = [date(2026, 2, 15), date(2026, 3, 31), date(2026, 5, 10)]
    got = _frame(snapshot_features(engine, dates, population_days=30))
    want = pd.concat([features_reference(daily, events, d, population_days=30) for d in dates])
    want = want.set_index(["one_id", "as_of"]).sort_index()
    assert len(want) > 40
    assert got.index.tolist() == sorted(want.index.tolist(), key=lambda k: (k[1], k[0]))
    got = got.sort_index()
    for name in FEATURE_NAMES:
        np.testing.assert_allclose(got[name].to_numpy(), want[name].to_numpy(), rtol=1e-12, equal_nan=True,
                                   err_msg=name)


def test_rows_after_the_as_of_date_never_change_the_features(engine: Engine) -> None:
    daily, events = random_world(seed=5)
    register(engine, daily, events)
    cut = date(2026, 3, 20)
    before = snapshot_features(engine, [cut])
    # rewrite the future: every later row changed, new people and events after the cut
    later = [dict(r, interactions=r["interactions"] + 7, orders=3, active=True) for r in daily if r["dt"] > cut]
    more = [daily_row("zz", cut + timedelta(days=1), interactions=5), daily_row("p000", cut + timedelta(days=2),
                                                                                   interactions=50, orders=4)]
    future_events = [ev_ | {"dt": cut + timedelta(days=k % 9 + 1)} for k, ev_ in enumerate(events)]
    register(engine, [r for r in daily if r["dt"] <= cut] + later + more, events + future_events)
    assert snapshot_features(engine, [cut]).equals(before)
    # and with nothing after the cut at all
    register(engine, [r for r in daily if r["dt"] <= cut], [e for e in events if e["dt"] <= cut])
    assert snapshot_features(engine, [cut]).equals(before)


def test_pair_features_equal_snapshot_rows(engine: Engine) -> None:
    daily, events = random_world(seed=8)
    register(engine, daily, events)
    dates = [date(2026, 3, 1), date(2026, 4, 1)]
    snap = snapshot_features(engine, dates).to_pandas()
    pick = snap.iloc[::3][["one_id", "as_of"]]
    got = pair_features(engine, pa.Table.from_pandas(pick, preserve_index=False)).to_pandas()
    want = snap.set_index(["one_id", "as_of"]).loc[list(zip(pick["one_id"], pick["as_of"], strict=True))]
    pd.testing.assert_frame_equal(got.set_index(["one_id", "as_of"]).sort_index(), want.sort_index(),
                                  check_dtype=False)  # pandas makes int columns with nulls float


def test_duckdb_and_spark_give_the_same_table(spark_engine: Engine) -> None:
    daily, events = random_world(seed=11, people=25)
    duck = open_engine("duckdb")
    out = {}
    for eng in (duck, spark_engine):
        register(eng, daily + HAND_DAILY, events + HAND_EVENTS)
        out[eng.name] = snapshot_features(eng, [date(2026, 3, 10), D], population_days=30)
    assert out["spark"].cast(out["duckdb"].schema).equals(out["duckdb"])


def test_every_feature_has_phrases_and_bad_inputs_fail() -> None:
    for f in FEATURES.values():
        for text in (*f.low, *f.high):
            assert text.format(value=3)
    duck = open_engine("duckdb")
    with pytest.raises(SiyuError, match="no as-of dates"):
        snapshot_features(duck, [])
    with pytest.raises(SiyuError) as err:
        pair_features(duck, pa.table({"one_id": ["a"]}))
    assert err.value.code == "bad_pairs"
