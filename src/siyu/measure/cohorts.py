"""Cohorts (同期群): people grouped by when they were acquired, followed over time.

Definitions (docs/analysis.md has the worked example):

- **Acquisition day** (获客日): the first day the person was active (``user_daily.active``: any
  interaction) — ``acquisition="first_active"`` — or the day of their first order (``"first_order"``).
- **Cohort** (同期群): the calendar week (Monday start) or month of the acquisition day.
- **Activity** after acquisition: an active day (``activity="active"``) or a day with an order
  (``"order"``); only days from the acquisition day to the data end count.
- **First-touch channel** (首次触达渠道): the channel of the person's earliest event that has one (ties
  at one instant: the alphabetically first channel), else ``unknown``.
- **N-day retention** (第N日留存): share of members active exactly on acquisition day + N;
  **unbounded** (N日及以后留存): active on day N or any later day up to the data end. Members whose
  day N is after the data end are not observed; rates are over observed members and null when none is.
- **Period retention** (按周/月留存): share of members active at least once in the cohort's calendar
  period p (period 0 is the cohort's own week/month). Periods starting after the data end are null
  (not 0); a period that has started but not ended is marked ``complete = false``.
- **Revenue** (同期群收入): GMV of the members' orders in period p (orders on or after their acquisition
  day), cumulated over periods and divided by the cohort size.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from siyu.core.errors import SiyuError
from siyu.measure.event_sql import UNKNOWN, Dimension, Params, dimension_join, last_day
from siyu.warehouse.engine import Engine

DEFAULT_DAYS = (1, 7, 14, 30)
#: The only date_trunc units that reach SQL text (a KeyError, not SQL, for anything else).
_UNITS = {"week": "week", "month": "month"}


class CohortSpec(BaseModel):
    """A cohort analysis. ``start``/``end`` bound the acquisition days; ``as_of`` is the data end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period: Literal["week", "month"] = "week"
    acquisition: Literal["first_active", "first_order"] = "first_active"
    activity: Literal["active", "order"] = "active"
    start: date | None = None
    end: date | None = None
    #: The data end; default: the last day in ``user_daily``.
    as_of: date | None = None
    #: Split every cohort by first-touch channel …
    by_channel: bool = False
    #: … or by a per-person label; not both.
    dimension: Dimension | None = None
    days: tuple[int, ...] = DEFAULT_DAYS
    max_periods: int = 12

    @field_validator("days")
    @classmethod
    def _days_ok(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or len(v) > 30 or len(set(v)) != len(v) or any(not 0 <= n <= 3660 for n in v):
            raise ValueError("days must be 1-30 distinct numbers of days between 0 and 3660")
        return tuple(sorted(v))

    @field_validator("max_periods")
    @classmethod
    def _periods_ok(cls, v: int) -> int:
        if not 0 <= v <= 520:
            raise ValueError("max_periods must be between 0 and 520")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> CohortSpec:
        if self.start and self.end and self.end < self.start:
            raise ValueError("end is before start")
        if self.by_channel and self.dimension is not None:
            raise ValueError("split by first-touch channel or by a dimension, not both")
        return self


def _members_sql(spec: CohortSpec, p: Params, as_of: date) -> str:
    """CTEs ``members`` (one_id, acq_day, cohort, segment) and ``act`` (one_id, dt) of activity days."""
    end = p.day(as_of)
    if spec.acquisition == "first_active":
        acq = f"SELECT one_id, min(dt) AS acq_day FROM user_daily WHERE active AND dt <= {end} GROUP BY one_id"
    else:
        acq = f"SELECT one_id, min(dt) AS acq_day FROM orders WHERE one_id IS NOT NULL AND dt <= {end} GROUP BY one_id"
    if spec.activity == "active":
        act = f"SELECT DISTINCT one_id, dt FROM user_daily WHERE active AND dt <= {end}"
    else:
        act = f"SELECT DISTINCT one_id, dt FROM orders WHERE one_id IS NOT NULL AND dt <= {end}"
    where = ["a.one_id IS NOT NULL"]
    if spec.start:
        where.append(f"a.acq_day >= {p.day(spec.start)}")
    if spec.end:
        where.append(f"a.acq_day <= {p.day(spec.end)}")
    first_touch = ""
    join, label = dimension_join(spec.dimension, "a.one_id")
    if spec.by_channel:
        first_touch = f"""
), first_touch AS (
    SELECT one_id, channel FROM (
        SELECT one_id, channel, row_number() OVER (PARTITION BY one_id ORDER BY event_time, channel) AS rn
        FROM events
        WHERE one_id IS NOT NULL AND channel IS NOT NULL AND channel <> '' AND dt <= {end}
    ) AS ranked WHERE rn = 1"""
        join, label = "LEFT JOIN first_touch AS ft ON ft.one_id = a.one_id", f"coalesce(ft.channel, '{UNKNOWN}')"
    unit = _UNITS[spec.period]
    return f"""
WITH acq AS ({acq}{first_touch}
), members AS (
    SELECT a.one_id, a.acq_day, CAST(date_trunc('{unit}', a.acq_day) AS DATE) AS cohort, {label} AS segment
    FROM acq AS a {join}
    WHERE {" AND ".join(where)}
), act AS ({act})"""


def _as_of(engine: Engine, spec: CohortSpec) -> date:
    as_of = spec.as_of or last_day(engine, "user_daily")
    if as_of is None:
        raise SiyuError("user_daily is empty: there is nothing to follow", code="no_data", input_name="as_of")
    return as_of


def retention_days(engine: Engine, spec: CohortSpec) -> pa.Table:
    """N-day retention per cohort and segment: exact day N and day N or later, over observed members.

    Columns: ``cohort, segment, size, day, observed, retained, rate, retained_unbounded, rate_unbounded``.
    """
    as_of = _as_of(engine, spec)
    p = Params()
    base = _members_sql(spec, p, as_of)
    ns = " UNION ALL ".join(f"SELECT CAST({p.bind(n)} AS INTEGER) AS n" for n in spec.days)
    sql = f"""{base}, offsets AS (
    SELECT m.one_id, date_diff('day', m.acq_day, a.dt) AS k
    FROM (SELECT DISTINCT one_id, acq_day FROM members) AS m
    JOIN act AS a ON a.one_id = m.one_id AND a.dt >= m.acq_day
), last_seen AS (
    SELECT one_id, max(k) AS last_k FROM offsets GROUP BY one_id
), ns AS ({ns}
), exact AS (
    SELECT DISTINCT o.one_id, o.k AS n FROM offsets AS o JOIN ns ON ns.n = o.k
), per AS (
    SELECT m.cohort, m.segment, ns.n,
        CASE WHEN date_diff('day', m.acq_day, {p.day(as_of)}) >= ns.n THEN 1 ELSE 0 END AS observed,
        CASE WHEN x.one_id IS NOT NULL THEN 1 ELSE 0 END AS exact_hit,
        CASE WHEN l.last_k >= ns.n THEN 1 ELSE 0 END AS later_hit
    FROM members AS m CROSS JOIN ns
    LEFT JOIN exact AS x ON x.one_id = m.one_id AND x.n = ns.n
    LEFT JOIN last_seen AS l ON l.one_id = m.one_id
)
SELECT cohort, segment, n AS day, count(*) AS size, CAST(sum(observed) AS BIGINT) AS observed,
       CAST(sum(exact_hit) AS BIGINT) AS retained, CAST(sum(later_hit) AS BIGINT) AS retained_unbounded
FROM per GROUP BY cohort, segment, n
"""
    rows = sorted(engine.query(sql, p.values).to_pylist(), key=lambda r: (r["cohort"], r["segment"], r["day"]))
    out: dict[str, list[Any]] = {k: [] for k in ("cohort", "segment", "size", "day", "observed", "retained", "rate",
                                                 "retained_unbounded", "rate_unbounded")}
    for r in rows:
        seen = int(r["observed"])
        out["cohort"].append(r["cohort"])
        out["segment"].append(r["segment"])
        out["size"].append(int(r["size"]))
        out["day"].append(int(r["day"]))
        out["observed"].append(seen)
        out["retained"].append(int(r["retained"]) if seen else None)
        out["rate"].append(int(r["retained"]) / seen if seen else None)
        out["retained_unbounded"].append(int(r["retained_unbounded"]) if seen else None)
        out["rate_unbounded"].append(int(r["retained_unbounded"]) / seen if seen else None)
    return pa.table(out, schema=pa.schema([
        ("cohort", pa.date32()), ("segment", pa.string()), ("size", pa.int64()), ("day", pa.int32()),
        ("observed", pa.int64()), ("retained", pa.int64()), ("rate", pa.float64()),
        ("retained_unbounded", pa.int64()), ("rate_unbounded", pa.float64())]))


def _period_index(spec: CohortSpec, day: str) -> str:
    if spec.period == "week":
        return f"date_diff('day', m.cohort, CAST(date_trunc('week', {day}) AS DATE)) // 7"
    return f"(year({day}) * 12 + month({day})) - (year(m.cohort) * 12 + month(m.cohort))"


def period_start(cohort: date, period: str, index: int) -> date:
    """The first day of period ``index`` of a cohort starting on ``cohort``."""
    if period == "week":
        return cohort + timedelta(days=7 * index)
    months = cohort.year * 12 + cohort.month - 1 + index
    return date(months // 12, months % 12 + 1, 1)


def retention_matrix(engine: Engine, spec: CohortSpec) -> pa.Table:
    """The cohort × period matrix with retention and revenue; right-censored periods are null.

    Columns: ``cohort, segment, size, period, period_start, complete, retained, rate, gmv,
    cumulative_gmv, cumulative_gmv_per_member``. Periods run 0 .. min(max_periods, periods from the
    earliest cohort to the data end) for every cohort, so the table is a full rectangle.
    """
    as_of = _as_of(engine, spec)
    p = Params()
    base = _members_sql(spec, p, as_of)
    sql = f"""{base}, sizes AS (
    SELECT cohort, segment, count(*) AS size FROM members GROUP BY cohort, segment
), kept AS (
    SELECT m.cohort, m.segment, {_period_index(spec, "a.dt")} AS period, count(DISTINCT m.one_id) AS retained
    FROM members AS m JOIN act AS a ON a.one_id = m.one_id AND a.dt >= m.acq_day
    GROUP BY 1, 2, 3
), revenue AS (
    SELECT m.cohort, m.segment, {_period_index(spec, "o.dt")} AS period,
           CAST(sum(o.amount) AS DECIMAL(18,2)) AS gmv
    FROM members AS m JOIN orders AS o ON o.one_id = m.one_id AND o.dt >= m.acq_day AND o.dt <= {p.day(as_of)}
    GROUP BY 1, 2, 3
)
SELECT s.cohort, s.segment, s.size, k.period, k.retained, CAST(NULL AS DECIMAL(18,2)) AS gmv
FROM sizes AS s LEFT JOIN kept AS k ON k.cohort = s.cohort AND k.segment = s.segment
UNION ALL
SELECT r.cohort, r.segment, CAST(NULL AS BIGINT), r.period, CAST(NULL AS BIGINT), r.gmv FROM revenue AS r
"""
    sizes: dict[tuple[date, str], int] = {}
    kept: dict[tuple[date, str, int], int] = {}
    gmv: dict[tuple[date, str, int], Decimal] = {}
    for r in engine.query(sql, p.values).to_pylist():
        key = (r["cohort"], r["segment"])
        if r["size"] is not None:
            sizes[key] = int(r["size"])
            if r["period"] is not None:
                kept[(*key, int(r["period"]))] = int(r["retained"])
        else:
            gmv[(*key, int(r["period"]))] = Decimal(r["gmv"])
    return _matrix(spec, as_of, sizes, kept, gmv)


def _matrix(spec: CohortSpec, as_of: date, sizes: dict[tuple[date, str], int],
            kept: dict[tuple[date, str, int], int], gmv: dict[tuple[date, str, int], Decimal]) -> pa.Table:
    out: dict[str, list[Any]] = {k: [] for k in (
        "cohort", "segment", "size", "period", "period_start", "complete", "retained", "rate", "gmv",
        "cumulative_gmv", "cumulative_gmv_per_member")}
    periods = 0
    if sizes:
        first = min(c for c, _ in sizes)
        last_index = 0
        while period_start(first, spec.period, last_index + 1) <= as_of:
            last_index += 1
        periods = min(spec.max_periods, last_index)
    for (cohort, segment), size in sorted(sizes.items()):
        total = Decimal(0)
        for i in range(periods + 1):
            begins = period_start(cohort, spec.period, i)
            observed = begins <= as_of
            out["cohort"].append(cohort)
            out["segment"].append(segment)
            out["size"].append(size)
            out["period"].append(i)
            out["period_start"].append(begins)
            out["complete"].append(period_start(cohort, spec.period, i + 1) <= as_of + timedelta(days=1))
            if observed:
                n = kept.get((cohort, segment, i), 0)
                total += gmv.get((cohort, segment, i), Decimal(0))
                out["retained"].append(n)
                out["rate"].append(n / size)
                out["gmv"].append(gmv.get((cohort, segment, i), Decimal(0)))
                out["cumulative_gmv"].append(total)
                out["cumulative_gmv_per_member"].append(float(total) / size)
            else:
                for col in ("retained", "rate", "gmv", "cumulative_gmv", "cumulative_gmv_per_member"):
                    out[col].append(None)
    return pa.table(out, schema=pa.schema([
        ("cohort", pa.date32()), ("segment", pa.string()), ("size", pa.int64()), ("period", pa.int32()),
        ("period_start", pa.date32()), ("complete", pa.bool_()), ("retained", pa.int64()), ("rate", pa.float64()),
        ("gmv", pa.decimal128(18, 2)), ("cumulative_gmv", pa.decimal128(18, 2)),
        ("cumulative_gmv_per_member", pa.float64())]))
