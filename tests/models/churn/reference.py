"""Independent references for the warning-model features, used only by tests.

``features_reference`` implements docs/churn.md's feature definitions person by person in pandas (no SQL,
no shared helper with the library), so an error in the engine SQL cannot hide in code both sides use.
``UD_SCHEMA`` / ``EV_SCHEMA`` describe small lake-shaped ``user_daily`` and ``events`` views.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from siyu.warehouse.engine import Engine

COUNTS = ("events", "interactions", "page_views", "product_views", "cart_adds", "orders", "refunds", "content_reads",
          "shares", "group_messages", "cs_contacts", "messages_delivered", "messages_clicked", "store_visits")
UD_SCHEMA = pa.schema(
    [("one_id", pa.string())] + [(c, pa.int64()) for c in COUNTS[:2]] + [("active", pa.bool_())]
    + [(c, pa.int64()) for c in COUNTS[2:6]] + [("gmv", pa.decimal128(18, 2))]
    + [(c, pa.int64()) for c in COUNTS[6:8]] + [("read_seconds", pa.float64())]
    + [(c, pa.int64()) for c in COUNTS[8:]]
    + [("first_event_at", pa.timestamp("us", tz="UTC")), ("last_event_at", pa.timestamp("us", tz="UTC")),
       ("dt", pa.date32())])
EV_SCHEMA = pa.schema([("one_id", pa.string()), ("event", pa.string()), ("dt", pa.date32()),
                       ("satisfaction", pa.int32()), ("response_seconds", pa.float64())])


def daily_row(one_id: str, dt: date, **values: Any) -> dict[str, Any]:
    """One user_daily row; counts default to 0 and ``active`` to interactions > 0."""
    row: dict[str, Any] = {c: 0 for c in COUNTS}
    row.update(one_id=one_id, dt=dt, gmv=Decimal("0"), read_seconds=0.0, first_event_at=None, last_event_at=None)
    row.update(values)
    row["gmv"] = Decimal(str(row["gmv"]))
    row["active"] = values.get("active", row["interactions"] > 0)
    return row


def register(engine: Engine, daily: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    """Register ``user_daily`` and ``events`` views from rows."""
    engine.register_arrow("user_daily", pa.Table.from_pylist(daily, schema=UD_SCHEMA))
    engine.register_arrow("events", pa.Table.from_pylist(events, schema=EV_SCHEMA))


def random_world(seed: int, people: int = 40, start: date = date(2026, 1, 1), days: int = 140,
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A random sparse world: per person a first day, a daily activity rate and random counts."""
    rng = np.random.default_rng(seed)
    daily, events = [], []
    for k in range(people):
        pid = f"p{k:03d}"
        first = int(rng.integers(0, days))
        rate = float(rng.uniform(0.05, 0.6))
        for d in range(first, days):
            if rng.random() > rate:
                continue
            day = start + timedelta(days=d)
            inter = int(rng.poisson(1.5)) if rng.random() < 0.85 else 0
            orders = int(rng.random() < 0.08)
            daily.append(daily_row(
                pid, day, interactions=inter, product_views=int(rng.poisson(0.5)), cart_adds=int(rng.poisson(0.2)),
                orders=orders, gmv=round(float(rng.uniform(10, 300)), 2) * orders, refunds=int(rng.random() < 0.02),
                content_reads=int(rng.poisson(0.3)), read_seconds=round(float(rng.exponential(40)), 1),
                shares=int(rng.poisson(0.1)), group_messages=int(rng.poisson(0.3)), cs_contacts=int(rng.poisson(0.2)),
                messages_delivered=int(rng.poisson(0.3)), messages_clicked=int(rng.poisson(0.05)),
                store_visits=int(rng.poisson(0.1))))
            for _ in range(int(rng.poisson(0.4))):
                name = str(rng.choice(["cs_consulted", "coupon_issued", "coupon_redeemed", "wecom_friend_deleted",
                                       "group_left", "unsubscribed", "article_read"],
                                      p=[0.4, 0.25, 0.15, 0.05, 0.05, 0.05, 0.05]))
                sat = int(rng.integers(1, 6)) if name == "cs_consulted" and rng.random() < 0.8 else None
                resp = round(float(rng.exponential(60)), 1) if name == "cs_consulted" else None
                events.append({"one_id": pid, "event": name, "dt": day, "satisfaction": sat,
                               "response_seconds": resp})
    return daily, events


def _window_sum(g: pd.DataFrame, col: str, w: int | None) -> float:
    return float(g.loc[g["age"] < w, col].sum()) if w is not None else float(g[col].sum())


