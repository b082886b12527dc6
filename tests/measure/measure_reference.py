"""Independent pandas/Python references for the measurement analyses, used only by tests.

They implement the definitions in docs/analysis.md directly, person by person, in plain Python
(no SQL, no window functions), so an error in the engine SQL cannot hide in a shared helper.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from siyu.core.config import get_settings

TZ = ZoneInfo(get_settings().business_timezone)
TEXT_COLUMNS = ("type", "channel", "campaign_id", "content_id", "group_id", "staff_id", "store_id", "sku",
                "category", "coupon_id", "currency", "order_id", "state")
EVENTS_SCHEMA = pa.schema(
    [("one_id", pa.string()), ("event", pa.string()), ("event_time", pa.timestamp("us", tz="UTC")),
     ("dt", pa.date32()), ("event_hour", pa.int32())]
    + [(c, pa.string()) for c in TEXT_COLUMNS]
    + [("amount", pa.decimal128(18, 2)), ("properties", pa.string())])
BRAND_SIDE = {"message_sent", "message_delivered", "message_failed", "coupon_issued", "points_changed",
              "member_tier_changed"}


def at(text: str) -> datetime:
    """A business-time-zone instant from ``'2026-03-02 10:00'`` (seconds optional)."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return datetime.strptime(text, fmt).replace(tzinfo=TZ)


def events_table(rows: list[tuple[Any, ...]]) -> pa.Table:
    """Rows ``(one_id, event, 'YYYY-MM-DD HH:MM[:SS]'[, {column: value}])`` → an ``events``-shaped table."""
    out: list[dict[str, Any]] = []
    for row in rows:
        one_id, event, when = row[:3]
        extra = dict(row[3]) if len(row) > 3 else {}
        t = at(when) if isinstance(when, str) else when
        rec: dict[str, Any] = {c: None for c in EVENTS_SCHEMA.names}
        local = t.astimezone(TZ)
        rec.update(one_id=one_id, event=event, event_time=t, dt=local.date(), event_hour=local.hour, type="track")
        if "amount" in extra:
            extra["amount"] = Decimal(str(extra["amount"]))
        rec.update(extra)
        out.append(rec)
    return pa.Table.from_pylist(out, schema=EVENTS_SCHEMA)


def lake_events(lake: Any) -> pd.DataFrame:
    """The ``events`` view of a built lake, rebuilt in pandas: dwd events with OneID redirects followed."""
    cols = ["one_id", "event", "event_time", "dt", "event_hour", "channel", "properties"]
    ev = pq.read_table(lake.files("dwd", "events"), columns=cols, partitioning="hive").to_pandas()
    ev["dt"] = pd.to_datetime(ev["dt"].astype(str)).dt.date
    red = pq.read_table(lake.files("identity", "redirects")).to_pandas()
    moved = dict(zip(red["from_one_id"], red["to_one_id"], strict=True))
    ev["one_id"] = ev["one_id"].map(lambda x: moved.get(x, x))
    return ev[ev["one_id"].notna() & ev["event_time"].notna()].reset_index(drop=True)


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _prop(row: dict[str, Any], column: str) -> str | None:
    if column.startswith("properties."):
        import json

        raw = row.get("properties")
        if raw is None:
            return None
        got = json.loads(raw).get(column[len("properties."):])
        return None if got is None else _text(got) if not isinstance(got, dict | list) else json.dumps(got)
    return _text(row.get(column))


def _matches(row: dict[str, Any], step: Any) -> bool:
    return row["event"] == step.event and all(_prop(row, k) == _text(v) for k, v in step.filters.items())


# --- funnels --------------------------------------------------------------------------------------------------


