"""Spending capacity (消费能力): how much a buyer spends, relative to the other buyers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import ClassVar, Literal

from pydantic import field_validator, model_validator

from siyu.profile.statistics.base import (
    Binder,
    FieldProblem,
    Statistic,
    WindowParams,
    check_bands,
    check_label,
    output,
    register_statistic,
)


class SpendingCapacityParams(WindowParams):
    """``quantile``: bands by the buyer's percentile; ``fixed``: bands by CNY ``thresholds``."""

    window_days: int = 365
    method: Literal["quantile", "fixed"] = "quantile"
    #: Percentile cut points: a buyer moves up a band when their percentile is strictly above one.
    quantiles: tuple[float, ...] = (0.5, 0.8, 0.95)
    #: CNY amounts for ``method: fixed``: a buyer moves up a band once their spend reaches one.
    thresholds: tuple[float, ...] | None = None
    labels: tuple[str, ...] = ("low", "medium", "high", "top")

    @field_validator("quantiles")
    @classmethod
    def _quantiles_in_unit(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 < q < 1.0 for q in v):
            raise ValueError("quantiles must be strictly between 0 and 1")
        return v

    @field_validator("thresholds")
    @classmethod
    def _thresholds_finite(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is not None and any(not -1e15 < t < 1e15 for t in v):
            raise ValueError("thresholds must be finite CNY amounts")
        return v

    @field_validator("labels")
    @classmethod
    def _labels_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_label(x) for x in v)

    @model_validator(mode="after")
    def _bands_match(self) -> SpendingCapacityParams:
        if self.method == "fixed":
            if self.thresholds is None:
                raise FieldProblem("thresholds", "thresholds (CNY) are required when method is 'fixed'")
            check_bands(self.thresholds, self.labels)
        else:
            if self.thresholds is not None:
                raise FieldProblem("thresholds", "thresholds only apply when method is 'fixed'")
            check_bands(self.quantiles, self.labels, field="quantiles")
        return self


@register_statistic
class SpendingCapacity(Statistic):
    """Monetary value (sum of paid ``orders.amount``) in the window, banded among that window's buyers.

    Why: ops size offers and staff attention by what a customer can spend; a relative band keeps
    meaning as the brand grows, a fixed CNY band matches a price list.

    score = the buyer's percentile: the fraction of buyers whose monetary is ≤ theirs (ties share it),
    computed from counts, so it is exact and identical on every engine. With ``method: quantile`` the
    band is the number of cut points the percentile is strictly above (top 5% = percentile > 0.95);
    with ``method: fixed`` it is the number of CNY thresholds the monetary reaches (``>=``).
    People with no paid order in the window get no row.
    """

    lookup_name = "spending_capacity"
    name_zh = "消费能力"
    params_model = SpendingCapacityParams
    labels_zh: ClassVar[Mapping[str, str]] = {"low": "低", "medium": "中", "high": "高", "top": "顶级"}

    @classmethod
    def build(cls, params: SpendingCapacityParams, binder: Binder, as_of: date) -> str:
        window = binder.window("dt", as_of, params.window_days)
        pct = "pct"
        if params.method == "fixed":
            assert params.thresholds is not None
            band = binder.bands("CAST(monetary AS DOUBLE)", params.thresholds, params.labels)
        else:
            band = binder.bands(pct, params.quantiles, params.labels, strict=True)
        return f"""
WITH m AS (
    SELECT one_id, CAST(sum(amount) AS DECIMAL(38,2)) AS monetary
    FROM orders
    WHERE one_id IS NOT NULL AND amount IS NOT NULL AND {window}
    GROUP BY one_id
), r AS (
    SELECT one_id, monetary,
        CAST(count(*) OVER (ORDER BY monetary RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS DOUBLE)
            / CAST(count(*) OVER () AS DOUBLE) AS pct
    FROM m
)
SELECT {output("one_id", band, pct)}
FROM r
"""
