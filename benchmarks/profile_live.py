"""Segment size on the DuckDB lake, and real-time segment evaluation per event.

* :func:`segment_sizes`: ``siyu.profile.segments.segment_size`` for each rule of
  :data:`benchmarks.tag_set.SEGMENT_RULES`, once to warm up, then ``repeats`` times (median and max):
  first straight from the lake's Parquet (what ``siyu segment size`` does), then from a segment store
  built here (what ``siyu serve`` answers from; its build is timed too). Sizes must agree.
* :func:`realtime`: a :class:`SegmentWatcher` over :data:`benchmarks.tag_set.REALTIME_RULES`; the states
  of ``people`` people are loaded from the lake (fields, tags, events, orders, as "explain" reads them),
  placed in their segments with ``refresh``, then fed a deterministic stream of synthetic events spread
  over the two days after the lake's last day. Each ``on_event`` call is timed with ``perf_counter_ns``.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from benchmarks.tag_set import CATEGORIES, REALTIME_RULES, SEGMENT_RULES
from siyu.core.config import get_settings
from siyu.profile.rules import PersonState, SegmentWatcher, parse_rule
from siyu.profile.segments import SegmentContext, open_profile, people_data, segment_size
from siyu.serving.segment_store import build_segment_store, open_segment_store
from siyu.warehouse.lake import Lake


def _time_rules(ctx: SegmentContext, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, text in SEGMENT_RULES.items():
        rule = ctx.rule(text)
        t = time.perf_counter()
        size = segment_size(ctx, rule)
        first = time.perf_counter() - t
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            segment_size(ctx, rule)
            runs.append(time.perf_counter() - t)
        out[name] = {"rule": text, "size": size, "first_s": round(first, 4),
                     "median_s": round(statistics.median(runs), 4), "max_s": round(max(runs), 4)}
    return out


def segment_sizes(lake: Path, repeats: int = 5) -> dict[str, Any]:
    """Warm ``segment_size`` timings per rule from the lake, then from a segment store built here."""
    t = time.perf_counter()
    ctx = open_profile(Lake(lake), "duckdb")
    people = int(ctx.engine.query("SELECT count(*) AS n FROM profile")["n"][0].as_py())
    out: dict[str, Any] = {"as_of": ctx.as_of.isoformat(), "people": people, "repeats": repeats,
                           "open_seconds": round(time.perf_counter() - t, 3)}
    out["rules"] = _time_rules(ctx, repeats)
    ctx.engine.close()
    t = time.perf_counter()
    path = build_segment_store(Lake(lake))
    store: dict[str, Any] = {"build_seconds": round(time.perf_counter() - t, 3), "bytes": path.stat().st_size}
    t = time.perf_counter()
    ctx = open_segment_store(path, Lake(lake))
    store["open_seconds"] = round(time.perf_counter() - t, 3)
    store["rules"] = _time_rules(ctx, repeats)
    ctx.engine.close()
    store["sizes_match_lake"] = all(store["rules"][n]["size"] == out["rules"][n]["size"] for n in SEGMENT_RULES)
    out["store"] = store
    if not store["sizes_match_lake"]:
        raise AssertionError(f"segment store sizes differ from the lake's: {store['rules']} vs {out['rules']}")
    return out


# --- real time -----------------------------------------------------------------------------------


def _event_mix(ctx: SegmentContext) -> tuple[list[str], np.ndarray]:
    """Event names and their shares over the lake's last 30 days: the stream looks like the real traffic."""
    rows = ctx.engine.query("SELECT event, count(*) AS n FROM events WHERE dt > CAST($d AS DATE) - INTERVAL 30 DAY "
                            "AND event IS NOT NULL GROUP BY event ORDER BY event", {"d": ctx.as_of}).to_pylist()
    names = [r["event"] for r in rows]
    counts = np.array([r["n"] for r in rows], dtype=float)
    return names, counts / counts.sum()


