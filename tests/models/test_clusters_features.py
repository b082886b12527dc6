"""Cluster features on hand-built views, checked against a plain-Python reference on both engines."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from siyu.models.clusters import (
    DAY_CAP,
    FEATURES,
    ClusterConfig,
    cluster_drift_columns,
    cluster_features,
    fit_clusters,
    score_clusters,
)
from siyu.warehouse.engine import Engine

AS_OF = date(2024, 6, 30)

USER_DAILY = pa.schema([("one_id", pa.string()), ("dt", pa.date32()), ("active", pa.bool_()),
                        ("interactions", pa.int64()), ("content_reads", pa.int64()), ("shares", pa.int64()),
                        ("group_messages", pa.int64()), ("cs_contacts", pa.int64()), ("refunds", pa.int64())])
ORDERS = pa.schema([("one_id", pa.string()), ("order_id", pa.string()), ("amount", pa.decimal128(18, 2)),
                    ("coupon_id", pa.string()), ("dt", pa.date32())])


def d(n: int) -> date:
    """``n`` days before as_of (negative: after it)."""
    return AS_OF - timedelta(days=n)


def _world(seed: int = 3) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Random people plus the edge cases: window boundaries, data after as_of, merged duplicate days,
    a buyer without activity rows, empty coupon ids, null one_ids, activity older than the day cap."""
    rng = np.random.default_rng(seed)
    days: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    for p in range(40):
        for n in rng.choice(np.arange(-20, 500), size=int(rng.integers(0, 25)), replace=False):
            active = bool(rng.random() < 0.8)
            days.append({"one_id": f"u{p:02d}", "dt": d(int(n)), "active": active,
                         "interactions": int(rng.integers(1, 9)) if active else 0,
                         "content_reads": int(rng.integers(0, 4)), "shares": int(rng.integers(0, 2)),
                         "group_messages": int(rng.integers(0, 5)), "cs_contacts": int(rng.integers(0, 2)),
                         "refunds": int(rng.integers(0, 2))})
        for k in range(int(rng.integers(0, 6))):
            orders.append({"one_id": f"u{p:02d}", "order_id": f"o{p:02d}{k}",
                           "amount": Decimal(int(rng.integers(1, 100_000))) / 100,
                           "coupon_id": [None, "", "cp1"][int(rng.integers(3))], "dt": d(int(rng.integers(-10, 500)))})
    edge = [("e1", 29), ("e1", 30), ("e1", 89), ("e1", 90), ("e1", 364), ("e1", 365), ("e1", 0), ("e1", -1),
            ("e2", 400), ("e2", 0), ("e2", 0)]  # e2 has two rows on as_of (a OneID merge)
    for p, n in edge:
        days.append({"one_id": p, "dt": d(n), "active": True, "interactions": 1, "content_reads": 1, "shares": 1,
                     "group_messages": 1, "cs_contacts": 1, "refunds": 1})
    days.append({"one_id": None, "dt": d(1), "active": True, "interactions": 5, "content_reads": 0, "shares": 0,
                 "group_messages": 0, "cs_contacts": 0, "refunds": 0})
    for k, n in enumerate((29, 30, 89, 90, 364, 365, 0, -1)):
        orders.append({"one_id": "e1", "order_id": f"e1o{k}", "amount": Decimal("10.01"), "coupon_id": "c",
                       "dt": d(n)})
    orders.append({"one_id": "e3", "order_id": "e3o", "amount": Decimal("0.10"), "coupon_id": "", "dt": d(5)})
    orders.append({"one_id": "e4", "order_id": "e4o", "amount": Decimal("5.00"), "coupon_id": None, "dt": d(-3)})
    orders.append({"one_id": None, "order_id": "no", "amount": Decimal("7.00"), "coupon_id": None, "dt": d(1)})
    return days, orders


