"""Paths (路径): the event sequences people take before converting, before going silent, and after an entry.

Definitions (docs/analysis.md has the worked examples):

- The events that count are the person's events except ``ignore_events`` (by default the brand-side
  events: deliveries, coupons issued, points and tier changes — they are not the person acting).
- A **path** is a sequence of event names in time order (events at one instant in alphabetical order
  of name) with consecutive repeats collapsed (read, read, view → read, view), cut to ``steps`` steps.
- **Conversion paths** (转化路径): for each person, their first ``target`` event with ``dt`` in
  ``[start, end]``; the path is the last ``steps`` steps strictly before it (within ``lookback``).
- **Churn paths** (流失前路径): people with no counted event in the last ``silent_days`` days before
  the data end (idle ≥ silent_days, as for lifecycle's silent stage); the path is their last
  ``steps`` steps, the last event included.
- **Forward paths** (后续路径): from each person's first ``entry`` event in ``[start, end]``, the
  events that follow while each comes at most ``max_gap`` after the one before (a session), the
  first ``steps`` steps. The path **exits** (流失) at its last step when the session ended before
  ``steps`` steps and the silence after it (> ``max_gap``) is observed before the data end; a longer
  session is ``continued``; a session still open at the data end is ``open`` (censored).
- **Key drop-off node** (关键流失节点): the node (step position, event) where the most forward paths
  exit; ties go to the higher exit rate (exits / people reaching the node), then the earlier step.

Sankey nodes are named ``"<column>:<event>"``. Backward paths are right-aligned so every path ends in
the terminal node (column ``steps + 1``: the target, or ``went_silent``); forward paths start in column 1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from siyu.core.errors import SiyuError
from siyu.measure.event_sql import (
    DEFAULT_IGNORED_EVENTS,
    Params,
    business_day_end,
    check_event_name,
    last_day,
    micros,
)
from siyu.warehouse.engine import Engine

SEPARATOR = " > "
SILENT_NODE = "went_silent"


class _PathSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = 5
    start: date | None = None
    end: date | None = None
    ignore_events: tuple[str, ...] = DEFAULT_IGNORED_EVENTS

    @field_validator("steps")
    @classmethod
    def _steps_ok(cls, v: int) -> int:
        if not 1 <= v <= 20:
            raise ValueError("steps must be between 1 and 20")
        return v

    @field_validator("ignore_events")
    @classmethod
    def _events_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_event_name(e) for e in v)

    @model_validator(mode="after")
    def _range_ok(self) -> _PathSpec:
        if self.start and self.end and self.end < self.start:
            raise ValueError("end is before start")
        return self


class ConversionPathSpec(_PathSpec):
    target: str = "order_paid"
    #: Only events at most this long before the conversion (None: all history).
    lookback: timedelta | None = None

    @model_validator(mode="after")
    def _target_ok(self) -> ConversionPathSpec:
        check_event_name(self.target)
        if self.target in self.ignore_events:
            raise ValueError(f"the target {self.target!r} is among ignore_events")
        if self.lookback is not None and self.lookback <= timedelta(0):
            raise ValueError("lookback must be positive")
        return self


class ChurnPathSpec(_PathSpec):
    silent_days: int = 30
    #: The data end; default: the last day in ``events``.
    as_of: date | None = None

    @field_validator("silent_days")
    @classmethod
    def _silent_ok(cls, v: int) -> int:
        if not 1 <= v <= 3660:
            raise ValueError("silent_days must be between 1 and 3660")
        return v


class ForwardPathSpec(_PathSpec):
    entry: str
    max_gap: timedelta = timedelta(minutes=30)
    as_of: date | None = None

    @model_validator(mode="after")
    def _entry_ok(self) -> ForwardPathSpec:
        check_event_name(self.entry)
        if self.entry in self.ignore_events:
            raise ValueError(f"the entry {self.entry!r} is among ignore_events")
        if self.max_gap <= timedelta(0):
            raise ValueError("max_gap must be positive")
        return self


@dataclass(frozen=True)
class PathReport:
    """Paths with counts and share, and the same flows as Sankey nodes and links (ECharts-ready)."""

    people: int
    paths: pa.Table
    nodes: pa.Table
    links: pa.Table
    #: Forward paths only: per node, people reaching it and exiting there.
    dropoffs: pa.Table | None = None


def _events_cte(spec: _PathSpec, p: Params, as_of: date | None) -> str:
    where = ["one_id IS NOT NULL", "event_time IS NOT NULL"]
    if spec.ignore_events:
        where.append(f"event NOT IN {p.text_list(spec.ignore_events)}")
    if as_of is not None:
        where.append(f"dt <= {p.day(as_of)}")
    return f"ev AS (SELECT one_id, event, event_time, dt FROM events WHERE {' AND '.join(where)})"


def _range(spec: _PathSpec, p: Params, column: str) -> str:
    parts = ([f"{column} >= {p.day(spec.start)}"] if spec.start else []) + (
        [f"{column} <= {p.day(spec.end)}"] if spec.end else [])
    return "".join(f" AND {x}" for x in parts)


def _slots(k: int, index: str) -> str:
    k = int(k)
    return ", ".join(f"max(CASE WHEN {index} = {i} THEN event END) AS s{i}" for i in range(1, k + 1))


def _backward_tail(k: int) -> str:
    """From ``anchor`` (one_id) and ``before`` (the candidate events): people's last k collapsed steps."""
    k = int(k)
    cols = ", ".join(f"s{i}" for i in range(1, k + 1))
    return f"""
), runs AS (
    SELECT one_id, event, event_time, lag(event) OVER (PARTITION BY one_id ORDER BY event_time, event) AS prev
    FROM before
), kept AS (
    SELECT one_id, event, row_number() OVER (PARTITION BY one_id ORDER BY event_time DESC, event DESC) AS back
    FROM runs WHERE prev IS NULL OR prev <> event
), per AS (
    SELECT one_id, {_slots(k, "back")} FROM kept WHERE back <= {k} GROUP BY one_id
), joined AS (
    SELECT {", ".join(f"p.s{i}" for i in range(1, k + 1))} FROM anchor AS a LEFT JOIN per AS p ON p.one_id = a.one_id
)
SELECT {cols}, count(*) AS people FROM joined GROUP BY {cols}
"""


