"""Price sensitivity (价格敏感度): how much a buyer's orders lean on coupons and discounts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import ClassVar

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


class PriceSensitivityParams(WindowParams):
    window_days: int = 365
    min_orders: int = 2
    w_coupon: float = 0.5
    w_depth: float = 0.5
    #: Score cut points, ascending: ``medium`` from 0.2, ``high`` from 0.5 (``>=``).
    thresholds: tuple[float, ...] = (0.2, 0.5)
    labels: tuple[str, ...] = ("low", "medium", "high")

    @field_validator("min_orders")
    @classmethod
    def _min_orders_positive(cls, v: int) -> int:
        if not 1 <= v <= 100_000:
            raise ValueError("min_orders must be between 1 and 100000")
        return v

    @field_validator("w_coupon", "w_depth")
    @classmethod
    def _weight_ok(cls, v: float) -> float:
        if not 0.0 <= v <= 1e6:
            raise ValueError("weights must be non-negative numbers")
        return v

    @field_validator("labels")
    @classmethod
    def _labels_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_label(x) for x in v)

    @model_validator(mode="after")
    def _consistent(self) -> PriceSensitivityParams:
        if self.w_coupon + self.w_depth <= 0:
            raise FieldProblem("w_coupon", "w_coupon + w_depth must be positive")
        check_bands(self.thresholds, self.labels)
        return self


@register_statistic
class PriceSensitivity(Statistic):
    """A weighted mix of how often and how deeply a buyer buys on discount.

    Why: price-sensitive buyers respond to coupons and wait for sales; others are better reached
    with new products and service, and giving them coupons only gives margin away.

    Over the person's orders in the window (people with fewer than ``min_orders`` get no row):
    coupon_share = share of orders with a coupon (non-empty ``coupon_id`` or ``discount_amount > 0``);
    discount_depth = mean over orders of ``discount_amount / (amount + discount_amount)`` (0 when no
    discount); score = (w_coupon·coupon_share + w_depth·discount_depth) / (w_coupon + w_depth), in
    [0, 1]. Bands: the number of ``thresholds`` the score reaches (``>=``).
    """

    lookup_name = "price_sensitivity"
    name_zh = "价格敏感度"
    params_model = PriceSensitivityParams
    labels_zh: ClassVar[Mapping[str, str]] = {"low": "低", "medium": "中", "high": "高"}

    @classmethod
    def build(cls, params: PriceSensitivityParams, binder: Binder, as_of: date) -> str:
        total = params.w_coupon + params.w_depth
        window = binder.window("dt", as_of, params.window_days)
        min_orders = binder.bigint("min_orders", params.min_orders)
        w_coupon = binder.double("w_coupon", params.w_coupon / total)
        w_depth = binder.double("w_depth", params.w_depth / total)
        band = binder.bands("score", params.thresholds, params.labels)
        # Per-order depth is summed as a decimal: a float sum depends on row order, engines differ there.
        return f"""
WITH o AS (
    SELECT one_id,
        CASE WHEN (coupon_id IS NOT NULL AND coupon_id <> '') OR coalesce(discount_amount, 0) > 0
             THEN 1 ELSE 0 END AS couponed,
        CASE WHEN coalesce(discount_amount, 0) > 0 AND coalesce(amount, 0) + discount_amount > 0
             THEN CAST(CAST(discount_amount AS DOUBLE) / CAST(coalesce(amount, 0) + discount_amount AS DOUBLE)
                       AS DECIMAL(38,12))
             ELSE CAST(0 AS DECIMAL(38,12)) END AS depth
    FROM orders
    WHERE one_id IS NOT NULL AND {window}
), p AS (
    SELECT one_id, count(*) AS n, sum(couponed) AS couponed, sum(depth) AS depth
    FROM o
    GROUP BY one_id
    HAVING count(*) >= {min_orders}
), s AS (
    SELECT one_id,
        {w_coupon} * (CAST(couponed AS DOUBLE) / CAST(n AS DOUBLE))
            + {w_depth} * (CAST(depth AS DOUBLE) / CAST(n AS DOUBLE)) AS score
    FROM p
)
SELECT {output("one_id", band, "score")}
FROM s
"""
