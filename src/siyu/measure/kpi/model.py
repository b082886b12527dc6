"""KPI definitions as code (指标口径): the YAML shape, its JSON Schema, and loading a catalogue.

One definition per metric (口径统一). A metric is one of four kinds, all declarative so no user text
ever becomes SQL: ``aggregate`` (an aggregation over one fact source with typed filters), ``ratio``
(one metric over another), ``cohort_rate`` (of the people who did A in a period, the share who did B
within N days — retention, repurchase, activation, conversion) and ``nps`` (net promoter score from
survey events). Column and source names are checked against :mod:`siyu.measure.kpi.sources`.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from siyu.measure.kpi.sources import DIMENSIONS, SOURCES
from siyu.profile.definitions import DefinitionError, read_yaml, validate_data

METRIC_NAME = r"^[a-z][a-z0-9_]{0,62}$"
MAX_METRICS = 1000


class Grain(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Agg(StrEnum):
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"
    AVG = "avg"


class Op(StrEnum):
    EQ = "="
    NE = "!="
    IN = "in"
    NOT_IN = "not_in"
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    IS_NULL = "is_null"
    NOT_NULL = "not_null"


class Unit(StrEnum):
    COUNT = "count"
    CURRENCY = "currency"
    RATIO = "ratio"
    SCORE = "score"


Scalar = str | int | float | bool


class Filter(BaseModel):
    """``column op value`` on the metric's source; values become bound parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    op: Op = Op.EQ
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _check(self) -> Filter:
        listy = self.op in (Op.IN, Op.NOT_IN)
        if self.op in (Op.IS_NULL, Op.NOT_NULL):
            if self.value is not None:
                raise ValueError(f"{self.op.value} takes no value")
        elif listy != isinstance(self.value, list) or self.value is None:
            raise ValueError(f"{self.op.value} needs {'a list of values' if listy else 'one value'}")
        elif listy and not self.value:
            raise ValueError(f"{self.op.value} needs at least one value")
        return self