def funnel_reference(events: pd.DataFrame, spec: Any) -> dict[str, dict[str, Any]]:
    """Per person: ``{one_id: {"breakdown", "progress", "times": [t1..tk]}}`` by walking the definition."""
    cols = sorted({c for s in (*spec.steps, *spec.exclusions) for c in s.filters}
                  | ({spec.breakdown} if spec.breakdown else set()))
    window = spec.window
    result: dict[str, dict[str, Any]] = {}
    for one_id, g in events.groupby("one_id", sort=False):
        rows = g.to_dict("records")
        everything = sorted(r["event_time"] for r in rows)
        step_names = {s.event for s in spec.steps}
        cand = [r for r in rows if r["event"] in step_names]

        def key(r: dict[str, Any]) -> tuple[Any, ...]:
            vals = [_prop(r, c) for c in cols]
            return (r["event_time"], r["event"], *[(v is None, v or "") for v in vals])

        cand.sort(key=key)
        for i, r in enumerate(cand):
            r["_rid"] = i
        best: tuple[int, Any, int] | None = None
        best_times: list[Any] = []
        best_entry: dict[str, Any] | None = None
        for entry in cand:
            if not (_matches(entry, spec.steps[0]) and spec.start <= entry["dt"] <= spec.end):
                continue
            times, used = [entry["event_time"]], {entry["_rid"]}
            for step in spec.steps[1:]:
                prev = times[-1]
                options = [c for c in cand if _matches(c, step) and c["_rid"] not in used
                           and c["event_time"] >= prev and c["event_time"] - times[0] <= window]
                if spec.order == "strict":
                    options = [c for c in options
                               if not any(prev < t < c["event_time"] for t in everything)]
                if not options:
                    break
                nxt = min(options, key=lambda c: (c["event_time"], c["_rid"]))
                times.append(nxt["event_time"])
                used.add(nxt["_rid"])
            progress = len(times)
            for gap in range(1, len(times)):  # gap k is between step k and k+1 (1-based)
                lo, hi = times[gap - 1], times[gap]
                hit = any(_matches(x, ex) and lo < x["event_time"] < hi
                          for x in rows for ex in spec.exclusions
                          if ex.after_step is None or ex.after_step == gap)
                if hit:
                    progress = gap
                    break
            rank = (-progress, entry["event_time"], entry["_rid"])
            if best is None or rank < best:
                best, best_times, best_entry = rank, times[:progress], entry
        if best_entry is None:
            continue
        if spec.dimension is not None:
            bd = None
        elif spec.breakdown:
            bd = _prop(best_entry, spec.breakdown) or "unknown"
        else:
            bd = "all"
        result[one_id] = {"breakdown": bd, "progress": len(best_times), "times": best_times}
    return result


def quantile(values: list[float], q: float) -> float | None:
    return float(np.quantile(np.array(values, dtype=float), q)) if values else None


