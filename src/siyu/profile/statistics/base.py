"""The statistic seam: params models, the registry and the helpers every statistical tag shares.

A statistic (统计类标签) turns behaviour into one ``(one_id, value, score)`` row per person. Each is a
class registered by ``lookup_name``; its :meth:`Statistic.sql` returns ONE query in siyu's dialect
(DuckDB's, transpiled for Spark) plus the bound parameters it uses, all named ``{prefix}…`` so a
caller can ``UNION ALL`` several tags in one query. Values from params never reach the SQL text.
"""

from __future__ import annotations

import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from siyu.core.errors import SiyuError
from siyu.warehouse.layers.dws import BRAND_SIDE_EVENTS

#: The output contract of every statistic, in order.
COLUMNS = ("one_id", "value", "score")

_PREFIX = re.compile(r"^([a-z_][a-z0-9_]{0,63})?$")
# Brand-side events, pasted as constants from our own code (not from params): they are not interactions.
BRAND_SIDE_SQL = ", ".join(f"'{e}'" for e in BRAND_SIDE_EVENTS)


class BadTagParams(SiyuError):
    """A tag's params do not validate; ``input_name`` names the field at fault."""

    code = "bad_tag_params"


class FieldProblem(ValueError):
    """A cross-field check that fails: says which field to fix (pydantic's loc is empty for those)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class StatisticParams(BaseModel):
    """Base params model: unknown keys are errors (a typo must not silently use a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowParams(StatisticParams):
    """A look-back window of ``window_days`` days ending on ``as_of`` (inclusive)."""

    window_days: int = 90

    @field_validator("window_days")
    @classmethod
    def _positive_window(cls, v: int) -> int:
        if not 1 <= v <= 3660:
            raise ValueError("window_days must be between 1 and 3660")
        return v


def check_label(v: str) -> str:
    """Labels are data, not SQL: any text is allowed, but it must be non-empty and short."""
    if not v or len(v) > 100:
        raise ValueError("a label must be 1-100 characters")
    return v


def check_bands(thresholds: Sequence[float], labels: Sequence[str], *, field: str = "thresholds") -> None:
    """``thresholds`` ascend strictly and split the range into ``len(labels)`` bands of distinct labels."""
    if any(b <= a for a, b in itertools.pairwise(thresholds)):
        raise FieldProblem(field, f"{field} must be strictly ascending")
    if len(labels) != len(thresholds) + 1:
        raise FieldProblem("labels", f"need {len(thresholds) + 1} labels for {len(thresholds)} {field}, "
                                     f"got {len(labels)}")
    if len(set(labels)) != len(labels):
        raise FieldProblem("labels", "labels must be distinct")


def check_interaction_events(events: Sequence[str]) -> tuple[str, ...]:
    """An event list for interactions: non-empty, distinct, and no brand-side events (those are not 互动)."""
    if not events:
        raise ValueError("at least one event is needed")
    if len(set(events)) != len(events):
        raise ValueError("events must be distinct")
    brand = sorted(set(events) & set(BRAND_SIDE_EVENTS))
    if brand:
        raise ValueError(f"brand-side events are not interactions: {', '.join(brand)}")
    for e in events:
        check_label(e)
    return tuple(events)


class Binder:
    """Collects bound parameters under one prefix and hands back their ``$name`` placeholders."""

    def __init__(self, prefix: str) -> None:
        if not _PREFIX.match(prefix):
            raise SiyuError(f"invalid parameter prefix {prefix!r}: use lower-case letters, digits and _",
                            code="invalid_identifier", input_name="prefix")
        self.prefix = prefix
        self.params: dict[str, Any] = {}

    def bind(self, name: str, value: Any) -> str:
        """Bind ``value`` as ``$<prefix><name>`` and return the placeholder."""
        key = f"{self.prefix}{name}"
        if key in self.params:
            raise ValueError(f"parameter {key} bound twice")
        self.params[key] = value
        return f"${key}"

    def double(self, name: str, value: float) -> str:
        return f"CAST({self.bind(name, float(value))} AS DOUBLE)"

    def bigint(self, name: str, value: int) -> str:
        return f"CAST({self.bind(name, int(value))} AS BIGINT)"

    def text(self, name: str, value: str) -> str:
        return f"CAST({self.bind(name, str(value))} AS VARCHAR)"

    def window(self, column: str, as_of: date, days: int) -> str:
        """``column`` within the last ``days`` days up to ``as_of`` inclusive; cutoffs computed here, bound."""
        start = self.bind("start", (as_of - timedelta(days=days - 1)).isoformat())
        end = self.bind("end", as_of.isoformat())
        return f"{column} BETWEEN CAST({start} AS DATE) AND CAST({end} AS DATE)"

    def in_list(self, column: str, name: str, values: Sequence[str]) -> str:
        """``column IN (...)`` with one bound parameter per value (the list's length shapes the SQL)."""
        marks = ", ".join(self.text(f"{name}{i}", v) for i, v in enumerate(values))
        return f"{column} IN ({marks})"

    def bands(self, expr: str, thresholds: Sequence[float], labels: Sequence[str], *, strict: bool = False,
              name: str = "band") -> str:
        """CASE giving ``labels[i+1]`` once ``expr`` reaches ``thresholds[i]`` (``>=``, or ``>`` if strict)."""
        op = ">" if strict else ">="
        whens = [f"WHEN {expr} {op} {self.double(f'{name}_t{i}', t)} "
                 f"THEN {self.text(f'{name}_l{i + 1}', labels[i + 1])}"
                 for i, t in reversed(list(enumerate(thresholds)))]
        return f"CASE {' '.join(whens)} ELSE {self.text(f'{name}_l0', labels[0])} END"


P = TypeVar("P", bound=StatisticParams)


class Statistic(ABC):
    """One statistical tag. Subclasses set the class attributes and implement :meth:`build`."""

    lookup_name: ClassVar[str]
    name_zh: ClassVar[str]
    params_model: ClassVar[type[StatisticParams]]
    #: English value in the data → Chinese label for UI and docs (for the default labels).
    labels_zh: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def parse_params(cls, params: Mapping[str, Any] | StatisticParams | None) -> StatisticParams:
        """Validate ``params`` (None → defaults); a bad one raises :class:`BadTagParams` naming the field."""
        if isinstance(params, cls.params_model):
            return params
        if isinstance(params, StatisticParams):
            raise BadTagParams(f"{cls.lookup_name} expects {cls.params_model.__name__}, "
                               f"got {type(params).__name__}", input_name="params")
        if params is not None and not isinstance(params, Mapping):
            raise BadTagParams(f"{cls.lookup_name} params must be a mapping", input_name="params")
        try:
            return cls.params_model.model_validate(dict(params or {}))
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                cause = err.get("ctx", {}).get("error")
                field = getattr(cause, "field", None) or ".".join(str(p) for p in err["loc"]) or "params"
                problems.append((field, err["msg"]))
            msg = "; ".join(f"{field}: {m}" for field, m in problems)
            raise BadTagParams(f"{cls.lookup_name}: {msg}", input_name=problems[0][0]) from None

    @classmethod
    def sql(cls, params: Mapping[str, Any] | StatisticParams | None, *, as_of: date,
            prefix: str) -> tuple[str, dict[str, Any]]:
        """ONE query with columns ``(one_id VARCHAR, value VARCHAR, score DOUBLE)`` and its bound params."""
        p = cls.parse_params(params)
        binder = Binder(prefix)
        try:
            body = cls.build(p, binder, as_of)
        except (ValueError, OverflowError) as exc:  # a check that needs as_of, e.g. a window starting before year 1
            raise BadTagParams(f"{cls.lookup_name}: {exc}", input_name="params") from None
        return body, binder.params

    @classmethod
    @abstractmethod
    def build(cls, params: Any, binder: Binder, as_of: date) -> str:
        """The query text; every value from ``params`` goes through ``binder``."""


def output(one_id: str, value: str, score: str) -> str:
    """The contract's select list, cast so both engines return the same types."""
    return (f"CAST({one_id} AS VARCHAR) AS one_id, CAST({value} AS VARCHAR) AS value, "
            f"CAST({score} AS DOUBLE) AS score")


STATISTICS: dict[str, type[Statistic]] = {}

S = TypeVar("S", bound=type[Statistic])


def register_statistic(cls: S) -> S:
    """Class decorator: add a statistic to :data:`STATISTICS` under its ``lookup_name``."""
    name = cls.lookup_name
    if name in STATISTICS and STATISTICS[name] is not cls:
        raise ValueError(f"statistic {name!r} is already registered")
    STATISTICS[name] = cls
    return cls


def get_statistic(name: str) -> type[Statistic]:
    """The statistic class registered as ``name``, e.g. ``get_statistic("spending_capacity")``."""
    try:
        return STATISTICS[name]
    except KeyError:
        raise SiyuError(f"unknown statistic {name!r}; known: {', '.join(sorted(STATISTICS))}",
                        code="unknown_statistic", input_name="statistic") from None


def statistic_sql(name: str, params: Mapping[str, Any] | None = None, *, as_of: date,
                  prefix: str) -> tuple[str, dict[str, Any]]:
    """SQL and bound params for statistic ``name``.

    >>> sql, params = statistic_sql("peak_hour", {"window_days": 30}, as_of=date(2024, 6, 30), prefix="t1_")
    >>> sorted(params)[:2]
    ['t1_end', 't1_min_interactions']
    """
    return get_statistic(name).sql(params, as_of=as_of, prefix=prefix)