def conversion_paths_sql(spec: ConversionPathSpec) -> tuple[str, dict[str, Any]]:
    p = Params()
    lookback = (f" AND date_diff('microsecond', e.event_time, a.anchor_time) <= {p.bigint(micros(spec.lookback))}"
                if spec.lookback else "")
    sql = f"""
WITH {_events_cte(spec, p, None)}, anchor AS (
    SELECT one_id, min(event_time) AS anchor_time FROM ev WHERE event = {p.text(spec.target)}{_range(spec, p, "dt")}
    GROUP BY one_id
), before AS (
    SELECT e.one_id, e.event, e.event_time FROM ev AS e JOIN anchor AS a ON a.one_id = e.one_id
    WHERE e.event_time < a.anchor_time{lookback}{_backward_tail(spec.steps)}"""
    return sql, p.values


def churn_paths_sql(spec: ChurnPathSpec, as_of: date) -> tuple[str, dict[str, Any]]:
    p = Params()
    sql = f"""
WITH {_events_cte(spec, p, as_of)}, last_seen AS (
    SELECT one_id, max(event_time) AS anchor_time, max(dt) AS last_dt FROM ev GROUP BY one_id
), anchor AS (
    SELECT one_id, anchor_time FROM last_seen
    WHERE date_diff('day', last_dt, {p.day(as_of)}) >= {p.bigint(spec.silent_days)}{_range(spec, p, "last_dt")}
), before AS (
    SELECT e.one_id, e.event, e.event_time FROM ev AS e JOIN anchor AS a ON a.one_id = e.one_id
    WHERE e.event_time <= a.anchor_time{_backward_tail(spec.steps)}"""
    return sql, p.values