def funnel_summary_reference(people: dict[str, dict[str, Any]], spec: Any,
                             labels: dict[str, list[str]] | None = None) -> dict[tuple[str, int], dict[str, Any]]:
    """``(breakdown, step) → people, medians/p90s (seconds)`` from the per-person reference."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for one_id, rec in people.items():
        names = labels.get(one_id, ["unknown"]) if labels is not None else [rec["breakdown"]]
        for name in names:
            groups[name].append(rec)
    out = {}
    for bd, recs in groups.items():
        for k in range(1, len(spec.steps) + 1):
            reached = [r for r in recs if r["progress"] >= k]
            prev = [(r["times"][k - 1] - r["times"][k - 2]).total_seconds() for r in reached] if k > 1 else []
            first = [(r["times"][k - 1] - r["times"][0]).total_seconds() for r in reached] if k > 1 else []
            out[(bd, k)] = {"people": len(reached), "median_prev": quantile(prev, 0.5),
                            "p90_prev": quantile(prev, 0.9), "median_first": quantile(first, 0.5),
                            "p90_first": quantile(first, 0.9)}
    return out


# --- cohorts --------------------------------------------------------------------------------------------------


def _redirected(lake: Any, layer: str, table: str, columns: list[str]) -> pd.DataFrame:
    df = pq.read_table(lake.files(layer, table), columns=columns, partitioning="hive").to_pandas()
    df["dt"] = pd.to_datetime(df["dt"].astype(str)).dt.date
    red = pq.read_table(lake.files("identity", "redirects")).to_pandas()
    moved = dict(zip(red["from_one_id"], red["to_one_id"], strict=True))
    df["one_id"] = df["one_id"].map(lambda x: moved.get(x, x))
    return df[df["one_id"].notna()].reset_index(drop=True)


def lake_user_daily(lake: Any) -> pd.DataFrame:
    return _redirected(lake, "dws", "user_daily", ["one_id", "dt", "active"])


def lake_orders(lake: Any) -> pd.DataFrame:
    return _redirected(lake, "dwd", "orders", ["one_id", "dt", "amount"])


def _period_bounds(cohort: date, period: str, index: int) -> tuple[date, date]:
    """[start, next start) of period ``index``, by stepping one period at a time."""
    start = cohort
    for _ in range(index):
        start = start + timedelta(days=7) if period == "week" else (start.replace(day=28) + timedelta(days=4)).replace(
            day=1)
    nxt = start + timedelta(days=7) if period == "week" else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start, nxt


def cohort_reference(user_daily: pd.DataFrame, orders: pd.DataFrame, events: pd.DataFrame | None, spec: Any,
                     as_of: date, labels: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """``{"days": {(cohort, segment, n): (size, observed, retained, unbounded)},
    "matrix": {(cohort, segment, period): (size, retained | None, gmv | None)}}`` person by person."""
    active: dict[str, set[date]] = defaultdict(set)
    if spec.activity == "active" or spec.acquisition == "first_active":
        for one_id, dt, is_active in user_daily[["one_id", "dt", "active"]].itertuples(index=False):
            if is_active and dt <= as_of:
                active[one_id].add(dt)
    bought: dict[str, set[date]] = defaultdict(set)
    spend: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for one_id, dt, amount in orders[["one_id", "dt", "amount"]].itertuples(index=False):
        if dt <= as_of:
            bought[one_id].add(dt)
            spend[one_id].append((dt, Decimal(amount)))
    source = active if spec.acquisition == "first_active" else bought
    acquired = {p: min(days) for p, days in source.items() if days}
    acquired = {p: d for p, d in acquired.items()
                if (spec.start is None or d >= spec.start) and (spec.end is None or d <= spec.end)}
    touch: dict[str, str] = {}
    if spec.by_channel and events is not None:
        firsts: dict[str, tuple[Any, str]] = {}
        for one_id, t, ch, dt in events[["one_id", "event_time", "channel", "dt"]].itertuples(index=False):
            if ch is None or ch == "" or (isinstance(ch, float) and np.isnan(ch)) or dt > as_of:
                continue
            if one_id not in firsts or (t, ch) < firsts[one_id]:
                firsts[one_id] = (t, ch)
        touch = {p: ch for p, (_, ch) in firsts.items()}
    activity = active if spec.activity == "active" else bought
    members: dict[tuple[date, str], list[str]] = defaultdict(list)
    for person, acq in acquired.items():
        cohort = acq - timedelta(days=acq.weekday()) if spec.period == "week" else acq.replace(day=1)
        if labels is not None:
            names = labels.get(person, ["unknown"])
        elif spec.by_channel:
            names = [touch.get(person, "unknown")]
        else:
            names = ["all"]
        for name in names:
            members[(cohort, name)].append(person)
    days, matrix = {}, {}
    first_cohort = min((c for c, _ in members), default=None)
    last_index = 0
    if first_cohort is not None:
        while _period_bounds(first_cohort, spec.period, last_index + 1)[0] <= as_of:
            last_index += 1
    for (cohort, name), people in members.items():
        for n in spec.days:
            observed = [p for p in people if (as_of - acquired[p]).days >= n]
            exact = sum(1 for p in observed if acquired[p] + timedelta(days=n) in activity[p])
            later = sum(1 for p in observed if any(d >= acquired[p] + timedelta(days=n) for d in activity[p]))
            days[(cohort, name, n)] = (len(people), len(observed), exact, later)
        for i in range(min(spec.max_periods, last_index) + 1):
            lo, hi = _period_bounds(cohort, spec.period, i)
            if lo > as_of:
                matrix[(cohort, name, i)] = (len(people), None, None)
                continue
            kept = sum(1 for p in people if any(lo <= d < hi and d >= acquired[p] for d in activity[p]))
            gmv = sum((a for p in people for d, a in spend[p] if lo <= d < hi and d >= acquired[p]), Decimal(0))
            matrix[(cohort, name, i)] = (len(people), kept, gmv)
    return {"days": days, "matrix": matrix}


# --- paths ----------------------------------------------------------------------------------------------------


def _counted(events: pd.DataFrame, spec: Any, as_of: date | None) -> dict[str, list[tuple[Any, str, date]]]:
    """Per person: (time, event, dt) of the events that count, in stream order (time, then name)."""
    out: dict[str, list[tuple[Any, str, date]]] = defaultdict(list)
    ignored = set(spec.ignore_events)
    for one_id, event, t, dt in events[["one_id", "event", "event_time", "dt"]].itertuples(index=False):
        if event in ignored or (as_of is not None and dt > as_of):
            continue
        out[one_id].append((pd.Timestamp(t), event, dt))
    for rows in out.values():
        rows.sort(key=lambda r: (r[0], r[1]))
    return out


def _collapse(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        if not out or out[-1] != n:
            out.append(n)
    return out


def _in_range(spec: Any, day: date) -> bool:
    return (spec.start is None or day >= spec.start) and (spec.end is None or day <= spec.end)


def conversion_paths_reference(events: pd.DataFrame, spec: Any) -> Counter[tuple[str, ...]]:
    paths: Counter[tuple[str, ...]] = Counter()
    for rows in _counted(events, spec, None).values():
        hits = [t for t, e, dt in rows if e == spec.target and _in_range(spec, dt)]
        if not hits:
            continue
        at = min(hits)
        before = [e for t, e, _ in rows if t < at and (spec.lookback is None or at - t <= spec.lookback)]
        paths[tuple(_collapse(before)[-spec.steps:])] += 1
    return paths


def churn_paths_reference(events: pd.DataFrame, spec: Any, as_of: date) -> Counter[tuple[str, ...]]:
    paths: Counter[tuple[str, ...]] = Counter()
    for rows in _counted(events, spec, as_of).values():
        last = max(dt for _, _, dt in rows)
        if (as_of - last).days >= spec.silent_days and _in_range(spec, last):
            paths[tuple(_collapse([e for _, e, _ in rows])[-spec.steps:])] += 1
    return paths


def forward_paths_reference(events: pd.DataFrame, spec: Any, as_of: date) -> Counter[tuple[tuple[str, ...], str]]:
    """``(path, outcome) → people`` with outcome exit / continued / open."""
    end = pd.Timestamp(datetime.combine(as_of + timedelta(days=1), datetime.min.time()).replace(tzinfo=TZ))
    paths: Counter[tuple[tuple[str, ...], str]] = Counter()
    for rows in _counted(events, spec, as_of).values():
        starts = [i for i, (_, e, dt) in enumerate(rows) if e == spec.entry and _in_range(spec, dt)]
        if not starts:
            continue
        session = [rows[starts[0]]]
        for row in rows[starts[0] + 1:]:
            if row[0] - session[-1][0] > spec.max_gap:
                break
            session.append(row)
        steps = _collapse([e for _, e, _ in session])
        if len(steps) > spec.steps:
            outcome = "continued"
        elif end - session[-1][0] > spec.max_gap:
            outcome = "exit"
        else:
            outcome = "open"
        paths[(tuple(steps[:spec.steps]), outcome)] += 1
    return paths


# --- heatmap --------------------------------------------------------------------------------------------------


def heatmap_reference(events: pd.DataFrame, people: set[str] | None = None,
                      from_time: bool = False) -> dict[tuple[int, int], tuple[int, int]]:
    """``(weekday, hour) → (events, people)`` of non-brand-side events; ``from_time`` re-derives the cell
    from ``event_time`` in the business time zone instead of trusting ``dt``/``event_hour``."""
    cells: dict[tuple[int, int], list[str]] = defaultdict(list)
    for one_id, event, t, dt, hour in events[["one_id", "event", "event_time", "dt", "event_hour"]].itertuples(
            index=False):
        if event in BRAND_SIDE or (people is not None and one_id not in people):
            continue
        if from_time:
            local = pd.Timestamp(t).tz_convert(TZ)
            cells[(local.isoweekday(), local.hour)].append(one_id)
        else:
            cells[(dt.isoweekday(), int(hour))].append(one_id)
    return {c: (len(ids), len(set(ids))) for c, ids in cells.items()}


def click_rates_reference(events: pd.DataFrame) -> dict[tuple[int, int], tuple[int, int]]:
    """``(weekday, hour) → (deliveries, clicked)`` matching clicks to deliveries by person and send_id."""
    import json

    def send(raw: Any) -> str | None:
        return json.loads(raw).get("send_id") if isinstance(raw, str) else None

    clicked = {(r.one_id, send(r.properties)) for r in events[events["event"] == "message_clicked"].itertuples()}
    out: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for r in events[events["event"] == "message_delivered"].itertuples():
        sid = send(r.properties)
        if sid is None:
            continue
        cell = out[(r.dt.isoweekday(), int(r.event_hour))]
        cell[0] += 1
        cell[1] += (r.one_id, sid) in clicked
    return {c: (v[0], v[1]) for c, v in out.items()}
