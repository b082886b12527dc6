"""Alert rules (预警规则) as code: the YAML shape, its JSON Schema, and loading rule files.

A rule watches one KPI from the catalogue (optionally per breakdown group) and is one of two kinds:

- ``threshold``: the day's value against the previous day, the same day last week or the trailing mean of
  ``periods`` days — fires on a relative ``drop`` or ``rise`` of at least the given fraction — and/or
  outside absolute bounds (``lower`` / ``upper``).
- ``seasonal``: the day's value against the same weekday of the previous ``weeks`` weeks (median and a
  robust spread), firing when its z-score passes the ``sensitivity`` in the chosen ``direction``.

A file holds ``rules: [...]``; errors name the file, the line and the field (:mod:`siyu.profile.definitions`).
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, model_validator

from siyu.measure.kpi.model import METRIC_NAME, MetricDefinition
from siyu.measure.kpi.sources import DIMENSIONS
from siyu.profile.definitions import DefinitionError, field_path, node_at, read_yaml, validate_data

RULE_NAME = r"^[a-z][a-z0-9_]{0,62}$"
MAX_RULES = 1000


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Sensitivity(StrEnum):
    """How readily a seasonal rule fires: the z-score it needs (see :data:`SENSITIVITY_Z`)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


#: |z| needed to fire, per named sensitivity. Under a normal model the two-sided tail beyond 4 / 3 / 2.5 σ
#: is 0.006% / 0.27% / 1.2% of days; the robust baseline's own noise makes the real rates somewhat higher.
SENSITIVITY_Z = {Sensitivity.LOW: 4.0, Sensitivity.MEDIUM: 3.0, Sensitivity.HIGH: 2.5}


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"
    BOTH = "both"


class Baseline(StrEnum):
    """What a threshold rule compares the day with."""

    PREVIOUS = "previous"  # the day before (环比)
    LAST_WEEK = "last_week"  # the same weekday one week earlier (较上周同期)
    TRAILING_MEAN = "trailing_mean"  # the mean of the ``periods`` days before


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=RULE_NAME, description="Unique rule name; part of every alert's id.")
    metric: str = Field(pattern=METRIC_NAME, description="A metric of the KPI catalogue.")
    by: str | None = Field(None, description=f"Optional breakdown, one of the metric's dimensions "
                                             f"({', '.join(DIMENSIONS)}); each group is watched on its own.")
    severity: Severity = Severity.WARNING
    webhook: bool = Field(True, description="Send this rule's alerts to the configured webhook.")
    min_volume: float = Field(0.0, ge=0, description="Skip days (and leave them out of baselines) whose volume — "
                                                     "the denominator of a ratio or rate, else the value — is "
                                                     "below this: small bases swing wildly.")
    description: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _dimension(self) -> _Rule:
        if self.by is not None and self.by not in DIMENSIONS:
            raise ValueError(f"unknown breakdown {self.by!r}; choose from {', '.join(DIMENSIONS)}")
        return self


class ThresholdRule(_Rule):
    """Relative change against a baseline (``drop`` / ``rise``, fractions: 0.3 = 30%) and absolute bounds.

    Boundaries: a change of exactly ``-drop`` (or ``+rise``) fires — ``drop: 0.3`` means "fell by 30% or
    more", compared with a tolerance of 1e-9 so that decimal thresholds behave as written. A value exactly
    on ``lower`` or ``upper`` does not fire: the bounds are the allowed range, inclusive.
    """

    kind: Literal["threshold"]
    baseline: Baseline = Baseline.PREVIOUS
    periods: int = Field(7, ge=2, le=90, description="Days in the trailing mean (baseline: trailing_mean).")
    drop: float | None = Field(None, gt=0, le=1, description="Fire when the value fell by this fraction or more.")
    rise: float | None = Field(None, gt=0, description="Fire when the value rose by this fraction or more.")
    lower: float | None = Field(None, description="Fire when the value is below this.")
    upper: float | None = Field(None, description="Fire when the value is above this.")

    @model_validator(mode="after")
    def _something(self) -> ThresholdRule:
        if self.drop is None and self.rise is None and self.lower is None and self.upper is None:
            raise ValueError("a threshold rule needs at least one of drop, rise, lower, upper")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower ({self.lower}) is above upper ({self.upper})")
        return self