def forward_paths_sql(spec: ForwardPathSpec, as_of: date) -> tuple[str, dict[str, Any]]:
    p = Params()
    k = int(spec.steps)
    gap = p.bigint(micros(spec.max_gap))
    cols = ", ".join(f"s{i}" for i in range(1, k + 1))
    sql = f"""
WITH {_events_cte(spec, p, as_of)}, ordered AS (
    SELECT one_id, event, event_time, dt, row_number() OVER (PARTITION BY one_id ORDER BY event_time, event) AS rn
    FROM ev
), entry AS (
    SELECT one_id, min(rn) AS rn0 FROM ordered WHERE event = {p.text(spec.entry)}{_range(spec, p, "dt")}
    GROUP BY one_id
), after AS (
    SELECT o.one_id, o.event, o.event_time, o.rn,
           date_diff('microsecond', lag(o.event_time) OVER (PARTITION BY o.one_id ORDER BY o.rn), o.event_time) AS gap
    FROM ordered AS o JOIN entry AS e ON e.one_id = o.one_id AND o.rn >= e.rn0
), sessions AS (
    SELECT *, sum(CASE WHEN gap > {gap} THEN 1 ELSE 0 END)
              OVER (PARTITION BY one_id ORDER BY rn ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS breaks
    FROM after
), path_rows AS (
    SELECT one_id, event, event_time, rn, lag(event) OVER (PARTITION BY one_id ORDER BY rn) AS prev
    FROM sessions WHERE breaks = 0
), kept AS (
    SELECT one_id, event, row_number() OVER (PARTITION BY one_id ORDER BY rn) AS step
    FROM path_rows WHERE prev IS NULL OR prev <> event
), per AS (
    SELECT one_id, count(*) AS n_steps, {_slots(k, "step")} FROM kept GROUP BY one_id
), ends AS (
    SELECT one_id, max(event_time) AS last_time FROM path_rows GROUP BY one_id
), outcomes AS (
    SELECT {", ".join(f"p.s{i}" for i in range(1, k + 1))},
        CASE WHEN p.n_steps > {k} THEN 'continued'
             WHEN date_diff('microsecond', e.last_time, {p.bind(business_day_end(as_of))}) > {gap} THEN 'exit'
             ELSE 'open' END AS outcome
    FROM per AS p JOIN ends AS e ON e.one_id = p.one_id
)
SELECT {cols}, outcome, count(*) AS people FROM outcomes GROUP BY {cols}, outcome
"""
    return sql, p.values


def _steps_of(row: dict[str, Any], k: int, backward: bool) -> list[str]:
    slots = [row[f"s{i}"] for i in range(1, k + 1) if row[f"s{i}"] is not None]
    return slots[::-1] if backward else slots


