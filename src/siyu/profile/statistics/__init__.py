"""Statistical tags (统计类标签): small behaviour statistics, one ``(one_id, value, score)`` row a person.

Each statistic is registered by ``lookup_name`` and compiles to ONE query over the views the caller
registered (``orders``, ``order_items``, ``products``, ``content``, ``events``)::

    sql, params = statistic_sql("spending_capacity", {"window_days": 365}, as_of=date(2024, 6, 30), prefix="t1_")
    engine.query(sql, params)   # one_id VARCHAR, value VARCHAR, score DOUBLE

Every param key starts with ``prefix``, so several tags can be ``UNION ALL``-ed in one query.
"""

from __future__ import annotations

from collections.abc import Mapping

from siyu.profile.statistics.base import (
    COLUMNS,
    STATISTICS,
    BadTagParams,
    Statistic,
    StatisticParams,
    get_statistic,
    register_statistic,
    statistic_sql,
)
from siyu.profile.statistics.depth import InteractionDepth
from siyu.profile.statistics.hours import ActiveHours, PeakHour, Slot
from siyu.profile.statistics.preference import CategoryPreference, ContentPreference
from siyu.profile.statistics.price import PriceSensitivity
from siyu.profile.statistics.spending import SpendingCapacity

#: lookup_name → {English value in the data: Chinese label for UI and docs}.
LABELS_ZH: dict[str, Mapping[str, str]] = {name: cls.labels_zh for name, cls in STATISTICS.items()}

__all__ = [
    "COLUMNS",
    "LABELS_ZH",
    "STATISTICS",
    "ActiveHours",
    "BadTagParams",
    "CategoryPreference",
    "ContentPreference",
    "InteractionDepth",
    "PeakHour",
    "PriceSensitivity",
    "Slot",
    "SpendingCapacity",
    "Statistic",
    "StatisticParams",
    "get_statistic",
    "register_statistic",
    "statistic_sql",
]
