"""Touchpoints from the lake (触点明细): the touches table for attribution, on DuckDB and Spark.

Three kinds of check: a hand-worked world (every edge case of the journey rules, on both engines); an
independent pandas reference written as per-order Python loops on the demo lake; and the demo world's
planted campaign effects, which the touches must carry (timing of conversions after a touch) and which
Markov and Shapley credit must reflect (the placebo campaign against the strongest ones).
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import spearmanr

from siyu.core.errors import SiyuError
from siyu.measure.attribution import Journeys, Markov, Shapley
from siyu.measure.touchpoints import (
    DEFAULT_TOUCH_RULES,
    BadTouchConfig,
    TouchpointConfig,
    touches_sql,
    touches_table,
    write_touches,
)
from siyu.profile.views import register_profile_sources
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.layers.dws import BRAND_SIDE_EVENTS
from tests.measure.measure_reference import TZ, at, events_table

# --- a hand-worked world --------------------------------------------------------------------------------------
# Data end 2026-04-30 (the last event day), lookback 30 days. Person a buys twice two days apart;
# b, e, f, g and h never buy; c buys with no touch before; d is a gold member (4 orders, 2,400 in
# January) gone quiet since then, who buys again on 04-20; i just misses gold. Flags are as of the day
# before a journey's window opens: conversion day − 31 days, or 03-31 for non-converting window 0.

WECOM = {"channel": "wecom", "campaign_id": "cmp_1"}
EVENTS = [
    ("a", "message_delivered", "2026-03-11 12:00", WECOM),  # exactly A1 − 30 days: in A1
    ("a", "group_joined", "2026-03-11 11:59", {"group_id": "g1"}),  # a minute earlier: in no journey
    ("a", "cs_consulted", "2026-04-05 09:00"),
    ("a", "article_read", "2026-04-10 12:00", {"content_id": "c1"}),  # at A1's instant: not A1's, A2's
    ("a", "wecom_friend_added", "2026-04-11 08:00", {"channel": "douyin", "state": "dy_ad_001"}),
    ("a", "video_played", "2026-04-12 12:00", {"content_id": "c2"}),  # at A2's instant: no journey holds it
    ("a", "product_viewed", "2026-04-11 09:00", {"sku": "S1"}),  # not a touch
    ("a", "coupon_issued", "2026-04-09 09:00", {"campaign_id": "cmp_1"}),  # not a touch
    # b: page views 10 min apart are one session, 2 h apart two; exactly 30 min apart still one
    ("b", "mp_page_viewed", "2026-04-20 10:00"), ("b", "mp_page_viewed", "2026-04-20 10:10"),
    ("b", "mp_page_viewed", "2026-04-20 12:10"), ("b", "mp_page_viewed", "2026-04-20 12:35"),
    ("b", "mp_page_viewed", "2026-04-21 08:00"), ("b", "mp_page_viewed", "2026-04-21 08:30"),
    ("b", "message_delivered", "2026-04-25 09:00", {"channel": "sms", "campaign_id": "cmp_2"}),
    ("b", "group_message_sent", "2026-03-15 20:00", {"group_id": "g1"}),
    ("b", "store_visited", "2026-04-22 15:00", {"store_id": "s1"}),
    ("c", "product_viewed", "2026-04-19 10:00", {"sku": "S2"}),
    ("d", "content_shared", "2026-04-18 21:00", {"content_id": "c3"}),
    ("d", "product_viewed", "2026-03-21 08:00", {"sku": "S3"}),  # the day D5's window opens: after its as-of day
    # e was last active 120 days before its window (churned, not silent); f 44 days before (silent)
    ("e", "product_viewed", "2025-12-01 10:00", {"sku": "S1"}),
    ("e", "article_read", "2026-04-25 10:00", {"content_id": "c1"}),
    ("f", "product_viewed", "2026-02-15 10:00", {"sku": "S1"}),
    ("f", "article_read", "2026-04-25 10:00", {"content_id": "c1"}),
    ("f", "wecom_friend_added", "2026-04-26 10:00", {"channel": "", "state": "qr_store_001"}),  # empty channel
    ("f", "live_viewed", "2026-04-30 23:00"),
    # g was active on its window's as-of day (03-31): idle 0; h exactly 30 days before it: silent
    ("g", "product_viewed", "2026-03-01 10:00"), ("g", "product_viewed", "2026-03-31 22:00"),
    ("g", "article_read", "2026-04-25 11:00", {"content_id": "c1"}),
    ("h", "product_viewed", "2026-03-01 10:00"), ("h", "article_read", "2026-04-25 12:00", {"content_id": "c1"}),
    ("i", "content_shared", "2026-04-18 21:00", {"content_id": "c3"}),
]
ORDERS = [
    ("a", "A1", "2026-04-10 12:00", "100"), ("a", "A2", "2026-04-12 12:00", "50"),
    ("c", "C1", "2026-04-20 15:00", "80"),
    ("d", "D1", "2026-01-05 10:00", "600"), ("d", "D2", "2026-01-06 10:00", "600"),
    ("d", "D3", "2026-01-07 10:00", "600"), ("d", "D4", "2026-01-08 10:00", "600"),
    ("d", "D5", "2026-04-20 10:00", "300"),
    # i: 4 orders, 2,400, but the first exactly 365 days before I5's as-of day (03-20): outside the tier window
    ("i", "I1", "2025-03-20 10:00", "600"), ("i", "I2", "2025-03-21 10:00", "600"),
    ("i", "I3", "2025-03-22 10:00", "600"), ("i", "I4", "2025-03-23 10:00", "600"),
    ("i", "I5", "2026-04-20 10:00", "300"),
]
ORDERS_SCHEMA = pa.schema([("one_id", pa.string()), ("order_id", pa.string()), ("amount", pa.decimal128(18, 2)),
                           ("paid_at", pa.timestamp("us", tz="UTC")), ("dt", pa.date32())])


def orders_table(rows: list[tuple[str, str, str, str]]) -> pa.Table:
    return pa.Table.from_pylist([{"one_id": p, "order_id": o, "amount": Decimal(a), "paid_at": at(t),
                                  "dt": at(t).date()} for p, o, t, a in rows], schema=ORDERS_SCHEMA)


def _register(engine: Engine) -> None:
    engine.register_arrow("events", events_table(EVENTS))
    engine.register_arrow("orders", orders_table(ORDERS))


Row = tuple[str, str, datetime, str, bool, float, datetime | None, bool, bool]


def _utc(t: Any) -> datetime | None:
    return None if t is None else t.astimezone(UTC)


def _rows(table: pa.Table) -> list[Row]:
    cols = ("journey_id", "channel", "touch_time", "touch_type", "converted", "conversion_value", "conversion_time",
            "is_vip", "is_silent")
    return [(r["journey_id"], r["channel"], _utc(r["touch_time"]), r["touch_type"], r["converted"],
             r["conversion_value"], _utc(r["conversion_time"]), r["is_vip"], r["is_silent"])
            for r in table.select(cols).to_pylist()]


def _expect(journeys: dict[str, tuple[Any, ...]], touches: list[tuple[str, str, str, str]]) -> list[Row]:
    """``journeys``: id → (value, conversion time or None, vip, silent); ``touches``: (id, channel, time, type)."""
    out = []
    for jid, channel, when, ttype in touches:
        value, conv, vip, silent = journeys[jid]
        out.append((jid, channel, _utc(at(when)), ttype, conv is not None, float(value),
                    _utc(at(conv)) if conv else None, vip, silent))
    return sorted(out, key=lambda r: (r[0], r[2], r[1], r[3]))


CONVERTING = {"c:a:A1": (100, "2026-04-10 12:00", False, False), "c:a:A2": (50, "2026-04-12 12:00", False, False),
              "c:d:D5": (300, "2026-04-20 10:00", True, True), "c:i:I5": (300, "2026-04-20 10:00", False, False)}
NON_CONVERTING = {"n:a:0": (0, None, False, False), "n:a:1": (0, None, False, False),
                  "n:b:0": (0, None, False, False), "n:b:1": (0, None, False, False),
                  "n:e:0": (0, None, False, False), "n:f:0": (0, None, False, True),
                  "n:g:0": (0, None, False, False), "n:h:0": (0, None, False, True)}
A1 = [("c:a:A1", "wecom", "2026-03-11 12:00", "campaign"),
      ("c:a:A1", "customer_service", "2026-04-05 09:00", "cs_chat")]
A2 = [("c:a:A2", "content", "2026-04-10 12:00", "content"), ("c:a:A2", "douyin", "2026-04-11 08:00", "qr_code")]
D5_I5 = [("c:d:D5", "content", "2026-04-18 21:00", "content"), ("c:i:I5", "content", "2026-04-18 21:00", "content")]
B0 = [("n:b:0", "mini_program", "2026-04-20 10:00", "mini_program"),
      ("n:b:0", "mini_program", "2026-04-20 12:10", "mini_program"),
      ("n:b:0", "mini_program", "2026-04-21 08:00", "mini_program"), ("n:b:0", "sms", "2026-04-25 09:00", "campaign")]
E0F0 = [("n:e:0", "content", "2026-04-25 10:00", "content"), ("n:f:0", "content", "2026-04-25 10:00", "content"),
        ("n:f:0", "qr_store_001", "2026-04-26 10:00", "qr_code"), ("n:f:0", "content", "2026-04-30 23:00", "content"),
        ("n:g:0", "content", "2026-04-25 11:00", "content"), ("n:h:0", "content", "2026-04-25 12:00", "content")]
OTHERS = [("n:a:0", "content", "2026-04-12 12:00", "content"), ("n:a:1", "community", "2026-03-11 11:59", "group_join"),
          ("n:b:1", "community", "2026-03-15 20:00", "interaction")]
EXPECTED = _expect(CONVERTING | NON_CONVERTING, A1 + A2 + D5_I5 + B0 + E0F0 + OTHERS)


def test_hand_worked_touches(engine: Engine) -> None:
    _register(engine)
    got = touches_table(engine)
    assert _rows(got) == EXPECTED
    # the engine's own order is already journey, time, channel: the models skip their sort
    assert got.column("journey_id").to_pylist() == sorted(got.column("journey_id").to_pylist())
    journeys = Journeys.from_table(got)
    assert journeys.n_journeys == 12 and int(journeys.converted.sum()) == 4


def test_shared_touches_and_last_window(engine: Engine) -> None:
    _register(engine)
    shared = touches_table(engine, {"overlap": "shared", "non_converting": "last_window"})
    # cs 04-05 is within 30 days of both A1 and A2 and counts for both; only never-buyers' last window stays
    a2 = [("c:a:A2", "customer_service", "2026-04-05 09:00", "cs_chat"), *A2]
    expected = _expect(CONVERTING | NON_CONVERTING, A1 + a2 + D5_I5 + B0 + E0F0)
    assert _rows(shared) == expected


def test_groupings_and_lookback(engine: Engine) -> None:
    _register(engine)
    by_campaign = {(r[0], r[2]): r[1] for r in _rows(touches_table(engine, {"grouping": "campaign"}))}
    assert by_campaign[("c:a:A1", _utc(at("2026-03-11 12:00")))] == "cmp_1"  # the campaign where there is one
    assert by_campaign[("n:b:0", _utc(at("2026-04-25 09:00")))] == "cmp_2"
    assert by_campaign[("c:a:A2", _utc(at("2026-04-11 08:00")))] == "douyin"  # else the family
    by_type = _rows(touches_table(engine, {"grouping": "touch_type"}))
    assert all(r[1] == r[3] for r in by_type) and len(by_type) == len(EXPECTED)
    # 15 days: A1 keeps only cs 04-05; the 03-11 delivery falls in window ⌊50.5 / 15⌋ = 3
    short = _rows(touches_table(engine, {"lookback_days": 15, "flags": False}))
    a1 = [r for r in short if r[0] == "c:a:A1"]
    assert [(r[1], r[2]) for r in a1] == [("customer_service", _utc(at("2026-04-05 09:00")))]
    assert ("n:a:3", "wecom") in {(r[0], r[1]) for r in short}
    assert not any(r[7] or r[8] for r in short)  # flags off: all false


def test_event_conversions(engine: Engine) -> None:
    _register(engine)
    rules = {k: v for k, v in DEFAULT_TOUCH_RULES.items() if k != "group_message_sent"}
    got = _rows(touches_table(engine, {"conversion": {"source": "event", "event": "store_visited"},
                                       "touches": rules, "flags": False}))
    b = [r for r in got if r[0] == "c:b:1"]  # b's first (only) store visit, 04-22 15:00, value 0
    assert [r[2] for r in b] == [_utc(at(t)) for t in ("2026-04-20 10:00", "2026-04-20 12:10", "2026-04-21 08:00")]
    assert all(r[4] and r[5] == 0.0 and r[6] == _utc(at("2026-04-22 15:00")) for r in b)
    assert not any(r[0].startswith("c:a:") for r in got)  # orders do not convert here


def test_write_touches(engine: Engine, tmp_path: Path) -> None:
    _register(engine)
    out = write_touches(engine, None, tmp_path / "touches")
    files = sorted(str(p) for p in out.rglob("*.parquet"))
    back = pa.concat_tables([pq.read_table(f) for f in files])
    assert _rows(back) == EXPECTED


def test_config_is_checked() -> None:
    with pytest.raises(BadTouchConfig) as exc:
        TouchpointConfig(lookback_days=45)
    assert exc.value.code == "bad_lookback_window" and exc.value.input_name == "lookback_days"
    with pytest.raises(BadTouchConfig, match="advised 15–30"):
        TouchpointConfig.parse({"lookback_days": 14})
    assert TouchpointConfig(lookback_days=7, allow_any_window=True).lookback_days == 7
    with pytest.raises(BadTouchConfig, match="between 1 and"):
        TouchpointConfig(lookback_days=0, allow_any_window=True)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"lookbak_days": 20}, "lookbak_days"),
        ({"grouping": "staff"}, "grouping"),
        ({"touches": {"order_paid": {"touch_type": "payment", "channel": "pay"}}}, "config"),
        ({"touches": {}}, "config"),
        ({"touches": {"mp_page_viewed": {"touch_type": "mp", "channel": "mp", "channel_columns": ["bogus"]}}},
         "touches.mp_page_viewed.channel_columns"),
        ({"conversion": {"source": "event"}}, "conversion"),
        ({"vip_tier": "platinum"}, "config"),
    ]
    for config, field in bad:
        with pytest.raises(BadTouchConfig) as exc:
            TouchpointConfig.parse(config)
        assert exc.value.code == "bad_touch_config" and exc.value.input_name == field, (config, exc.value)


def test_values_are_bound_not_pasted() -> None:
    rules = {"weird'event": {"touch_type": "x'); DROP TABLE events; --", "channel": "c'"}}
    sql, params = touches_sql(TouchpointConfig.parse({"touches": rules}), date(2026, 4, 30))
    assert "weird" not in sql and "DROP" not in sql and "c'" not in sql
    assert {"weird'event", "x'); DROP TABLE events; --", "c'"} <= set(params.values())


def test_empty_events_is_an_error() -> None:
    eng = open_engine("duckdb")
    eng.register_arrow("events", events_table([]))
    eng.register_arrow("orders", orders_table([]))
    with pytest.raises(SiyuError) as exc:
        touches_table(eng)
    assert exc.value.code == "no_data"


# --- the demo lake: an independent reference ----------------------------------------------------------------

SESSION_EVENTS = {e: r.session_minutes for e, r in DEFAULT_TOUCH_RULES.items() if r.session_minutes}


def _read(lake: Any, table: str, columns: list[str]) -> pd.DataFrame:
    df = pq.read_table(lake.files("dwd", table), columns=columns, partitioning="hive").to_pandas()
    df["dt"] = pd.to_datetime(df["dt"].astype(str)).dt.date
    red = pq.read_table(lake.files("identity", "redirects")).to_pandas()
    moved = dict(zip(red["from_one_id"], red["to_one_id"], strict=True))
    df["one_id"] = df["one_id"].map(lambda x: moved.get(x, x))
    return df[df["one_id"].notna()].reset_index(drop=True)


def _family(event: str, rec: dict[str, Any]) -> str:
    rule = DEFAULT_TOUCH_RULES[event]
    for col in rule.channel_columns:
        value = rec.get(col)
        if isinstance(value, str) and value:
            return value
    return rule.channel


def reference_touches(lake: Any, lookback_days: int = 30) -> list[Row]:
    """The default touches table, person by person and order by order, in plain Python."""
    ev = _read(lake, "events", ["one_id", "event", "event_time", "dt", "channel", "state", "campaign_id"])
    orders = _read(lake, "orders", ["one_id", "order_id", "paid_at", "amount", "dt"])
    last = max(ev["dt"])
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=TZ)
    lookback = timedelta(days=lookback_days)
    day0 = date(2000, 1, 1)

    touches: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    pages: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    active_days: dict[str, set[int]] = defaultdict(set)
    for person, event, dt in zip(ev["one_id"], ev["event"], ev["dt"], strict=True):
        if event not in BRAND_SIDE_EVENTS:
            active_days[person].add((dt - day0).days)
    ev = ev[ev["event"].isin(list(DEFAULT_TOUCH_RULES)) & ev["event_time"].notna()]
    for rec in ev.to_dict("records"):
        person, event, t = rec["one_id"], rec["event"], rec["event_time"].to_pydatetime()
        if event in SESSION_EVENTS:
            pages[(person, event)].append(t)
        else:
            touches[person].append((t, _family(event, rec), DEFAULT_TOUCH_RULES[event].touch_type))
    for (person, event), times in pages.items():
        limit = timedelta(minutes=SESSION_EVENTS[event])
        times.sort()
        for i, t in enumerate(times):
            if i == 0 or t - times[i - 1] > limit:
                touches[person].append((t, DEFAULT_TOUCH_RULES[event].channel, DEFAULT_TOUCH_RULES[event].touch_type))

    bought: dict[str, list[tuple[datetime, str, float, int]]] = defaultdict(list)
    for rec in orders.to_dict("records"):
        day = (rec["dt"] - day0).days
        active_days[rec["one_id"]].add(day)
        bought[rec["one_id"]].append((rec["paid_at"].to_pydatetime(), rec["order_id"], float(rec["amount"]), day))

    def flags(person: str, as_of_day: int) -> tuple[bool, bool]:
        spend = [v for _, _, v, d in bought.get(person, []) if as_of_day - 365 < d <= as_of_day]
        days = sorted(d for d in active_days.get(person, ()) if d <= as_of_day)
        idle = as_of_day - days[-1] if days else None
        return (sum(spend) >= 2000 and len(spend) >= 4), (idle is not None and 30 <= idle < 90)

    out: list[Row] = []
    for person, mine in touches.items():
        mine.sort()
        times = [t for t, _, _ in mine]
        used: set[int] = set()
        prev: datetime | None = None
        for paid, order_id, amount, day in sorted(bought.get(person, [])):
            lo = max(paid - lookback, prev) if prev is not None else paid - lookback
            prev = paid
            vip, silent = flags(person, day - lookback_days - 1)
            for i in range(bisect.bisect_left(times, lo), bisect.bisect_left(times, paid)):
                used.add(i)
                out.append((f"c:{person}:{order_id}", mine[i][1], times[i].astimezone(UTC), mine[i][2], True, amount,
                            paid.astimezone(UTC), vip, silent))
        for i, (t, channel, ttype) in enumerate(mine):
            if i not in used:
                k = (end - t) // lookback
                vip, silent = flags(person, (last - day0).days - (k + 1) * lookback_days)
                out.append((f"n:{person}:{k}", channel, t.astimezone(UTC), ttype, False, 0.0, None, vip, silent))
    return sorted(out, key=lambda r: (r[0], r[2], r[1], r[3]))


@pytest.fixture(scope="module")
def demo_engine(demo: dict[str, Any]) -> Engine:
    eng = open_engine("duckdb")
    register_profile_sources(eng, demo["lake"])
    return eng


def test_demo_lake_matches_the_reference(demo: dict[str, Any], demo_engine: Engine) -> None:
    got = _rows(touches_table(demo_engine))
    expected = reference_touches(demo["lake"])
    assert len(got) > 100_000
    # same rows in the same order (the engine's order is checked, not just the multiset)
    assert [r[:5] + r[6:] for r in got] == [r[:5] + r[6:] for r in expected]
    assert np.allclose([r[5] for r in got], [r[5] for r in expected], rtol=0, atol=1e-9)
    assert any(r[7] for r in got) and any(r[8] for r in got)  # both flags occur in the demo


# --- the demo world's planted campaign effects ----------------------------------------------------------------


@pytest.fixture(scope="module")
def truth(demo: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = json.loads((demo["root"] / "world" / "truth" / "params.json").read_text())
    return params


def _gamma_survival(days: float, truth: dict[str, Any]) -> float:
    """E[exp(−λ·days)] for the planted purchase rate λ ~ Gamma(r, rate α) (the Laplace transform)."""
    r, alpha = truth["bg_nbd"]["r"], truth["bg_nbd"]["alpha"]
    return float((alpha / (alpha + days)) ** r)


def test_touches_carry_the_planted_boost(demo_engine: Engine, truth: dict[str, Any]) -> None:
    """A delivered message multiplies the purchase rate by 1 + effect for 14 days, so a campaign's touches
    are followed by their next conversion within 14 days more often than within the 14 days after that.

    For a person with rate λ the next conversion lands in (0, 14] with probability 1 − e^{−14λ(1+e)} and in
    (14, 28] with e^{−14λ(1+e)} − e^{−14λ(2+e)}; averaged over the planted Gamma(r, α) rates, the ratio is
    1.57 with no effect and 2.87 at effect 0.65. The touches table pairs each touch with its next
    conversion, so the observed ratio per campaign must follow the planted effect. The A/B campaign (its
    lift is an extra order, not a rate multiplier) and campaigns sent less than 28 days before the data
    end (censored) are left out.
    """
    got = touches_table(demo_engine, {"grouping": "campaign"}).to_pandas()
    conv = got[(got["touch_type"] == "campaign") & got["converted"]]
    age = (conv["conversion_time"] - conv["touch_time"]).dt.total_seconds() / 86_400
    end = date.fromisoformat(truth["start"]) + timedelta(days=truth["days"])
    effect, observed, theory = {}, {}, {}
    for c in truth["campaigns"]:
        sent = date.fromisoformat(c["send_date"])
        if c["is_ab_test"] or (end - sent).days < 29:
            continue
        mine = age[conv["channel"] == c["campaign_id"]]
        observed[c["campaign_id"]] = float((mine <= 14).sum() / ((mine > 14) & (mine <= 28)).sum())
        boosted = 14 * (1 + c["effect"])
        s14 = _gamma_survival(boosted, truth)
        theory[c["campaign_id"]] = (1 - s14) / (s14 - _gamma_survival(boosted + 14, truth))
        effect[c["campaign_id"]] = c["effect"]
    ids = sorted(effect)
    assert len(ids) == 10
    # one-sided 1% critical value of Spearman's rho for n = 10 is 0.745; the demo gives 0.95
    rho = spearmanr([effect[c] for c in ids], [observed[c] for c in ids]).statistic
    assert rho >= 0.745, (rho, observed)
    # each campaign within 30% of the ratio its planted effect predicts (the demo: 0.74–0.92 of it);
    # the theory ignores dropout and audience selection, so no tighter than that
    for c in ids:
        assert 0.7 <= observed[c] / theory[c] <= 1.3, (c, observed[c], theory[c])


def test_markov_and_shapley_credit_the_placebo_less(demo_engine: Engine, truth: dict[str, Any]) -> None:
    """Credit per delivered message: the placebo campaign (effect 0) well below the three strongest.

    The lookback is 15 days, the shortest the reports advise and the first to cover the planted 14-day
    effect. If credit per touch followed the conversion probability within the window, the placebo would
    get (1 − E e^{−15λ}) / (1 − E e^{−λ(14·1.67 + 1)}) ≈ 0.71 of the strong campaigns' credit. With 30
    days the same ratio is 0.85 in theory and 0.88–0.91 in the demo: the planted effects are then too
    small beside the differences between campaign audiences (channel, send date), and no model ranks all
    twelve (Spearman 0.17–0.57). At 15 days the demo gives 0.53 (Markov) and 0.73 (Shapley); 0.85 leaves room
    for audience differences while staying far from parity.

    The A/B campaign is not a zero-effect campaign here: the world adds a 3-point absolute lift in 14-day
    conversion to its treated half (truth ``ab_test.true_ate``), and its audience is every eligible WeCom
    contact, so attribution rightly credits it like a mid-strength campaign; it is left out.
    """
    table = touches_table(demo_engine, {"grouping": "campaign", "lookback_days": 15})
    channels = table.column("channel").to_numpy(zero_copy_only=False)
    campaigns = {c["campaign_id"]: c for c in truth["campaigns"] if not c["is_ab_test"]}
    placebo = [k for k, c in campaigns.items() if c["effect"] == 0]
    strongest = sorted(campaigns, key=lambda k: -campaigns[k]["effect"])[:3]
    assert len(placebo) == 1 and min(campaigns[k]["effect"] for k in strongest) >= 0.6
    touches = {k: int((channels == k).sum()) for k in campaigns}
    for model in (Markov(), Shapley()):
        credit = model.fit(table).credits()
        per_touch = {k: credit[k] / touches[k] for k in campaigns}
        ratio = per_touch[placebo[0]] / np.mean([per_touch[k] for k in strongest])
        assert ratio <= 0.85, (model.lookup_name, ratio, per_touch)
