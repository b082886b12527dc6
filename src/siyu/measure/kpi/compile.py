"""Compile one KPI definition into SQL over the ``kpi_*`` views and a ``kpi_periods`` table.

Every query returns ``period_start, grp, numerator, denominator`` (aggregates leave the denominator
null). ``kpi_periods`` (period_start, window_start, window_end, days) is built in Python by
:func:`siyu.measure.kpi.compute.periods_table`: a rolling metric widens the window, a plain one uses the
period itself. Column names come only from the allow-lists in :mod:`siyu.measure.kpi.sources` (checked
again here), values only as ``$parameters``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from siyu.core.errors import SiyuError
from siyu.measure.kpi.model import (
    Agg,
    AggregateMetric,
    CohortRateMetric,
    Filter,
    Grain,
    Measure,
    NpsMetric,
    Op,
    ReactivationMetric,
    Step,
)
from siyu.measure.kpi.sources import LABEL_DIMENSIONS, PERSON_DIMENSIONS, ROW_DIMENSIONS, SOURCES, Source
from siyu.warehouse.engine.base import check_identifier

_OPS = {Op.EQ: "=", Op.NE: "<>", Op.GT: ">", Op.GE: ">=", Op.LT: "<", Op.LE: "<="}
#: Cohort and reactivation rows are people, not source rows: only person-level breakdowns apply.
_PEOPLE_ONLY = Source("people", "anchored people", ("one_id",), (), None)
_AGG = {Agg.COUNT: "count(*)", Agg.SUM: "sum({c})", Agg.AVG: "avg({c})", Agg.COUNT_DISTINCT: "count(DISTINCT {c})"}


@dataclass
class Params:
    """Collects bound parameters while SQL is built, so every value travels as ``$name``."""

    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def _col(source: Source, column: str, alias: str = "s") -> str:
    if column not in source.columns and column not in source.dates and column != source.time:
        raise SiyuError(f"source {source.name} has no column {column!r}", code="bad_metric")
    return f"{alias}.{check_identifier(column)}"


def filter_sql(source: Source, filters: tuple[Filter, ...], params: Params, alias: str = "s") -> str:
    """``AND``-joined predicates; ``TRUE`` when there are none."""
    parts = []
    for f in filters:
        col = _col(source, f.column, alias)
        if f.op is Op.IS_NULL:
            parts.append(f"{col} IS NULL")
        elif f.op is Op.NOT_NULL:
            parts.append(f"{col} IS NOT NULL")
        elif f.op in (Op.IN, Op.NOT_IN):
            assert isinstance(f.value, list)
            values = ", ".join(params.add(v) for v in f.value)
            parts.append(f"{col} {'IN' if f.op is Op.IN else 'NOT IN'} ({values})")
        else:
            parts.append(f"{col} {_OPS[f.op]} {params.add(f.value)}")
    return " AND ".join(parts) or "TRUE"


def group_sql(source: Source, by: str | None, alias: str = "s") -> tuple[str, str]:
    """(expression for the breakdown value, joins it needs) for dimension ``by``."""
    if by is None:
        return "'all'", ""
    if by in ROW_DIMENSIONS:
        column = ROW_DIMENSIONS[by]
        if column not in source.columns:
            raise SiyuError(f"metrics over {source.name} cannot be broken down by {by}", code="bad_breakdown")
        return f"coalesce(CAST({alias}.{check_identifier(column)} AS VARCHAR), 'unknown')", ""
    if not source.person:
        raise SiyuError(f"metrics over {source.name} have no person to break down by {by}", code="bad_breakdown")
    if by in PERSON_DIMENSIONS:
        column = check_identifier(PERSON_DIMENSIONS[by])
        return (f"coalesce(d.{column}, 'unknown')",
                f" LEFT JOIN person_dims AS d ON d.one_id = {alias}.one_id")
    if by in LABEL_DIMENSIONS:
        return "l.label", f" JOIN kpi_labels AS l ON l.one_id = {alias}.one_id"
    raise SiyuError(f"unknown dimension {by!r}", code="bad_breakdown")


def _bucket(grain: Grain, expr: str) -> str:
    return f"CAST(date_trunc('{grain.value}', {expr}) AS DATE)"


def aggregate_sql(metric: AggregateMetric, by: str | None, params: Params) -> str:
    m: Measure = metric.measure
    src = SOURCES[m.source]
    date = _col(src, m.date or src.dates[0])
    grp, joins = group_sql(src, by)
    where = filter_sql(src, m.filters, params)
    value = _AGG[m.agg].format(c=_col(src, m.column) if m.column else "")
    if m.agg in (Agg.SUM, Agg.AVG):
        value = f"CAST({value} AS DOUBLE)"
    base = (f"kpi_{check_identifier(m.source)} AS s{joins} "
            f"JOIN kpi_periods AS p ON {date} BETWEEN p.window_start AND p.window_end")
    if not metric.daily_mean:
        return (f"SELECT p.period_start, {grp} AS grp, CAST({value} AS DOUBLE) AS numerator, "
                f"CAST(NULL AS DOUBLE) AS denominator FROM {base} WHERE {where} GROUP BY 1, 2")
    # The mean of the daily values over the period's days (a day with no rows counts as zero).
    return (f"SELECT period_start, grp, CAST(sum(v) AS DOUBLE) / max(days) AS numerator, "
            f"CAST(NULL AS DOUBLE) AS denominator FROM ("
            f"SELECT p.period_start, p.days, {date} AS day, {grp} AS grp, {value} AS v FROM {base} "
            f"WHERE {where} GROUP BY 1, 2, 3, 4) AS daily GROUP BY 1, 2")


def _step_rows(step: Step, params: Params, time_alias: str) -> str:
    src = SOURCES[step.source]
    assert src.time is not None
    where = filter_sql(src, step.filters, params)
    return (f"SELECT s.one_id, s.{check_identifier(src.time)} AS {time_alias} FROM kpi_{check_identifier(step.source)} "
            f"AS s WHERE s.one_id IS NOT NULL AND s.{check_identifier(src.time)} IS NOT NULL AND {where}")


def cohort_rate_sql(metric: CohortRateMetric, by: str | None, params: Params) -> str:
    """Anchors per period (first ever, or first in the period), outcome within [lo, hi] days after, and
    anchors whose window passes the data end left out (right-censoring)."""
    lo, hi = metric.within_days
    a_rows = _step_rows(metric.anchor, params, "anchor_at")
    o_rows = _step_rows(metric.outcome, params, "outcome_at")
    if metric.anchor_first == "ever":
        anchors = (f"SELECT p.period_start, f.one_id, f.anchor_at FROM ("
                   f"SELECT one_id, min(anchor_at) AS anchor_at FROM ({a_rows}) AS a "
                   f"GROUP BY one_id) AS f JOIN kpi_periods AS p ON CAST(f.anchor_at AS DATE) BETWEEN p.window_start "
                   f"AND p.window_end")
    else:
        anchors = (f"SELECT p.period_start, a.one_id, min(a.anchor_at) AS anchor_at FROM ({a_rows}) AS a "
                   f"JOIN kpi_periods AS p "
                   f"ON CAST(a.anchor_at AS DATE) BETWEEN p.window_start AND p.window_end GROUP BY 1, 2")
    later = "AND o.outcome_at > an.anchor_at" if metric.outcome_after_anchor else ""
    grp, joins = group_sql(_PEOPLE_ONLY, by, alias="an")
    return f"""