class Measure(BaseModel):
    """What to aggregate: ``agg(column)`` over ``source`` rows that pass every filter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description=f"One of: {', '.join(SOURCES)}.")
    agg: Agg
    column: str | None = Field(None, description="Needed by sum, avg and count_distinct.")
    filters: tuple[Filter, ...] = ()
    date: str | None = Field(None, description="The source's date column that places a row in a period "
                                               "(default: the source's own).")

    @model_validator(mode="after")
    def _check(self) -> Measure:
        src = SOURCES.get(self.source)
        if src is None:
            raise ValueError(f"unknown source {self.source!r}; choose one of {', '.join(SOURCES)}")
        if self.agg is not Agg.COUNT and self.column is None:
            raise ValueError(f"{self.agg.value} needs a column")
        for col in [self.column, *(f.column for f in self.filters)]:
            if col is not None and col not in src.columns:
                raise ValueError(f"source {self.source} has no column {col!r}; it has {', '.join(src.columns)}")
        if self.date is not None and self.date not in src.dates:
            raise ValueError(f"source {self.source} has no date column {self.date!r}; "
                             f"it has {', '.join(src.dates)}")
        return self


class _Metric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=METRIC_NAME)
    name_zh: str = Field(min_length=1, max_length=64, description="中文名, shown to ops users.")
    name_en: str = Field(min_length=1, max_length=128)
    description: str = Field(min_length=1, max_length=2000, description="The definition in words (口径).")
    unit: Unit = Unit.COUNT
    grain: Grain = Field(Grain.DAY, description="Finest period it is reported at.")
    dimensions: tuple[str, ...] = Field((), description=f"Allowed breakdowns, from: {', '.join(DIMENSIONS)}.")
    default_window_days: int = Field(30, ge=1, le=3660, description="Periods shown when none is asked for.")
    higher_is_better: bool = True

    @model_validator(mode="after")
    def _dims(self) -> _Metric:
        bad = [d for d in self.dimensions if d not in DIMENSIONS]
        if bad:
            raise ValueError(f"unknown dimension {bad[0]!r}; choose from {', '.join(DIMENSIONS)}")
        return self


class AggregateMetric(_Metric):
    """An aggregation per period; ``window_days`` makes it rolling (WAU = 7, MAU = 30), and
    ``daily_mean`` reports the mean of the daily values over the period (DAU at a month grain)."""

    kind: Literal["aggregate"]
    measure: Measure
    window_days: int | None = Field(None, ge=1, le=366)
    daily_mean: bool = False


class RatioMetric(_Metric):
    """``numerator / denominator`` of two other metrics over the same period and breakdown."""

    kind: Literal["ratio"]
    numerator: str = Field(pattern=METRIC_NAME)
    denominator: str = Field(pattern=METRIC_NAME)


class Step(BaseModel):
    """A person's qualifying rows: ``source`` rows passing ``filters``, timed by the source's time column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    filters: tuple[Filter, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Step:
        src = SOURCES.get(self.source)
        if src is None or src.time is None:
            timed = [n for n, s in SOURCES.items() if s.time is not None]
            raise ValueError(f"source {self.source!r} cannot be a step; choose one of {', '.join(timed)}")
        for f in self.filters:
            if f.column not in src.columns:
                raise ValueError(f"source {self.source} has no column {f.column!r}")
        return self


class CohortRateMetric(_Metric):
    """Of the people whose anchor falls in a period, the share with an outcome ``within_days`` later.

    ``anchor_first``: ``ever`` uses each person's first anchor ever (new users; first order), ``period``
    their first anchor in the period (any buyer). Anchors too recent to have the whole window observed
    are left out of the denominator (right-censoring), so young periods are not biased low.
    """

    kind: Literal["cohort_rate"]
    unit: Unit = Unit.RATIO
    anchor: Step
    outcome: Step
    anchor_first: Literal["ever", "period"] = "ever"
    within_days: tuple[int, int] = Field(description="[from, to] days after the anchor, inclusive; "
                                                     "[7, 7] is day-7 retention, [1, 30] is 'within 30 days'.")
    outcome_after_anchor: bool = Field(True, description="The outcome must be strictly later than the anchor "
                                                         "(a second order, not the first one again).")

    @model_validator(mode="after")
    def _days(self) -> CohortRateMetric:
        lo, hi = self.within_days
        if not 0 <= lo <= hi <= 3660:
            raise ValueError("within_days must be [from, to] with 0 <= from <= to <= 3660")
        return self


class NpsMetric(_Metric):
    """Net promoter score: % promoters (9–10) − % detractors (0–6) over ``survey_answered`` events' scores."""

    kind: Literal["nps"]
    unit: Unit = Unit.SCORE
    survey_type: str | None = Field("nps", description="Only answers whose survey_type is this (null: all).")


class ReactivationMetric(_Metric):
    """唤醒率: of the people silent at the period's start (last active day ``silent_days`` or more before it,
    and active at some time before), the share with an active day in the period."""

    kind: Literal["reactivation"]
    unit: Unit = Unit.RATIO
    silent_days: int = Field(30, ge=1, le=3660)


MetricDefinition = Annotated[AggregateMetric | RatioMetric | CohortRateMetric | NpsMetric | ReactivationMetric,
                             Field(discriminator="kind")]


class MetricFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics: list[MetricDefinition] = Field(max_length=MAX_METRICS)


def metric_json_schema() -> dict[str, Any]:
    """The JSON Schema of a KPI definition file (for editors and ``siyu measure kpi schema``)."""
    schema = MetricFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "siyu KPI definitions"
    return schema


DEFAULT_CATALOGUE = Path(__file__).with_name("catalogue.yaml")


def load_catalogue(*paths: Path) -> dict[str, MetricDefinition]:
    """The built-in catalogue plus ``paths`` (files or folders of ``*.yaml``); later files may override
    a built-in metric by name but not define one twice. Ratio inputs must exist and not loop."""
    files: list[Path] = [DEFAULT_CATALOGUE]
    for p in paths:
        files.extend(sorted(p.glob("*.y*ml")) if p.is_dir() else [p])
    out: dict[str, MetricDefinition] = {}
    origin: dict[str, str] = {}
    for path in files:
        data, node = read_yaml(path)
        parsed = validate_data({} if data is None else data, MetricFile, name=str(path), node=node)
        seen: set[str] = set()
        for metric in parsed.metrics:
            if metric.name in seen:
                raise DefinitionError(f"metric {metric.name!r} is defined twice in this file", file=str(path))
            seen.add(metric.name)
            out[metric.name] = metric
            origin[metric.name] = str(path)
    for name in out:
        _check_ratio(name, out, origin, ())
    return out


def _check_ratio(name: str, catalogue: dict[str, MetricDefinition], origin: dict[str, str],
                 path: tuple[str, ...]) -> None:
    """Every metric a ratio uses exists, and no ratio reaches itself again (depth-first over the inputs)."""
    metric = catalogue[name]
    if not isinstance(metric, RatioMetric):
        return
    if name in path:
        raise DefinitionError(f"ratio metric {name!r} refers to itself through {' → '.join((*path, name))}",
                              file=origin[name])
    for part in (metric.numerator, metric.denominator):
        if part not in catalogue:
            raise DefinitionError(f"metric {name!r} uses unknown metric {part!r}", file=origin[name])
        _check_ratio(part, catalogue, origin, (*path, name))