def reference(days: list[dict[str, Any]], orders: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The features by their definitions, one person at a time, in plain Python."""
    def within(dt: date, n: int) -> bool:
        return AS_OF - timedelta(days=n) < dt <= AS_OF

    def capped(day: date | None) -> int:
        return DAY_CAP if day is None else min((AS_OF - day).days, DAY_CAP)

    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in days:
        if r["one_id"] is not None and r["dt"] <= AS_OF:
            by_person[r["one_id"]].append(r)
    orders_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in orders:
        if o["one_id"] is not None and o["dt"] <= AS_OF:
            orders_of[o["one_id"]].append(o)
    out = {}
    for p in sorted(set(by_person) | set(orders_of)):
        rows, ords = by_person[p], orders_of[p]
        firsts = [r["dt"] for r in rows] + [o["dt"] for o in ords]
        active = {r["dt"] for r in rows if r["active"]}
        gmv365 = sum((o["amount"] for o in ords if within(o["dt"], 365)), Decimal(0))
        n365 = sum(1 for o in ords if within(o["dt"], 365))

        def total(col: str, n: int, rows: list[dict[str, Any]] = rows) -> int:
            return sum(r[col] for r in rows if within(r["dt"], n))

        out[p] = {
            "recency_days": capped(max((o["dt"] for o in ords), default=None)),
            "days_since_interaction": capped(max(active, default=None)),
            "tenure_days": capped(min(firsts)),
            "orders_90d": sum(1 for o in ords if within(o["dt"], 90)), "orders_365d": n365,
            "gmv_90d": float(sum((o["amount"] for o in ords if within(o["dt"], 90)), Decimal(0))),
            "gmv_365d": float(gmv365), "aov_365d": float(gmv365) / n365 if n365 else 0.0,
            "active_days_30d": sum(1 for x in active if within(x, 30)),
            "active_days_90d": sum(1 for x in active if within(x, 90)),
            "interactions_90d": total("interactions", 90), "content_reads_90d": total("content_reads", 90),
            "shares_90d": total("shares", 90), "group_messages_90d": total("group_messages", 90),
            "cs_contacts_90d": total("cs_contacts", 90), "refunds_365d": total("refunds", 365),
            "coupon_orders_365d": sum(1 for o in ords if within(o["dt"], 365) and o["coupon_id"]),
        }
    return out


def test_features_equal_the_reference_on_both_engines(engine: Engine) -> None:
    days, orders = _world()
    engine.register_arrow("user_daily", pa.Table.from_pylist(days, schema=USER_DAILY))
    engine.register_arrow("orders", pa.Table.from_pylist(orders, schema=ORDERS))
    got = cluster_features(engine, AS_OF)
    want = reference(days, orders)
    assert got.column_names == ["one_id", *FEATURES]
    assert got.column("one_id").to_pylist() == sorted(want)
    rows = {r["one_id"]: r for r in got.to_pylist()}
    for p, features in want.items():
        assert {f: rows[p][f] for f in FEATURES} == features, p  # exact: decimals summed, then one division
    # the hand-made edges, spelled out
    assert rows["e1"]["active_days_30d"] == 2 and rows["e1"]["active_days_90d"] == 4   # 0, 29 | + 30, 89
    assert rows["e1"]["orders_365d"] == 6 and rows["e1"]["recency_days"] == 0          # −1 is after as_of
    assert rows["e2"]["active_days_30d"] == 1 and rows["e2"]["interactions_90d"] == 2  # two rows, one day
    assert rows["e2"]["tenure_days"] == DAY_CAP and rows["e2"]["recency_days"] == DAY_CAP
    assert rows["e3"]["days_since_interaction"] == DAY_CAP and rows["e3"]["coupon_orders_365d"] == 0
    assert "e4" not in rows  # only an order after as_of


def test_features_are_only_from_data_up_to_as_of(engine: Engine) -> None:
    """Adding and changing rows after as_of leaves every feature unchanged."""
    days, orders = _world(seed=5)
    engine.register_arrow("user_daily", pa.Table.from_pylist(days, schema=USER_DAILY))
    engine.register_arrow("orders", pa.Table.from_pylist(orders, schema=ORDERS))
    before = cluster_features(engine, AS_OF)
    later_days = [dict(r, interactions=99, active=True) if r["dt"] > AS_OF else r for r in days]
    later_days += [{**days[0], "one_id": "late", "dt": d(-1)}]
    later_orders = [*orders, {"one_id": "u01", "order_id": "x", "amount": Decimal("1.00"), "coupon_id": "c",
                              "dt": d(-2)}]
    engine.register_arrow("user_daily", pa.Table.from_pylist(later_days, schema=USER_DAILY))
    engine.register_arrow("orders", pa.Table.from_pylist(later_orders, schema=ORDERS))
    assert cluster_features(engine, AS_OF).equals(before)
    assert cluster_features(engine, AS_OF + timedelta(days=2)) != before  # a test that can fail


@pytest.mark.parametrize("as_of", [date(2024, 1, 1), date(2024, 6, 30)])
def test_empty_views_give_no_people(engine: Engine, as_of: date) -> None:
    engine.register_arrow("user_daily", USER_DAILY.empty_table())
    engine.register_arrow("orders", ORDERS.empty_table())
    got = cluster_features(engine, as_of)
    assert got.num_rows == 0 and got.column_names == ["one_id", *FEATURES]


def test_fit_score_and_drift_columns_on_the_engine(engine: Engine) -> None:
    """The registry's steps: fit from the views, score everyone as of a day, and the drift columns."""
    days, orders = _world(seed=7)
    engine.register_arrow("user_daily", pa.Table.from_pylist(days, schema=USER_DAILY))
    engine.register_arrow("orders", pa.Table.from_pylist(orders, schema=ORDERS))
    model = fit_clusters(engine, AS_OF, ClusterConfig(k_min=2, k_max=4, n_init=3))
    features = cluster_features(engine, AS_OF)
    assert model.as_of == AS_OF and model.metrics["people"] == features.num_rows
    scored = score_clusters(engine, model)
    assert scored.drop_columns(["as_of"]).equals(model.predict(features))
    assert set(scored.column("as_of").to_pylist()) == {AS_OF}
    drift = cluster_drift_columns(engine, model, AS_OF)
    assert set(drift) == {*model.features, "distance"}
    assert np.array_equal(drift["gmv_365d"], np.asarray(features.column("gmv_365d")))
