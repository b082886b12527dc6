"""Compute KPIs: a metric × period range × grain × optional breakdown, with period comparison
(环比 against the previous period, 同比 against the same period a year earlier) and drill-down to the
rows behind a number.

Results are small Arrow tables: ``period_start, grp, value, numerator, denominator`` plus, when asked,
``previous``, ``change`` (relative), ``year_ago``, ``yoy_change``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from siyu.core.errors import SiyuError
from siyu.measure.kpi.compile import (
    Params,
    aggregate_sql,
    cohort_rate_sql,
    filter_sql,
    group_sql,
    nps_sql,
    reactivation_sql,
)
from siyu.measure.kpi.model import (
    AggregateMetric,
    CohortRateMetric,
    Grain,
    MetricDefinition,
    NpsMetric,
    RatioMetric,
    ReactivationMetric,
)
from siyu.measure.kpi.sources import LABEL_DIMENSIONS, SOURCES
from siyu.warehouse.engine import Engine
from siyu.warehouse.engine.base import check_identifier

MAX_PERIODS = 1000
RESULT_SCHEMA = pa.schema([("period_start", pa.date32()), ("grp", pa.string()), ("value", pa.float64()),
                           ("numerator", pa.float64()), ("denominator", pa.float64())])


@dataclass(frozen=True)
class KpiQuery:
    """Which numbers: ``metric`` for the periods of ``grain`` that start in [start, end], broken down by ``by``."""

    metric: str
    start: date
    end: date
    grain: Grain = Grain.DAY
    by: str | None = None
    compare: bool = False


def period_starts(start: date, end: date, grain: Grain) -> list[date]:
    """The first days of the periods of ``grain`` that overlap [start, end] (weeks start on Monday)."""
    if end < start:
        raise SiyuError(f"the period range ends ({end}) before it starts ({start})", code="bad_period")
    first = _truncate(start, grain)
    out = []
    day = first
    while day <= end:
        out.append(day)
        day = _next(day, grain)
        if len(out) > MAX_PERIODS:
            raise SiyuError(f"more than {MAX_PERIODS} {grain.value} periods; use a coarser grain", code="bad_period")
    return out


def _truncate(day: date, grain: Grain) -> date:
    if grain is Grain.WEEK:
        return day - timedelta(days=day.weekday())
    if grain is Grain.MONTH:
        return day.replace(day=1)
    return day


def _next(day: date, grain: Grain) -> date:
    if grain is Grain.DAY:
        return day + timedelta(days=1)
    if grain is Grain.WEEK:
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _last(day: date, grain: Grain) -> date:
    return _next(day, grain) - timedelta(days=1)


def year_ago(day: date, grain: Grain) -> date:
    """The matching period a year earlier: 52 weeks for weeks (same weekday), the same date otherwise."""
    if grain is Grain.WEEK:
        return day - timedelta(weeks=52)
    if day.month == 2 and day.day == 29:
        return day.replace(year=day.year - 1, day=28)
    return day.replace(year=day.year - 1)


def previous(day: date, grain: Grain) -> date:
    if grain is Grain.DAY:
        return day - timedelta(days=1)
    if grain is Grain.WEEK:
        return day - timedelta(days=7)
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def periods_table(starts: list[date], grain: Grain, window_days: int | None) -> pa.Table:
    """``kpi_periods``: each period with the window its rows come from (the period, or the rolling
    ``window_days`` ending on its last day) and its number of days."""
    rows: dict[str, list[Any]] = {"period_start": [], "window_start": [], "window_end": [], "days": []}
    for s in sorted(set(starts)):
        e = _last(s, grain)
        ws = e - timedelta(days=window_days - 1) if window_days else s
        rows["period_start"].append(s)
        rows["window_start"].append(ws)
        rows["window_end"].append(e)
        rows["days"].append((e - s).days + 1)
    return pa.table({"period_start": pa.array(rows["period_start"], pa.date32()),
                     "window_start": pa.array(rows["window_start"], pa.date32()),
                     "window_end": pa.array(rows["window_end"], pa.date32()),
                     "days": pa.array(rows["days"], pa.int64())})


def data_end(eng: Engine) -> date:
    """The last day with data (censoring point for cohort rates)."""
    return data_range(eng)[1]


def data_range(eng: Engine) -> tuple[date, date]:
    """First and last day with data; a period before the first has no value (not zero)."""
    got = eng.query("SELECT min(dt) AS a, max(dt) AS b FROM kpi_user_daily").to_pylist()[0]
    today = date.today()
    return got["a"] or today, got["b"] or today


def _raw(eng: Engine, metric: MetricDefinition, starts: list[date], grain: Grain, by: str | None,
         end_day: date) -> dict[tuple[date, str], tuple[float | None, float | None]]:
    """(period_start, grp) → (numerator, denominator) for a non-ratio metric."""
    params = Params()
    window = metric.window_days if isinstance(metric, AggregateMetric) else None
    eng.register_arrow("kpi_periods", periods_table(starts, grain, window))
    if isinstance(metric, AggregateMetric):
        sql = aggregate_sql(metric, by, params)
    elif isinstance(metric, CohortRateMetric):
        sql = cohort_rate_sql(metric, by, params)
        params.values["data_end"] = end_day
    elif isinstance(metric, ReactivationMetric):
        sql = reactivation_sql(metric, by)
    elif isinstance(metric, NpsMetric):
        sql = nps_sql(metric, by, params)
    else:  # pragma: no cover - ratios are assembled by the caller
        raise TypeError(type(metric).__name__)
    table = eng.query(sql, params.values)
    out: dict[tuple[date, str], tuple[float | None, float | None]] = {}
    for row in table.to_pylist():
        out[(row["period_start"], str(row["grp"]))] = (row["numerator"], row["denominator"])
    return out


Values = dict[tuple[date, str], tuple[float | None, float | None, float | None]]


def _values(eng: Engine, catalogue: dict[str, MetricDefinition], name: str, starts: list[date], grain: Grain,
            by: str | None, end_day: date, memo: dict[str, Values] | None = None) -> Values:
    """(period_start, grp) → (value, numerator, denominator); ratios recurse into their two metrics, and a
    metric two ratios share (new users in LTV and in CAC) is computed once per call."""
    memo = {} if memo is None else memo
    if name in memo:
        return memo[name]
    metric = catalogue[name]
    if isinstance(metric, RatioMetric):
        num = _values(eng, catalogue, metric.numerator, starts, grain, by, end_day, memo)
        den = _values(eng, catalogue, metric.denominator, starts, grain, by, end_day, memo)
        out = {}
        for key in set(num) | set(den):
            n = num.get(key, (None, None, None))[0]
            d = den.get(key, (None, None, None))[0]
            out[key] = (n / d if n is not None and d else None, n, d)
        memo[name] = out
        return out
    raw = _raw(eng, metric, starts, grain, by, end_day)
    if isinstance(metric, AggregateMetric):
        memo[name] = {k: (n, n, None) for k, (n, _) in raw.items()}
    else:
        memo[name] = {k: (n / d if n is not None and d else None, n, d) for k, (n, d) in raw.items()}
    return memo[name]


def compute_kpi(eng: Engine, catalogue: dict[str, MetricDefinition], query: KpiQuery,
                labels: pa.Table | None = None) -> pa.Table:
    """One metric per period (and breakdown group) as an Arrow table; see the module docstring.

    ``labels`` (one_id, label) is needed for the ``segment`` and ``tag`` breakdowns.
    """
    metric = catalogue.get(query.metric)
    if metric is None:
        raise SiyuError(f"unknown metric {query.metric!r}; see `siyu measure kpi list`", code="unknown_metric")
    if query.by is not None and query.by not in metric.dimensions:
        raise SiyuError(f"{query.metric} cannot be broken down by {query.by!r}; it allows "
                        f"{', '.join(metric.dimensions) or 'no breakdowns'}", code="bad_breakdown")
    if query.by in LABEL_DIMENSIONS:
        if labels is None:
            raise SiyuError(f"a {query.by} breakdown needs its labels (one_id, label)", code="bad_breakdown")
        eng.register_arrow("kpi_labels", labels.select(["one_id", "label"]))
    starts = period_starts(query.start, query.end, query.grain)
    wanted = list(starts)
    if query.compare:
        wanted += [previous(s, query.grain) for s in starts] + [year_ago(s, query.grain) for s in starts]
    first_day, last_day = data_range(eng)
    values = _values(eng, catalogue, query.metric, wanted, query.grain, query.by, last_day)
    groups = sorted({g for (s, g) in values if s in set(starts)}) or ["all"]
    cols: dict[str, list[Any]] = {f.name: [] for f in RESULT_SCHEMA}
    extra: dict[str, list[Any]] = {"previous": [], "change": [], "year_ago": [], "yoy_change": []}
    empty = (None, None, None)

    def get(s: date, g: str) -> tuple[float | None, float | None, float | None]:
        # An aggregate with no rows is zero — unless the period lies wholly outside the data.
        covered = _last(s, query.grain) >= first_day and s <= last_day
        return values.get((s, g), (0.0, 0.0, None) if covered and isinstance(metric, AggregateMetric) else empty)

    for s in starts:
        for g in groups:
            v, n, d = get(s, g)
            for key, val in zip(("period_start", "grp", "value", "numerator", "denominator"), (s, g, v, n, d),
                                strict=True):
                cols[key].append(val)
            if query.compare:
                prev = get(previous(s, query.grain), g)[0]
                ago = get(year_ago(s, query.grain), g)[0]
                extra["previous"].append(prev)
                extra["change"].append(_change(v, prev))
                extra["year_ago"].append(ago)
                extra["yoy_change"].append(_change(v, ago))
    table = pa.table(cols, schema=RESULT_SCHEMA)
    if query.compare:
        for key, vals in extra.items():
            table = table.append_column(key, pa.array(vals, pa.float64()))
    return table


def _change(value: float | None, base: float | None) -> float | None:
    """Relative change; None when the base is missing or zero."""
    if value is None or not base:
        return None
    return (value - base) / abs(base)


def drill_kpi(eng: Engine, catalogue: dict[str, MetricDefinition], metric_name: str, period: date,
              grain: Grain = Grain.DAY, group: str | None = None, by: str | None = None,
              limit: int = 1000) -> pa.Table:
    """The source rows behind one aggregate number (for a ratio, behind its numerator): drill-down from a
    total to the orders, events or days that make it up, at most ``limit`` rows."""
    metric = catalogue.get(metric_name)
    while isinstance(metric, RatioMetric):
        metric = catalogue[metric.numerator]
    if not isinstance(metric, AggregateMetric):
        raise SiyuError(f"{metric_name}: drill-down is available for aggregate metrics and ratios of them",
                        code="no_drill_down")
    if (group is None) != (by is None):
        raise SiyuError("give both the breakdown and the group to drill into, or neither", code="bad_breakdown")
    m = metric.measure
    src = SOURCES[m.source]
    eng.register_arrow("kpi_periods", periods_table([_truncate(period, grain)], grain, metric.window_days))
    params = Params()
    where = filter_sql(src, m.filters, params)
    grp, joins = group_sql(src, by)
    if group is not None:
        where += f" AND {grp} = {params.add(group)}"
    date_col = check_identifier(m.date or src.dates[0])
    params.values["limit"] = int(limit)
    sql = (f"SELECT s.* FROM kpi_{check_identifier(m.source)} AS s{joins} JOIN kpi_periods AS p "
           f"ON s.{date_col} BETWEEN p.window_start AND p.window_end WHERE {where} "
           f"ORDER BY s.{date_col} LIMIT $limit")
    return eng.query(sql, params.values)