def _properties(event: str, i: int, rng: np.random.Generator) -> dict[str, Any]:
    cats = list(CATEGORIES)
    if event == "product_viewed":
        return {"sku": f"SKU{10000 + int(rng.integers(300))}", "category": cats[int(rng.integers(len(cats)))],
                "price": round(float(rng.uniform(40, 600)), 1)}
    if event == "cart_added":
        return {"sku": f"SKU{10000 + int(rng.integers(300))}", "quantity": 1}
    if event == "order_paid":
        channel = ("mini_program", "store", "app")[int(rng.choice(3, p=[0.7, 0.25, 0.05]))]
        return {"order_id": f"RT{i:012d}", "amount": round(float(rng.gamma(2.0, 90.0)), 2), "currency": "CNY",
                "discount_amount": 0.0, "channel": channel}
    if event == "article_read":
        return {"content_id": f"c_{int(rng.integers(500)):05d}", "read_seconds": round(float(rng.exponential(80)), 1),
                "completion": round(float(rng.uniform()), 3)}
    if event == "cs_consulted":
        return {"satisfaction": int(rng.integers(1, 6)), "response_seconds": round(float(rng.exponential(60)), 1)}
    if event in ("coupon_issued", "coupon_redeemed"):
        return {"coupon_id": f"CPRT{int(rng.integers(10**8)):08d}"}
    if event == "content_shared":
        return {"content_id": f"c_{int(rng.integers(500)):05d}", "share_to": "moments"}
    return {}


def event_stream(ctx: SegmentContext, one_ids: list[str], n: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """``n`` (one_id, event) pairs in time order over the two days after as_of, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    names, shares = _event_mix(ctx)
    tz = ZoneInfo(get_settings().business_timezone)
    start = datetime.combine(ctx.as_of + timedelta(days=1), datetime.min.time(), tz)
    offsets = np.sort(rng.uniform(0, 2 * 86_400, n))
    who = rng.integers(len(one_ids), size=n)
    what = rng.choice(len(names), size=n, p=shares)
    return [(one_ids[who[i]], {"event": names[what[i]], "event_time": start + timedelta(seconds=float(offsets[i])),
                               "properties": _properties(names[what[i]], i, rng)}) for i in range(n)]


def _percentiles(ns: np.ndarray) -> dict[str, float]:
    us = ns / 1000.0
    return {"p50_us": round(float(np.percentile(us, 50)), 1), "p95_us": round(float(np.percentile(us, 95)), 1),
            "p99_us": round(float(np.percentile(us, 99)), 1), "p999_us": round(float(np.percentile(us, 99.9)), 1),
            "max_us": round(float(us.max()), 1), "mean_us": round(float(us.mean()), 1)}


def realtime(lake: Path, people: int = 10_000, events: int = 200_000, seed: int = 7) -> dict[str, Any]:
    """Per-event latency of ``SegmentWatcher.on_event`` over the real-time rules."""
    ctx = open_profile(Lake(lake), "duckdb")
    watcher = SegmentWatcher({name: parse_rule(text) for name, text in REALTIME_RULES.items()})
    all_ids = ctx.engine.query("SELECT one_id FROM profile WHERE one_id IS NOT NULL ORDER BY one_id")["one_id"]
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(all_ids), size=min(people, len(all_ids)), replace=False).tolist())
    chosen = [str(all_ids[i].as_py()) for i in pick]
    t = time.perf_counter()
    data = people_data(ctx, chosen)
    states = {o: PersonState(one_id=o, fields=d.fields, tags=d.tags, events=d.events, orders=d.orders)
              for o, d in data.items()}
    history = sum(len(s.events) + len(s.orders) for s in states.values())
    load_s = time.perf_counter() - t
    stream = event_stream(ctx, chosen, events, seed)
    ctx.engine.close()
    start = stream[0][1]["event_time"] if stream else datetime.now(ZoneInfo("UTC"))
    t = time.perf_counter()
    members = 0
    for state in states.values():  # place everyone as of the stream's start (what a daily refresh does)
        watcher.refresh(state, start)
        members += len(state.segments)
    refresh_s = time.perf_counter() - t
    lat = np.empty(len(stream), dtype=np.int64)
    entered = left = 0
    clock = time.perf_counter_ns
    t = time.perf_counter()
    for i, (one_id, event) in enumerate(stream):
        state = states[one_id]
        t0 = clock()
        changes = watcher.on_event(state, event, event["event_time"])
        lat[i] = clock() - t0
        entered += len(changes.entered)
        left += len(changes.left)
    wall = time.perf_counter() - t
    return {"people": len(states), "events": len(stream), "rules": len(watcher.rules),
            "not_incremental": watcher.not_incremental, "history_rows": history, "load_seconds": round(load_s, 3),
            "refresh_seconds": round(refresh_s, 3), "memberships_after_refresh": members,
            "entered": entered, "left": left,
            "stream_days": [start.date().isoformat(), (start.date() + timedelta(days=1)).isoformat()],
            "latency": _percentiles(lat) if len(lat) else {}, "on_event_seconds": round(float(lat.sum()) / 1e9, 3),
            "loop_seconds": round(wall, 3),
            "events_per_s": round(len(lat) / (float(lat.sum()) / 1e9)) if len(lat) else 0}
