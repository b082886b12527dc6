"""The report's data contract (报告数据): what the measure rooms hand to the visual report.

Every section is optional: a report of only a funnel is a valid report. The models check what a
chart needs to be drawn honestly — rates in [0, 1], a CI around its estimate, a 7 × 24 activity
matrix, a Sankey graph without cycles (ECharts refuses cyclic Sankey data) — and nothing about how
the numbers were computed, which is the measure rooms' business.

Constructing a model directly raises pydantic's ``ValidationError``; :func:`parse_report_data` turns
a JSON document or a mapping into :class:`ReportData` and raises :class:`SiyuError` naming the field.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping
from datetime import date, datetime
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from siyu.core.errors import SiyuError

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]
Amount = Annotated[float, Field(ge=0.0)]
Text = Annotated[str, Field(min_length=1, max_length=500)]

WEEKDAYS = 7
HOURS = 24


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Bilingual(_Model):
    """A name shown in Chinese or English; either may be left empty and the other is used."""

    name_zh: str = Field(default="", max_length=200)
    name_en: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _one_name(self) -> _Bilingual:
        if not (self.name_zh.strip() or self.name_en.strip()):
            raise ValueError("give name_zh or name_en (or both)")
        return self

    def name(self, lang: str) -> str:
        first, second = (self.name_zh, self.name_en) if lang == "zh" else (self.name_en, self.name_zh)
        return first.strip() or second.strip()


# --- KPI 指标 ---------------------------------------------------------------------------------------

class KpiCard(_Bilingual):
    """One KPI card: its value in the window and the relative change vs the previous period.

    ``value`` is shown as given, followed by ``unit`` (give a rate as ``23.5`` with ``unit="%"``).
    ``change`` is relative: ``0.12`` is +12 % vs the previous period of the same length.
    """

    value: float
    unit: str = Field(default="", max_length=20)
    change: float | None = None
    higher_is_better: bool = True


class TrendPoint(_Model):
    day: date
    value: float | None = None


class KpiTrend(_Bilingual):
    """A daily series of one KPI; series with the same unit share a chart."""

    unit: str = Field(default="", max_length=20)
    points: list[TrendPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _days_ascend(self) -> KpiTrend:
        days = [p.day for p in self.points]
        if any(b <= a for a, b in pairwise(days)):
            raise ValueError("trend points must have strictly increasing days")
        return self


class KpiSection(_Model):
    cards: list[KpiCard] = Field(default_factory=list)
    trends: list[KpiTrend] = Field(default_factory=list)


# --- 漏斗 funnel ------------------------------------------------------------------------------------

class FunnelStep(_Model):
    """A step with the people who reached it; rates left out are computed from the counts."""

    name: Text
    count: Count
    rate_from_previous: Rate | None = None
    rate_from_first: Rate | None = None


class FunnelBreakdown(_Model):
    """The step counts of one segment (e.g. one channel), in step order."""

    segment: Text
    counts: list[Count]


class FunnelSection(_Model):
    name: str = Field(default="", max_length=200)
    steps: list[FunnelStep] = Field(min_length=1)
    breakdown_by: str = Field(default="", max_length=200)
    breakdown: list[FunnelBreakdown] = Field(default_factory=list)

    @model_validator(mode="after")
    def _breakdown_matches_steps(self) -> FunnelSection:
        for row in self.breakdown:
            if len(row.counts) != len(self.steps):
                raise ValueError(f"breakdown {row.segment!r} has {len(row.counts)} counts for {len(self.steps)} steps")
        return self

    def rates(self) -> list[tuple[float | None, float | None]]:
        """(from previous step, from first step) per step; a given rate wins, else count / count."""
        first = self.steps[0].count
        out: list[tuple[float | None, float | None]] = []
        for i, step in enumerate(self.steps):
            prev = self.steps[i - 1].count if i else step.count
            from_prev = step.rate_from_previous if step.rate_from_previous is not None else _ratio(step.count, prev)
            from_first = step.rate_from_first if step.rate_from_first is not None else _ratio(step.count, first)
            out.append((from_prev, from_first))
        return out


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


# --- 留存 cohorts -----------------------------------------------------------------------------------

class CohortRow(_Model):
    """One cohort: its size, retention per period index (0 = the cohort's own period) and revenue.

    ``revenue[i]`` is the cohort's total revenue in period ``i``; ``None`` marks a period not reached yet.
    """

    label: Text
    size: Count
    retention: list[Rate | None] = Field(min_length=1)
    revenue: list[Amount | None] | None = None


class CohortSection(_Model):
    period: Literal["day", "week", "month"] = "week"
    rows: list[CohortRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_labels(self) -> CohortSection:
        _check_unique([r.label for r in self.rows], "cohort label")
        return self

    @property
    def periods(self) -> int:
        return max(len(r.retention) for r in self.rows)

    @property
    def has_revenue(self) -> bool:
        return any(r.revenue for r in self.rows)


# --- 路径 paths -------------------------------------------------------------------------------------

class PathLink(_Model):
    source: Text
    target: Text
    value: Annotated[float, Field(gt=0.0)]


class DropOff(_Model):
    """The key drop-off step (关键流失节点): where most people leave the path."""

    step: Text
    lost: Amount
    rate: Rate | None = None
    note: str = Field(default="", max_length=500)


class PathSection(_Model):
    """A Sankey graph of user paths; node names must be unique (prefix the step number if repeated)."""

    nodes: list[Text] = Field(default_factory=list)
    links: list[PathLink] = Field(min_length=1)
    key_drop_off: DropOff | None = None

    @model_validator(mode="after")
    def _acyclic_graph(self) -> PathSection:
        _check_unique(self.nodes, "path node")
        known = set(self.nodes)
        if known:
            missing = sorted({n for link in self.links for n in (link.source, link.target)} - known)
            if missing:
                raise ValueError(f"links name nodes not in nodes: {missing[:5]}")
        pairs = [(link.source, link.target) for link in self.links]
        _check_unique([f"{s} → {t}" for s, t in pairs], "path link")
        if _has_cycle(pairs):
            raise ValueError("path links form a cycle; a Sankey graph must be acyclic "
                             "(give repeated pages a step prefix, e.g. '2·首页')")
        if self.key_drop_off is not None and self.key_drop_off.step not in set(self.node_names()):
            raise ValueError(f"key_drop_off.step {self.key_drop_off.step!r} is not a node of the paths")
        return self

    def node_names(self) -> list[str]:
        if self.nodes:
            return list(self.nodes)
        seen: dict[str, None] = {}
        for link in self.links:
            seen.setdefault(link.source)
            seen.setdefault(link.target)
        return list(seen)


def _has_cycle(pairs: list[tuple[str, str]]) -> bool:
    """Kahn's topological sort: a cycle leaves nodes that never reach in-degree 0."""
    out: dict[str, list[str]] = defaultdict(list)
    indegree: dict[str, int] = defaultdict(int)
    for s, t in pairs:
        out[s].append(t)
        indegree[t] += 1
        indegree.setdefault(s, 0)
    queue = deque(n for n, d in indegree.items() if d == 0)
    visited = 0
    while queue:
        node = queue.popleft()
        visited += 1
        for nxt in out[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                queue.append(nxt)
    return visited < len(indegree)


# --- 归因 attribution -------------------------------------------------------------------------------

class AttributionCredit(_Model):
    """Conversions (and value) one attribution model credits to one channel."""

    model: Text
    channel: Text
    conversions: Amount
    value: Amount | None = None


class ModelValidation(_Model):
    """Validation scores of one attribution model, e.g. ``{"auc": 0.71, "log_loss": 0.52}``."""

    model: Text
    scores: dict[str, float] = Field(min_length=1)
    note: str = Field(default="", max_length=500)


class AttributionSection(_Model):
    credits: list[AttributionCredit] = Field(min_length=1)
    validation: list[ModelValidation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_cells(self) -> AttributionSection:
        _check_unique([f"{c.model} × {c.channel}" for c in self.credits], "attribution model × channel")
        _check_unique([v.model for v in self.validation], "validated model")
        return self

    def models(self) -> list[str]:
        return list(dict.fromkeys(c.model for c in self.credits))

    def channels(self) -> list[str]:
        return list(dict.fromkeys(c.channel for c in self.credits))

    @property
    def has_value(self) -> bool:
        return any(c.value is not None for c in self.credits)


# --- 实验 experiments -------------------------------------------------------------------------------

class VariantResult(_Model):
    name: Text
    users: Count | None = None
    value: float | None = None


class ExperimentResult(_Model):
    """One experiment × metric: the effect of B vs A with its interval and the decision taken.

    ``estimate``/``ci_low``/``ci_high`` are a relative lift (0.05 = +5 %) when ``relative`` is true,
    else an absolute difference in the metric's unit. ``prob_better`` is P(B > A).
    """

    experiment: Text
    metric: Text
    variants: list[VariantResult] = Field(default_factory=list)
    estimate: float
    ci_low: float
    ci_high: float
    relative: bool = True
    confidence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.95
    p_value: Rate | None = None
    prob_better: Rate | None = None
    decision: str = Field(default="", max_length=100)

    @model_validator(mode="after")
    def _ci_around_estimate(self) -> ExperimentResult:
        if not self.ci_low <= self.estimate <= self.ci_high:
            raise ValueError(f"need ci_low <= estimate <= ci_high, got {self.ci_low}, {self.estimate}, {self.ci_high}")
        return self


class ExperimentSection(_Model):
    results: list[ExperimentResult] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_rows(self) -> ExperimentSection:
        _check_unique([f"{r.experiment} · {r.metric}" for r in self.results], "experiment · metric")
        return self


# --- 活跃时段 heatmap -------------------------------------------------------------------------------

class ActivityHeatmap(_Model):
    """Activity by weekday (0 = Monday) × hour (0–23), e.g. message opens; the busiest cell is the best time."""

    metric: str = Field(default="", max_length=200)
    counts: list[list[Amount]]
    best: tuple[Annotated[int, Field(ge=0, lt=WEEKDAYS)], Annotated[int, Field(ge=0, lt=HOURS)]] | None = None

    @model_validator(mode="after")
    def _seven_by_24(self) -> ActivityHeatmap:
        if len(self.counts) != WEEKDAYS or any(len(row) != HOURS for row in self.counts):
            raise ValueError(f"counts must be {WEEKDAYS} rows (Monday first) of {HOURS} hours")
        return self

    def best_time(self) -> tuple[int, int] | None:
        """The given best cell, else the busiest one (earliest on ties); None when all are zero."""
        if self.best is not None:
            return self.best
        cells = [(v, -d, -h) for d, row in enumerate(self.counts) for h, v in enumerate(row)]
        value, neg_day, neg_hour = max(cells)
        return (-neg_day, -neg_hour) if value > 0 else None


# --- 预警 alerts ------------------------------------------------------------------------------------

class Alert(_Model):
    severity: Literal["info", "warning", "critical"] = "warning"
    metric: Text
    message: Text
    day: date | None = None
    value: float | None = None
    expected: float | None = None


# --- the report ------------------------------------------------------------------------------------

class ReportData(_Model):
    """Everything one report shows; every section may be left out and renders a "no data" note."""

    title: str | None = Field(default=None, max_length=200)
    window_start: date | None = None
    window_end: date | None = None
    generated_at: datetime | None = None
    kpis: KpiSection | None = None
    funnel: FunnelSection | None = None
    cohorts: CohortSection | None = None
    paths: PathSection | None = None
    attribution: AttributionSection | None = None
    experiments: ExperimentSection | None = None
    heatmap: ActivityHeatmap | None = None
    alerts: list[Alert] | None = None

    @model_validator(mode="after")
    def _window_order(self) -> ReportData:
        if self.window_start and self.window_end and self.window_start > self.window_end:
            raise ValueError(f"window_start {self.window_start} is after window_end {self.window_end}")
        return self


def parse_report_data(payload: Mapping[str, Any] | str | bytes) -> ReportData:
    """Validate a mapping or a JSON document into :class:`ReportData`; a bad one raises SiyuError naming the field."""
    try:
        if isinstance(payload, str | bytes):
            return ReportData.model_validate_json(payload)
        return ReportData.model_validate(dict(payload))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "report"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SiyuError(f"report data: {field}: {first['msg']}{more}", code="bad_report_data",
                        input_name=field) from None


def _check_unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}: {value!r}")
        seen.add(value)