WITH anchors AS ({anchors}),
observed AS (SELECT * FROM anchors WHERE CAST(anchor_at AS DATE) + INTERVAL {int(hi)} DAY <= CAST($data_end AS DATE)),
hits AS (
    SELECT DISTINCT an.period_start, an.one_id FROM observed AS an JOIN ({o_rows}) AS o ON o.one_id = an.one_id
    WHERE date_diff('day', CAST(an.anchor_at AS DATE), CAST(o.outcome_at AS DATE))
          BETWEEN {int(lo)} AND {int(hi)} {later}
)
SELECT an.period_start, {grp} AS grp, CAST(count(h.one_id) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM observed AS an{joins}
LEFT JOIN hits AS h ON h.period_start = an.period_start AND h.one_id = an.one_id
GROUP BY 1, 2
"""


def reactivation_sql(metric: ReactivationMetric, by: str | None) -> str:
    """Silent spells are gaps of ``silent_days`` or more between active days (or after the last one);
    a person is silent at a period's start when a spell covers it, reactivated when the spell ends inside."""
    k = int(metric.silent_days)
    grp, joins = group_sql(_PEOPLE_ONLY, by, alias="g")
    return f"""
WITH act AS (SELECT DISTINCT one_id, dt FROM kpi_user_daily WHERE active),
spells AS (
    SELECT one_id, dt AS silent_from, next_dt AS back_on FROM (
        SELECT one_id, dt, lead(dt) OVER (PARTITION BY one_id ORDER BY dt) AS next_dt FROM act
    ) AS x WHERE next_dt IS NULL OR date_diff('day', dt, next_dt) >= {k}
),
silent AS (
    SELECT p.period_start, p.window_end, s.one_id, s.back_on FROM spells AS s JOIN kpi_periods AS p
      ON s.silent_from + INTERVAL {k} DAY <= p.window_start AND (s.back_on IS NULL OR s.back_on >= p.window_start)
)
SELECT g.period_start, {grp} AS grp,
       CAST(sum(CASE WHEN g.back_on IS NOT NULL AND g.back_on <= g.window_end THEN 1 ELSE 0 END) AS DOUBLE)
           AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM silent AS g{joins}
GROUP BY 1, 2
"""


def nps_sql(metric: NpsMetric, by: str | None, params: Params) -> str:
    """numerator = 100 × (promoters − detractors), denominator = answers; value = numerator / denominator."""
    src = SOURCES["surveys"]
    grp, joins = group_sql(src, by)
    kind = f"s.survey_type = {params.add(metric.survey_type)}" if metric.survey_type else "TRUE"
    return f"""
SELECT p.period_start, {grp} AS grp,
       CAST(100 * (sum(CASE WHEN s.score >= 9 THEN 1 ELSE 0 END) - sum(CASE WHEN s.score <= 6 THEN 1 ELSE 0 END))
            AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM kpi_surveys AS s{joins} JOIN kpi_periods AS p ON s.dt BETWEEN p.window_start AND p.window_end
WHERE s.score BETWEEN 0 AND 10 AND {kind}
GROUP BY 1, 2
"""