def _report(rows: Sequence[tuple[list[str], int, str | None]], k: int, terminal: str | None,
            dropoffs: pa.Table | None = None) -> PathReport:
    """Paths table, nodes and links from ``(steps, people, outcome)`` rows."""
    total = sum(n for _, n, _ in rows)
    by_path: dict[tuple[str, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    node_people: dict[tuple[int, str], int] = defaultdict(int)
    links: dict[tuple[str, str], int] = defaultdict(int)
    for steps, n, outcome in rows:
        counts = by_path[tuple(steps)]
        counts["people"] += n
        if outcome is not None:
            counts[outcome] += n
        offset = k - len(steps) if terminal is not None else 0  # backward paths are right-aligned
        names = [(offset + i + 1, e) for i, e in enumerate(steps)]
        if terminal is not None and steps:
            names.append((k + 1, terminal))
        for col, e in names:
            node_people[(col, e)] += n
        for (c1, e1), (c2, e2) in pairwise(names):
            links[(f"{c1}:{e1}", f"{c2}:{e2}")] += n
    ordered = sorted(by_path.items(), key=lambda kv: (-kv[1]["people"], kv[0]))
    paths: dict[str, list[Any]] = {"path": [SEPARATOR.join(s) for s, _ in ordered],
                                   "steps": [len(s) for s, _ in ordered],
                                   "people": [c["people"] for _, c in ordered],
                                   "share": [c["people"] / total for _, c in ordered]}
    schema = [("path", pa.string()), ("steps", pa.int32()), ("people", pa.int64()), ("share", pa.float64())]
    if dropoffs is not None:
        for outcome in ("exit", "continued", "open"):
            paths[f"{outcome}s" if outcome == "exit" else outcome] = [c[outcome] for _, c in ordered]
        schema += [("exits", pa.int64()), ("continued", pa.int64()), ("open", pa.int64())]
    nodes = sorted(node_people.items())
    link_rows = sorted(links.items(), key=lambda kv: (-kv[1], kv[0]))
    return PathReport(
        people=total,
        paths=pa.table(paths, schema=pa.schema(schema)),
        nodes=pa.table({"name": [f"{c}:{e}" for (c, e), _ in nodes], "column": [c for (c, _), _ in nodes],
                        "event": [e for (_, e), _ in nodes], "people": [n for _, n in nodes]},
                       schema=pa.schema([("name", pa.string()), ("column", pa.int32()), ("event", pa.string()),
                                         ("people", pa.int64())])),
        links=pa.table({"source": [s for (s, _), _ in link_rows], "target": [t for (_, t), _ in link_rows],
                        "value": [v for _, v in link_rows]},
                       schema=pa.schema([("source", pa.string()), ("target", pa.string()), ("value", pa.int64())])),
        dropoffs=dropoffs,
    )


def conversion_paths(engine: Engine, spec: ConversionPathSpec) -> PathReport:
    """The most common last ``steps`` steps before people's first conversion (e.g. ``order_paid``)."""
    sql, params = conversion_paths_sql(spec)
    rows = [(_steps_of(r, spec.steps, True), int(r["people"]), None) for r in engine.query(sql, params).to_pylist()]
    return _report(rows, spec.steps, spec.target)


def _as_of(engine: Engine, as_of: date | None) -> date:
    got = as_of or last_day(engine, "events")
    if got is None:
        raise SiyuError("events is empty: there are no paths", code="no_data", input_name="as_of")
    return got


def churn_paths(engine: Engine, spec: ChurnPathSpec) -> PathReport:
    """The most common last ``steps`` steps of people who went silent (idle ≥ ``silent_days`` at the data end)."""
    sql, params = churn_paths_sql(spec, _as_of(engine, spec.as_of))
    rows = [(_steps_of(r, spec.steps, True), int(r["people"]), None) for r in engine.query(sql, params).to_pylist()]
    return _report(rows, spec.steps, SILENT_NODE)


def forward_paths(engine: Engine, spec: ForwardPathSpec) -> PathReport:
    """Where people go after ``entry``: paths, Sankey flows and per-node drop-offs (``report.dropoffs``)."""
    sql, params = forward_paths_sql(spec, _as_of(engine, spec.as_of))
    rows = [(_steps_of(r, spec.steps, False), int(r["people"]), str(r["outcome"]))
            for r in engine.query(sql, params).to_pylist()]
    return _report(rows, spec.steps, None, _dropoffs(rows))


def _dropoffs(rows: Sequence[tuple[list[str], int, str | None]]) -> pa.Table:
    reached: dict[tuple[int, str], int] = defaultdict(int)
    exits: dict[tuple[int, str], int] = defaultdict(int)
    for steps, n, outcome in rows:
        for i, e in enumerate(steps, start=1):
            reached[(i, e)] += n
        if outcome == "exit":
            exits[(len(steps), steps[-1])] += n
    order = sorted(reached, key=lambda node: (-exits[node], -exits[node] / reached[node], node))
    return pa.table({
        "node": [f"{c}:{e}" for c, e in order], "column": [c for c, _ in order], "event": [e for _, e in order],
        "reached": [reached[n] for n in order], "exits": [exits[n] for n in order],
        "exit_rate": [exits[n] / reached[n] for n in order],
    }, schema=pa.schema([("node", pa.string()), ("column", pa.int32()), ("event", pa.string()),
                         ("reached", pa.int64()), ("exits", pa.int64()), ("exit_rate", pa.float64())]))


def key_dropoff_node(engine: Engine, spec: ForwardPathSpec) -> dict[str, Any] | None:
    """The key drop-off node (关键流失节点) of the forward paths from ``spec.entry``, or None without exits."""
    report = forward_paths(engine, spec)
    assert report.dropoffs is not None
    top = report.dropoffs.slice(0, 1).to_pylist()
    return top[0] if top and top[0]["exits"] > 0 else None
