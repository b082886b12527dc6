"""SQL pieces the event analyses share: bound parameters, the event-column allow-list, property
filters, per-person dimensions, exact quantiles and the ISO weekday.

Everything here writes siyu's dialect (DuckDB's) that SQLGlot transpiles for Spark unchanged. Values
from users are bound as ``$p<n>`` parameters; the only names that reach SQL text are column names from
:data:`EVENT_COLUMNS`, view names passed through :func:`check_identifier`, and aliases we make up.
Two portable spellings are deliberate: the weekday is computed from a day count (SQLGlot turns
DuckDB's ``isodow`` into a wrong Spark expression), and quantiles are computed from ranks (Spark has
no ``quantile_cont`` and its ``percentile_cont`` disagrees with DuckDB's on small groups).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, field_validator

from siyu.core.config import get_settings
from siyu.core.errors import SiyuError
from siyu.warehouse.engine import Engine
from siyu.warehouse.engine.base import check_identifier
from siyu.warehouse.layers.dws import BRAND_SIDE_EVENTS

#: Columns of the ``events`` view that filters and breakdowns may name, compared as text.
EVENT_COLUMNS = (
    "type", "channel", "campaign_id", "content_id", "group_id", "staff_id", "store_id", "sku", "category",
    "coupon_id", "currency", "order_id", "state", "event_hour",
)
#: ``properties.<key>`` names a key of the event's free-form JSON properties.
PROPERTY_PREFIX = "properties."
_PROPERTY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

FilterValue = str | int | float | bool

#: Brand-side events (触达, 发券, 积分, 等级) are not the person acting: analyses of activity skip them.
DEFAULT_IGNORED_EVENTS: tuple[str, ...] = tuple(BRAND_SIDE_EVENTS)

#: A Monday: the ISO weekday of a day is its distance from this one, modulo 7, plus 1.
_MONDAY = "DATE '2024-01-01'"


class Params:
    """Collects bound values and hands back their ``$p<n>`` placeholders (no value reaches SQL text)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"

    def text(self, value: str) -> str:
        return f"CAST({self.bind(str(value))} AS VARCHAR)"

    def day(self, value: date) -> str:
        return f"CAST({self.bind(value)} AS DATE)"

    def bigint(self, value: int) -> str:
        return f"CAST({self.bind(int(value))} AS BIGINT)"

    def text_list(self, values: tuple[str, ...] | list[str]) -> str:
        """``($p1, $p2, …)`` for ``IN``; callers make sure the list is not empty."""
        return "(" + ", ".join(self.text(v) for v in values) + ")"


def check_event_name(name: str) -> str:
    """Event names are data (bound as parameters) but must be non-empty and short."""
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ValueError(f"an event name must be 1-100 characters, got {name!r}")
    return name


def check_column(name: str) -> str:
    """A filter or breakdown column: one of :data:`EVENT_COLUMNS` or ``properties.<key>``."""
    if name in EVENT_COLUMNS:
        return name
    if name.startswith(PROPERTY_PREFIX) and _PROPERTY_KEY.match(name[len(PROPERTY_PREFIX):]):
        return name
    raise ValueError(f"unknown event column {name!r}: use one of {', '.join(EVENT_COLUMNS)} "
                     f"or {PROPERTY_PREFIX}<key> (letters, digits and _)")


def column_text(name: str, params: Params, alias: str = "e") -> str:
    """The text form of an event column (or JSON property) of table ``alias``; ``name`` is re-checked."""
    check_column(name)
    if name in EVENT_COLUMNS:
        return f"CAST({alias}.{name} AS VARCHAR)"
    return f"json_extract_string({alias}.properties, {params.text('$.' + name[len(PROPERTY_PREFIX):])})"


