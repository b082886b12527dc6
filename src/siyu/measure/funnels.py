"""Funnels (漏斗): how many people go through ordered steps within a conversion window, and how fast.

Definitions (docs/analysis.md has the worked examples):

- A person's events are ordered by time. Events at the same instant are simultaneous: a later step
  may happen at the same instant as the step before it (but never reuse the same event row), and
  nothing at the same instant counts as "between" two steps.
- **Entry** (进入): a step-1 event whose business day ``dt`` is in ``[start, end]``. From an entry the
  steps are matched greedily: step k+1 is the earliest matching event at or after step k, not yet
  used, at most ``window`` after the entry (ties at one instant are taken in a fixed row order:
  event name, then the columns the spec names).
- **Loose** order (宽松): other events may happen between steps. **Strict** order (严格): the person has
  no other event (of any name) strictly between step k and step k+1 in time.
- **Exclusions** (排除): an excluded event strictly between step k and step k+1 (of the greedy match)
  stops the conversion at step k. ``after_step=k`` limits an exclusion to that gap; ``None`` means
  every gap.
- Each person counts **once**, at the entry whose match goes furthest (the earliest such entry on
  ties). A breakdown by an event column takes the value of that entry event.
- Time to convert for step k is measured from step k−1 (``*_from_previous``) and from step 1
  (``*_from_first``) among the people who reached step k; medians and p90s interpolate linearly.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from siyu.core.errors import SiyuError
from siyu.measure.event_sql import (
    Dimension,
    FilterValue,
    Params,
    check_column,
    check_event_name,
    check_filters,
    column_text,
    dimension_join,
    match_sql,
    micros,
    quantiles_sql,
)
from siyu.warehouse.engine import Engine

MAX_STEPS = 20
#: Default time-to-convert histogram edges in seconds: 1 min, 5 min, 30 min, 1 h, 6 h, 1 d, 3 d, 7 d.
DEFAULT_EDGES = (60, 300, 1800, 3600, 21600, 86400, 259200, 604800)


class FunnelStep(BaseModel):
    """One step: an event name and optional property equalities (compared as text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str
    filters: dict[str, FilterValue] = Field(default_factory=dict)

    @field_validator("event")
    @classmethod
    def _event_ok(cls, v: str) -> str:
        return check_event_name(v)

    @field_validator("filters")
    @classmethod
    def _filters_ok(cls, v: dict[str, FilterValue]) -> dict[str, FilterValue]:
        return check_filters(v)


class Exclusion(FunnelStep):
    """An event that must not happen between step ``after_step`` and the next (any gap when None)."""

    after_step: int | None = None


class FunnelSpec(BaseModel):
    """A funnel definition. ``steps`` may be given as plain event names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: tuple[FunnelStep, ...]
    start: date
    end: date
    window: timedelta = timedelta(days=7)
    order: Literal["loose", "strict"] = "loose"
    exclusions: tuple[Exclusion, ...] = ()
    #: An event column of the entry event (e.g. ``channel``) …
    breakdown: str | None = None
    #: … or a per-person label (segment, tag, region, staff); not both.
    dimension: Dimension | None = None

    @field_validator("steps", mode="before")
    @classmethod
    def _names_are_steps(cls, v: Any) -> Any:
        if isinstance(v, list | tuple):
            return tuple({"event": s} if isinstance(s, str) else s for s in v)
        return v

    @field_validator("breakdown")
    @classmethod
    def _breakdown_ok(cls, v: str | None) -> str | None:
        return None if v is None else check_column(v)

    @model_validator(mode="after")
    def _consistent(self) -> FunnelSpec:
        if not 2 <= len(self.steps) <= MAX_STEPS:
            raise ValueError(f"a funnel needs 2 to {MAX_STEPS} steps, got {len(self.steps)}")
        if self.end < self.start:
            raise ValueError("end is before start")
        if not timedelta(0) < self.window <= timedelta(days=366):
            raise ValueError("window must be more than 0 and at most 366 days")
        if self.breakdown is not None and self.dimension is not None:
            raise ValueError("break down by an event column or by a dimension, not both")
        for x in self.exclusions:
            if x.after_step is not None and not 1 <= x.after_step < len(self.steps):
                raise ValueError(f"exclusion after_step must be 1..{len(self.steps) - 1}, got {x.after_step}")
        return self


def _gap_applies(x: Exclusion, gap: int) -> bool:
    return x.after_step is None or x.after_step == gap


def funnel_people_sql(spec: FunnelSpec) -> tuple[str, dict[str, Any]]:
    """One row per person who entered: ``one_id, breakdown, progress, entry_time, t1..tm, d2..dm, f2..fm``.

    ``progress`` is the last step reached (1..m); ``t<k>`` the time of step k; ``d<k>``/``f<k>`` the
    microseconds from step k−1 / step 1 to step k (null when not reached).
    """
    p = Params()
    m = len(spec.steps)
    steps = range(1, m + 1)
    filter_cols = sorted({c for s in (*spec.steps, *spec.exclusions) for c in s.filters}
                         | ({spec.breakdown} if spec.breakdown else set()))
    cols = {c: f"c{i}" for i, c in enumerate(filter_cols)}
    col_sql = "".join(f", {column_text(c, p)} AS {a}" for c, a in cols.items())
    bd_sql = cols[spec.breakdown] if spec.breakdown else "CAST(NULL AS VARCHAR)"
    names = sorted({s.event for s in spec.steps})
    flags = "".join(f",\n        {match_sql(s.event, s.filters, p, 'x', cols)} AS m{k}"
                    for k, s in zip(steps, spec.steps, strict=True))
    order_cols = "".join(f", {a}" for a in cols.values())
    start, end = p.day(spec.start), p.day(spec.end)
    window = p.bigint(micros(spec.window))
    strict = spec.order == "strict"
    # Strict order needs, for each instant of a person, the next instant at which they did anything.
    stream = """
), instants AS (
    SELECT one_id, event_time, lead(event_time) OVER (PARTITION BY one_id ORDER BY event_time) AS next_time
    FROM (SELECT DISTINCT one_id, event_time FROM events
          WHERE one_id IS NOT NULL AND event_time IS NOT NULL
            AND one_id IN (SELECT one_id FROM seq WHERE m1)) AS d""" if strict else ""
    next_col = "i.next_time" if strict else "CAST(NULL AS TIMESTAMP)"
    next_join = "LEFT JOIN instants AS i ON i.one_id = s.one_id AND i.event_time = s.event_time" if strict else ""
    parts = [f"""
WITH ev AS (
    SELECT e.one_id, e.event, e.event_time, e.dt{col_sql}
    FROM events AS e
    WHERE e.one_id IS NOT NULL AND e.event_time IS NOT NULL AND e.event IN {p.text_list(names)}
), seq AS (
    SELECT x.*, row_number() OVER (PARTITION BY x.one_id ORDER BY x.event_time, x.event{order_cols}) AS rid{flags}
    FROM ev AS x{stream}
), steps AS (
    SELECT s.*, {next_col} AS next_time FROM seq AS s {next_join}
), s1 AS (
    SELECT one_id, rid AS r1, event_time AS t1, next_time AS n1, {bd_sql} AS bd
    FROM steps WHERE m1 AND dt >= {start} AND dt <= {end}"""]
    for k in steps[1:]:
        unused = " AND ".join(f"c.rid <> p.r{i}" for i in range(1, k))
        in_order = f" AND (c.event_time = p.t{k - 1} OR c.event_time = p.n{k - 1})" if strict else ""
        # One reference of the previous step per step: Spark inlines CTEs, so a second one would double
        # the work at every step. The LEFT JOIN keeps entries without a next step (one row of nulls).
        parts.append(f"""
), s{k} AS (
    SELECT * FROM (
        SELECT p.*, c.rid AS r{k}, c.event_time AS t{k}, c.next_time AS n{k},
               row_number() OVER (PARTITION BY p.one_id, p.r1 ORDER BY c.event_time, c.rid) AS pick{k}
        FROM s{k - 1} AS p LEFT JOIN steps AS c
          ON c.one_id = p.one_id AND c.m{k} AND c.event_time >= p.t{k - 1} AND {unused}
         AND date_diff('microsecond', p.t1, c.event_time) <= {window}{in_order}
    ) AS x WHERE pick{k} = 1""")
    reached = "CASE " + " ".join(f"WHEN t{k} IS NULL THEN {k - 1}" for k in steps[1:]) + f" ELSE {m} END"
    if spec.exclusions:
        gap_flags = []
        for gap in steps[:-1]:
            hits = [match_sql(x.event, x.filters, p, "e") for x in spec.exclusions if _gap_applies(x, gap)]
            gap_flags.append(f"{' OR '.join(hits) if hits else 'FALSE'} AS a{gap}")
        cut_cases = " ".join(f"WHEN x.a{g} AND x.event_time > s.t{g} AND x.event_time < s.t{g + 1} THEN {g}"
                             for g in steps[:-1])
        excluded = sorted({x.event for x in spec.exclusions})
        parts.append(f"""
), xev AS (
    SELECT e.one_id, e.event_time, {", ".join(gap_flags)}
    FROM events AS e
    WHERE e.one_id IS NOT NULL AND e.event_time IS NOT NULL AND e.event IN {p.text_list(excluded)}
), cuts AS (
    SELECT s.*, min(CASE {cut_cases} END) OVER (PARTITION BY s.one_id, s.r1) AS cut_at,
           row_number() OVER (PARTITION BY s.one_id, s.r1 ORDER BY x.event_time) AS cut_row
    FROM s{m} AS s LEFT JOIN xev AS x ON x.one_id = s.one_id AND x.event_time > s.t1 AND s.t2 IS NOT NULL
), matched AS (
    SELECT *, CASE WHEN cut_at IS NOT NULL AND cut_at < {reached} THEN cut_at ELSE {reached} END AS progress
    FROM cuts WHERE cut_row = 1""")
    else:
        parts.append(f"""
), matched AS (
    SELECT s.*, {reached} AS progress FROM s{m} AS s""")
    dim_join, dim_label = dimension_join(spec.dimension, "b.one_id")
    label = dim_label if spec.dimension else ("coalesce(b.bd, 'unknown')" if spec.breakdown else "'all'")
    times = "".join(
        f",\n    CASE WHEN b.progress >= {k} THEN b.t{k} END AS t{k}" for k in steps) + "".join(
        f",\n    CASE WHEN b.progress >= {k} THEN date_diff('microsecond', b.t{k - 1}, b.t{k}) END AS d{k}"
        f",\n    CASE WHEN b.progress >= {k} THEN date_diff('microsecond', b.t1, b.t{k}) END AS f{k}"
        for k in steps[1:])
    parts.append(f"""
), best AS (
    SELECT *, row_number() OVER (PARTITION BY one_id ORDER BY progress DESC, t1, r1) AS pick FROM matched
)
SELECT b.one_id, {label} AS breakdown, CAST(b.progress AS INTEGER) AS progress, b.t1 AS entry_time{times}
FROM best AS b {dim_join}
WHERE b.pick = 1
""")
    return "".join(parts), p.values


def _steps_sql(m: int) -> str:
    return " UNION ALL ".join(f"SELECT {k} AS step" for k in range(1, m + 1))


def _long_sql(spec: FunnelSpec) -> tuple[str, dict[str, Any]]:
    """People × reached steps with the time to each: the base of the summary and the histogram."""
    people, params = funnel_people_sql(spec)
    m = len(spec.steps)
    prev = "CASE s.step " + " ".join(f"WHEN {k} THEN p.d{k}" for k in range(2, m + 1)) + " END"
    first = "CASE s.step " + " ".join(f"WHEN {k} THEN p.f{k}" for k in range(2, m + 1)) + " END"
    return f"""
WITH people AS ({people}), step_list AS ({_steps_sql(m)}), reached AS (
    SELECT p.breakdown, s.step, {prev} AS prev_us, {first} AS first_us
    FROM people AS p JOIN step_list AS s ON s.step <= p.progress
)""", params


def funnel(engine: Engine, spec: FunnelSpec) -> pa.Table:
    """Per breakdown and step: people, conversion from the previous and the first step, time to convert.

    Example::

        spec = FunnelSpec(steps=["article_read", "product_viewed", "order_paid"],
                          start=date(2026, 3, 1), end=date(2026, 3, 31), window=timedelta(days=7))
        funnel(engine, spec).to_pandas()
    """
    base, params = _long_sql(spec)
    sql = f"""{base}
SELECT breakdown, step, n_rows AS people, prev_q500 AS prev_q50, prev_q900 AS prev_q90, first_q500 AS first_q50,
       first_q900 AS first_q90
FROM ({quantiles_sql("reached", ["breakdown", "step"], {"prev": "prev_us", "first": "first_us"}, (500, 900))}) AS q
"""
    rows = {(r["breakdown"], r["step"]): r for r in engine.query(sql, params).to_pylist()}
    return _assemble(spec, rows)


def _seconds(us: float | None) -> float | None:
    return None if us is None else us / 1e6


def _assemble(spec: FunnelSpec, rows: dict[tuple[str, int], dict[str, Any]]) -> pa.Table:
    out: dict[str, list[Any]] = {k: [] for k in (
        "breakdown", "step", "event", "people", "conversion_from_previous", "conversion_from_first",
        "median_seconds_from_previous", "p90_seconds_from_previous", "median_seconds_from_first",
        "p90_seconds_from_first")}
    for bd in sorted({b for b, _ in rows}):
        first = prev = 0
        for k, step in enumerate(spec.steps, start=1):
            r = rows.get((bd, k), {})
            n = int(r.get("people", 0))
            if k == 1:
                first = prev = n
            out["breakdown"].append(bd)
            out["step"].append(k)
            out["event"].append(step.event)
            out["people"].append(n)
            out["conversion_from_previous"].append(n / prev if prev else None)
            out["conversion_from_first"].append(n / first if first else None)
            out["median_seconds_from_previous"].append(_seconds(r.get("prev_q50")))
            out["p90_seconds_from_previous"].append(_seconds(r.get("prev_q90")))
            out["median_seconds_from_first"].append(_seconds(r.get("first_q50")))
            out["p90_seconds_from_first"].append(_seconds(r.get("first_q90")))
            prev = n
    return pa.table(out, schema=pa.schema([
        ("breakdown", pa.string()), ("step", pa.int32()), ("event", pa.string()), ("people", pa.int64()),
        ("conversion_from_previous", pa.float64()), ("conversion_from_first", pa.float64()),
        ("median_seconds_from_previous", pa.float64()), ("p90_seconds_from_previous", pa.float64()),
        ("median_seconds_from_first", pa.float64()), ("p90_seconds_from_first", pa.float64())]))


def funnel_time_histogram(engine: Engine, spec: FunnelSpec, edges: tuple[int, ...] = DEFAULT_EDGES,
                          measure: Literal["previous", "first"] = "previous") -> pa.Table:
    """People per time-to-convert bin, per breakdown and step ≥ 2: bins ``[lower, upper)`` in seconds.

    The first bin starts at 0 and the last has no upper edge (``upper_seconds`` null).
    """
    if not edges or any(b <= a for a, b in pairwise(edges)) or edges[0] <= 0:
        raise SiyuError("histogram edges must be positive and strictly ascending", code="bad_funnel_spec",
                        input_name="edges")
    if measure not in ("previous", "first"):
        raise SiyuError(f"measure must be 'previous' or 'first', got {measure!r}", code="bad_funnel_spec",
                        input_name="measure")
    base, params = _long_sql(spec)
    p = Params()
    p.values = params
    col = "prev_us" if measure == "previous" else "first_us"
    bins = "CASE " + " ".join(f"WHEN {col} < {p.bigint(e * 1_000_000)} THEN {i}" for i, e in enumerate(edges)) \
        + f" ELSE {len(edges)} END"
    sql = f"""{base}
SELECT breakdown, step, {bins} AS bin, count(*) AS people
FROM reached WHERE step >= 2 GROUP BY 1, 2, 3
"""
    got = {(r["breakdown"], r["step"], r["bin"]): r["people"] for r in engine.query(sql, p.values).to_pylist()}
    bounds = [0, *edges]
    out: dict[str, list[Any]] = {"breakdown": [], "step": [], "event": [], "bin": [], "lower_seconds": [],
                                 "upper_seconds": [], "people": []}
    for bd in sorted({b for b, _, _ in got}):
        for k in range(2, len(spec.steps) + 1):
            for i, lower in enumerate(bounds):
                out["breakdown"].append(bd)
                out["step"].append(k)
                out["event"].append(spec.steps[k - 1].event)
                out["bin"].append(i)
                out["lower_seconds"].append(lower)
                out["upper_seconds"].append(edges[i] if i < len(edges) else None)
                out["people"].append(int(got.get((bd, k, i), 0)))
    return pa.table(out, schema=pa.schema([
        ("breakdown", pa.string()), ("step", pa.int32()), ("event", pa.string()), ("bin", pa.int32()),
        ("lower_seconds", pa.int64()), ("upper_seconds", pa.int64()), ("people", pa.int64())]))


def _dropouts_sql(spec: FunnelSpec, step: int) -> tuple[str, dict[str, Any]]:
    if not 1 <= step < len(spec.steps):
        raise SiyuError(f"step must be 1..{len(spec.steps) - 1} (people who reached it but not the next), "
                        f"got {step}", code="bad_funnel_spec", input_name="step")
    people, params = funnel_people_sql(spec)
    p = Params()
    p.values = params
    return f"""
WITH people AS ({people})
SELECT one_id, breakdown, entry_time, t{step} AS reached_at FROM people WHERE progress = {p.bigint(step)}
""", p.values


def funnel_dropouts(engine: Engine, spec: FunnelSpec, step: int) -> pa.Table:
    """People who reached ``step`` but not ``step + 1`` (流失人群): ``one_id, breakdown, entry_time, reached_at``.

    Feed the ``one_id`` column to a segment for a win-back touch.
    """
    sql, params = _dropouts_sql(spec, step)
    return engine.query(sql + "ORDER BY one_id", params)


def write_funnel_dropouts(engine: Engine, spec: FunnelSpec, step: int, out_dir: Path) -> None:
    """Like :func:`funnel_dropouts` but written as parquet into ``out_dir`` (for millions of people)."""
    sql, params = _dropouts_sql(spec, step)
    engine.write(sql, out_dir, params)


def write_funnel_people(engine: Engine, spec: FunnelSpec, out_dir: Path) -> None:
    """Every entered person's match (progress, step times) as parquet into ``out_dir``."""
    sql, params = funnel_people_sql(spec)
    engine.write(sql, out_dir, params)