def features_reference(daily: list[dict[str, Any]], events: list[dict[str, Any]], as_of: date,
                       population_days: int | None = None) -> pd.DataFrame:
    """The feature table at ``as_of``, person by person, from the definitions (floats; NaN when undefined)."""
    ud = pd.DataFrame(daily)
    ud = ud[ud["dt"] <= as_of].copy()
    ud["age"] = [(as_of - d).days for d in ud["dt"]]
    ud["gmv"] = ud["gmv"].astype(float)
    ev = pd.DataFrame(events, columns=["one_id", "event", "dt", "satisfaction", "response_seconds"])
    ev = ev[ev["dt"] <= as_of].copy()
    ev["age"] = [(as_of - d).days for d in ev["dt"]]
    windows = {"interactions": (7, 14, 30, 90), "active_days": (7, 14, 30, 90), "content_reads": (30, 90),
               "read_seconds": (30, 90), "shares": (30, 90), "group_messages": (30, 90), "cs_contacts": (30, 90),
               "messages_delivered": (30, 90), "messages_clicked": (30, 90), "product_views": (7, 30, 90),
               "cart_adds": (7, 30, 90), "orders": (30, 90), "gmv": (30, 90), "refunds": (90,),
               "store_visits": (30, 90)}
    rows = []
    for pid, g in ud.groupby("one_id"):
        act = g["active"] | (g["orders"] > 0)
        if population_days is not None and not (act & (g["age"] < population_days)).any():
            continue
        r: dict[str, Any] = {"one_id": pid, "as_of": as_of}
        for col, ws in windows.items():
            for w in ws:
                if col == "active_days":
                    r[f"active_days_{w}d"] = float(g.loc[(g["age"] < w) & g["active"], "dt"].nunique())
                else:
                    r[f"{col}_{w}d"] = _window_sum(g, col, w)
        last7 = g.loc[g["age"] < 7, "interactions"].sum()
        prev7 = g.loc[(g["age"] >= 7) & (g["age"] < 14), "interactions"].sum()
        last30 = g.loc[g["age"] < 30, "interactions"].sum()
        prev30 = g.loc[(g["age"] >= 30) & (g["age"] < 60), "interactions"].sum()
        r["interactions_trend_7d"] = (last7 + 1) / (prev7 + 1)
        r["interactions_trend_30d"] = (last30 + 1) / (prev30 + 1)
        for w in (30, 90):
            den = r[f"messages_delivered_{w}d"]
            r[f"push_response_rate_{w}d"] = r[f"messages_clicked_{w}d"] / den if den else np.nan
        shopping = (g["product_views"] + g["cart_adds"] + g["orders"]) > 0
        for name, mask in (("interaction", g["active"]), ("order", g["orders"] > 0), ("activity", act),
                           ("shopping", shopping)):
            r[f"days_since_last_{name}"] = float(g.loc[mask, "age"].min()) if mask.any() else np.nan
        r["tenure_days"] = float(g["age"].max())
        r["orders_total"] = float(g["orders"].sum())
        r["gmv_total"] = float(g["gmv"].sum())
        e = ev[ev["one_id"] == pid]
        cs = e[(e["event"] == "cs_consulted") & (e["age"] < 90)]
        sat = cs["satisfaction"].dropna()
        r["cs_satisfaction_avg_90d"] = float(sat.mean()) if len(sat) else np.nan
        r["cs_low_satisfaction_90d"] = float((sat <= 2).sum())
        resp = cs["response_seconds"].dropna()
        r["cs_response_seconds_avg_90d"] = float(resp.mean()) if len(resp) else np.nan

        def count(name: str, w: int | None, e: pd.DataFrame = e) -> float:
            sel = e["event"] == name
            return float((sel & (e["age"] < w)).sum()) if w is not None else float(sel.sum())

        for w in (30, 90):
            r[f"coupons_issued_{w}d"] = count("coupon_issued", w)
            r[f"coupons_redeemed_{w}d"] = count("coupon_redeemed", w)
        issued90 = r["coupons_issued_90d"]
        r["coupon_redeem_rate_90d"] = r["coupons_redeemed_90d"] / issued90 if issued90 else np.nan
        r["coupons_unused"] = max(count("coupon_issued", None) - count("coupon_redeemed", None), 0.0)
        for name in ("wecom_friend_deleted", "group_left", "unsubscribed"):
            r[name] = count(name, None)
        rows.append(r)
    return pd.DataFrame(rows)