def text_form(value: FilterValue) -> str:
    """How a filter value is compared: as the text both engines give for the column (``true``, ``20``, …)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_filters(filters: dict[str, FilterValue]) -> dict[str, FilterValue]:
    for key, value in filters.items():
        check_column(key)
        if not isinstance(value, str | int | float | bool):
            raise ValueError(f"filter {key!r} must compare with a string, number or boolean")
    return filters


def match_sql(event: str, filters: dict[str, FilterValue], params: Params, alias: str = "e",
              computed: dict[str, str] | None = None) -> str:
    """``event = … AND column = …``: the event name and every property equality, all bound.

    ``computed`` maps filter columns to the text columns of ``alias`` that already hold them.
    """
    parts = [f"{alias}.event = {params.text(event)}"]
    for k, v in sorted(filters.items()):
        col = f"{alias}.{computed[k]}" if computed and k in computed else column_text(k, params, alias)
        parts.append(f"{col} = {params.text(text_form(v))}")
    return "(" + " AND ".join(parts) + ")"


def view_name(name: str) -> str:
    """A view name from a spec: checked like every identifier, failing as a validation error."""
    try:
        return check_identifier(name)
    except SiyuError as exc:
        raise ValueError(exc.message) from None


class Dimension(BaseModel):
    """A per-person label for breakdowns: view ``view`` (registered in the engine) with ``one_id`` and ``column``.

    Segments, tags, lifecycle stages, regions or owning staff all fit: register a two-column table with
    ``engine.register_arrow("segment_labels", table)`` and pass ``Dimension(view="segment_labels")``.
    A person with several rows counts under each label; a person with none counts as ``unknown``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    view: str
    column: str = "label"

    @field_validator("view", "column")
    @classmethod
    def _identifier(cls, v: str) -> str:
        return view_name(v)


UNKNOWN = "unknown"
ALL = "all"


def dimension_join(dim: Dimension | None, person: str) -> tuple[str, str]:
    """(``LEFT JOIN`` clause, label expression) for a dimension keyed on ``person`` (an SQL column)."""
    if dim is None:
        return "", f"'{ALL}'"
    view, col = check_identifier(dim.view), check_identifier(dim.column)
    return (f"LEFT JOIN {view} AS dim ON dim.one_id = {person}",
            f"coalesce(CAST(dim.{col} AS VARCHAR), '{UNKNOWN}')")


def quantiles_sql(source: str, groups: list[str], values: dict[str, str], per_mille: tuple[int, ...]) -> str:
    """Rows per group (``n_rows``) and linear-interpolation quantiles of each ``values`` column, in one pass.

    Hyndman & Fan (1996) type 7, numpy's default: for the n non-null values x₁..xₙ in order and
    q = k/1000, h = (n−1)·q and Q = x_{⌊h⌋+1} + (h − ⌊h⌋)(x_{⌊h⌋+2} − x_{⌊h⌋+1}). ``h`` is kept in integers
    (·1000) so both engines pick the same ranks. Output columns are ``<name>_q<k>`` (DOUBLE, null
    when the group has no value). One scan of ``source`` however many columns: on Spark every extra
    reference of a CTE recomputes it.
    """
    g = ", ".join(groups)
    ranks, picks = [], []
    for i, (name, expr) in enumerate(values.items()):
        ranks.append(f"{expr} AS v{i}, row_number() OVER (PARTITION BY {g} ORDER BY {expr}) AS rn{i}, "
                     f"count({expr}) OVER (PARTITION BY {g}) AS n{i}")
        for k in per_mille:
            if not 0 <= k <= 1000:
                raise ValueError("quantiles are per mille, 0..1000")
            h = f"(n{i} - 1) * {k}"
            lo = f"max(CASE WHEN rn{i} = {h} // 1000 + 1 THEN v{i} END)"
            hi = f"max(CASE WHEN rn{i} = ({h} + 999) // 1000 + 1 THEN v{i} END)"
            picks.append(f"CAST({lo} AS DOUBLE) + max(CAST({h} % 1000 AS DOUBLE)) / 1000 * CAST({hi} - {lo} AS DOUBLE)"
                         f" AS {name}_q{k}")
    return f"""
SELECT {g}, count(*) AS n_rows, {", ".join(picks)}
FROM (SELECT {g}, {", ".join(ranks)} FROM {source}) AS ranked
GROUP BY {g}
"""


def weekday_sql(day: str) -> str:
    """ISO weekday (1 = Monday … 7 = Sunday) of the DATE expression ``day``."""
    return f"CAST(((date_diff('day', {_MONDAY}, {day}) % 7) + 7) % 7 + 1 AS INTEGER)"


def business_day_end(day: date) -> datetime:
    """The instant the business day ``day`` ends (midnight after it, in the business time zone)."""
    tz = ZoneInfo(get_settings().business_timezone)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def last_day(engine: Engine, view: str) -> date | None:
    """The last business day ``dt`` with data in ``view`` (the data end), or None when it is empty."""
    got = engine.query(f"SELECT max(dt) AS d FROM {check_identifier(view)}")["d"][0].as_py()
    return got if got is None or isinstance(got, date) else got.date()


def micros(delta: timedelta) -> int:
    """A duration in whole microseconds (what ``date_diff('microsecond', …)`` returns)."""
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