class SeasonalRule(_Rule):
    """The day against the median of the same weekday over the previous ``weeks`` weeks, in units of the
    spread of that forecast's recent errors: ``z = (x - m) / σ̂`` (see :mod:`siyu.measure.alerts.detect`).
    It reads ``2 · weeks`` weeks of data: the baseline's weeks and, before them, the weeks its errors need.
    """

    kind: Literal["seasonal"]
    weeks: int = Field(4, ge=2, le=52, description="How many previous same weekdays form the baseline.")
    min_history: int | None = Field(None, ge=2, le=52, description="Baseline days needed to judge a day "
                                                                   "(default: 3, or weeks if fewer).")
    sensitivity: Sensitivity | Annotated[float, Field(gt=0, le=100)] = Field(
        Sensitivity.MEDIUM, description="low / medium / high (4 / 3 / 2.5 σ), or the |z| itself.")
    direction: Direction = Direction.BOTH
    spread_floor: float = Field(0.05, ge=0, le=10, description="σ̂ is at least this fraction of |median|, so a "
                                                                "very regular history does not turn small wobbles "
                                                                "into alerts.")
    min_spread: float = Field(0.0, ge=0, description="σ̂ is at least this (in the metric's units).")
    min_change: float = Field(0.0, ge=0, description="Also require a relative change of at least this fraction.")

    @model_validator(mode="after")
    def _history(self) -> SeasonalRule:
        if self.min_history is not None and self.min_history > self.weeks:
            raise ValueError(f"min_history ({self.min_history}) is more than weeks ({self.weeks})")
        return self

    @property
    def z(self) -> float:
        """The |z| this rule needs to fire."""
        s = self.sensitivity
        return SENSITIVITY_Z[s] if isinstance(s, Sensitivity) else float(s)

    @property
    def history_needed(self) -> int:
        return self.min_history if self.min_history is not None else min(3, self.weeks)


AlertRule = Annotated[ThresholdRule | SeasonalRule, Field(discriminator="kind")]


class AlertRuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[AlertRule] = Field(max_length=MAX_RULES)


def alert_rules_json_schema() -> dict[str, Any]:
    """The JSON Schema of an alert rule file (for editors and reviews)."""
    schema = AlertRuleFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "siyu alert rules"
    return schema


_KINDS: dict[str, type[ThresholdRule] | type[SeasonalRule]] = {"threshold": ThresholdRule, "seasonal": SeasonalRule}


@cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_KINDS[kind].model_json_schema())


def lookback_days(rule: ThresholdRule | SeasonalRule) -> int:
    """How many days before the first judged day a rule reads."""
    if isinstance(rule, SeasonalRule):
        return 14 * rule.weeks
    return {Baseline.PREVIOUS: 1, Baseline.LAST_WEEK: 7, Baseline.TRAILING_MEAN: rule.periods}[rule.baseline]


def parse_rules(data: Any, *, name: str = "<rules>", node: Any = None,
                catalogue: dict[str, MetricDefinition] | None = None) -> list[ThresholdRule | SeasonalRule]:
    """Rules from already-parsed data (``{"rules": [...]}``), checked like a file called ``name``."""
    items = data.get("rules") if isinstance(data, dict) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind in _KINDS:  # check a rule against its own kind's schema: errors then point inside the rule
            error = jsonschema.exceptions.best_match(_validator(kind).iter_errors(item))
            if error is not None:
                raise _at(name, node, ["rules", i, *error.absolute_path], error.message)
    parsed = validate_data({} if data is None else data, AlertRuleFile, name=name, node=node)
    for i, rule in enumerate(parsed.rules):
        _check_against(rule, catalogue, name, node, i)
    _unique(parsed.rules, name, node)
    return list(parsed.rules)


def load_rules(*paths: Path, catalogue: dict[str, MetricDefinition] | None = None
               ) -> list[ThresholdRule | SeasonalRule]:
    """Rules from YAML files or folders of ``*.yaml``; names are unique across all of them. With a
    ``catalogue``, every metric must exist there and every breakdown must be one the metric allows."""
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.y*ml")) if p.is_dir() else [p])
    out: list[ThresholdRule | SeasonalRule] = []
    seen: dict[str, str] = {}
    for path in files:
        data, node = read_yaml(path)
        for i, rule in enumerate(parse_rules(data, name=str(path), node=node, catalogue=catalogue)):
            if rule.name in seen:
                raise _at(str(path), node, ["rules", i, "name"],
                          f"rule {rule.name!r} is also defined in {seen[rule.name]}")
            seen[rule.name] = str(path)
            out.append(rule)
    return out


def _at(name: str, node: Any, path: list[str | int], message: str) -> DefinitionError:
    at = node_at(node, path)
    mark = at.start_mark if at is not None else None
    return DefinitionError(message, file=name, line=mark.line + 1 if mark else None,
                           column=mark.column + 1 if mark else None, field=field_path(path))


def _check_against(rule: ThresholdRule | SeasonalRule, catalogue: dict[str, MetricDefinition] | None,
                   name: str, node: Any, i: int) -> None:
    if catalogue is None:
        return
    metric = catalogue.get(rule.metric)
    if metric is None:
        raise _at(name, node, ["rules", i, "metric"], f"unknown metric {rule.metric!r}; see `siyu measure kpi list`")
    if rule.by is not None and rule.by not in metric.dimensions:
        allowed = ", ".join(metric.dimensions) or "no breakdowns"
        raise _at(name, node, ["rules", i, "by"],
                  f"{rule.metric} cannot be broken down by {rule.by!r}; it allows {allowed}")


def _unique(rules: list[ThresholdRule | SeasonalRule], name: str, node: Any) -> None:
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            raise _at(name, node, ["rules", i, "name"], f"rule {rule.name!r} is defined twice in this file")
        seen.add(rule.name)
