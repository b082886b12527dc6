"""Preferences (偏好): which product category a person spends on, which content type they read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import ClassVar

from pydantic import field_validator

from siyu.profile.statistics.base import (
    Binder,
    Statistic,
    WindowParams,
    check_interaction_events,
    output,
    register_statistic,
)

#: The SQL has this many fixed rank slots, so ``top_k`` is a bound parameter, not SQL text.
MAX_TOP_K = 10


class CategoryPreferenceParams(WindowParams):
    window_days: int = 365
    top_k: int = 1
    min_share: float = 0.0

    @field_validator("top_k")
    @classmethod
    def _top_k_range(cls, v: int) -> int:
        if not 1 <= v <= MAX_TOP_K:
            raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
        return v

    @field_validator("min_share")
    @classmethod
    def _share_range(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError("min_share must be between 0 and 1")
        return v


@register_statistic
class CategoryPreference(Statistic):
    """The product categories a buyer spends most on, by share of their spend.

    Why: recommending and stocking by category (护肤 vs 彩妆) converts better than brand-wide pushes.

    Spend per category = sum of ``quantity * price`` of ``order_items`` of the person's orders in the
    window, joined to ``products`` by sku (items whose sku has no category are left out). Only
    categories with positive spend count. value = the ``top_k`` categories by spend, ties by name
    ascending, joined by ``,`` in rank order; score = their combined share of the person's spend.
    People whose score is below ``min_share`` get no row.
    """

    lookup_name = "category_preference"
    name_zh = "品类偏好"
    params_model = CategoryPreferenceParams
    labels_zh: ClassVar[Mapping[str, str]] = {}  # values are the brand's own category names

    @classmethod
    def build(cls, params: CategoryPreferenceParams, binder: Binder, as_of: date) -> str:
        window = binder.window("o.dt", as_of, params.window_days)
        top_k = binder.bigint("top_k", params.top_k)
        min_share = binder.double("min_share", params.min_share)
        slots = ", ".join(f"max(CASE WHEN rn = {i} THEN category END)" for i in range(1, MAX_TOP_K + 1))
        return f"""
WITH p AS (
    SELECT sku, min(category) AS category FROM products WHERE category IS NOT NULL GROUP BY sku
), c AS (
    SELECT o.one_id, p.category,
        sum(CAST(i.quantity AS DECIMAL(18,0)) * CAST(i.price AS DECIMAL(18,2))) AS spend
    FROM orders AS o
    JOIN order_items AS i ON i.order_id = o.order_id
    JOIN p ON p.sku = i.sku
    WHERE o.one_id IS NOT NULL AND {window}
    GROUP BY o.one_id, p.category
    HAVING sum(CAST(i.quantity AS DECIMAL(18,0)) * CAST(i.price AS DECIMAL(18,2))) > 0
), r AS (
    SELECT one_id, category, CAST(spend AS DECIMAL(38,2)) AS spend,
        row_number() OVER (PARTITION BY one_id ORDER BY spend DESC, category ASC) AS rn,
        CAST(sum(spend) OVER (PARTITION BY one_id) AS DECIMAL(38,2)) AS total
    FROM c
), topk AS (
    SELECT one_id, concat_ws(',', {slots}) AS value,
        CAST(sum(spend) AS DOUBLE) / CAST(max(total) AS DOUBLE) AS score
    FROM r
    WHERE rn <= {top_k}
    GROUP BY one_id
)
SELECT {output("one_id", "value", "score")}
FROM topk
WHERE score >= {min_share}
"""


class ContentPreferenceParams(WindowParams):
    window_days: int = 90
    events: tuple[str, ...] = ("article_read", "video_played", "live_viewed")
    min_seconds: float = 1.0

    @field_validator("events")
    @classmethod
    def _events_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return check_interaction_events(v)

    @field_validator("min_seconds")
    @classmethod
    def _min_seconds_ok(cls, v: float) -> float:
        if not 0.0 <= v <= 1e9:
            raise ValueError("min_seconds must be between 0 and 1e9")
        return v


@register_statistic
class ContentPreference(Statistic):
    """The content type (article, video, live…) a person spends most reading/watching time on.

    Why: ops choose the format of the next push (图文 vs 视频 vs 直播) by what each person consumes.

    Read time = sum of ``read_seconds`` (null or negative → 0) of ``events`` (default article_read,
    video_played, live_viewed) in the window whose ``content_id`` is in ``content``, per
    ``content_type``. value = the type with most read time, ties by name ascending; score = its share
    of the person's read time. People whose total read time is below ``min_seconds`` (or zero) get no row.
    """

    lookup_name = "content_preference"
    name_zh = "内容偏好"
    params_model = ContentPreferenceParams
    labels_zh: ClassVar[Mapping[str, str]] = {"article": "图文", "video": "视频", "live": "直播"}

    @classmethod
    def build(cls, params: ContentPreferenceParams, binder: Binder, as_of: date) -> str:
        window = binder.window("e.dt", as_of, params.window_days)
        events = binder.in_list("e.event", "event", params.events)
        min_seconds = binder.double("min_seconds", params.min_seconds)
        # Seconds are summed as decimals: a float sum depends on row order, and engines order rows differently.
        return f"""
WITH c AS (
    SELECT content_id, min(content_type) AS content_type
    FROM content WHERE content_type IS NOT NULL GROUP BY content_id
), t AS (
    SELECT e.one_id, c.content_type,
        sum(CASE WHEN e.read_seconds > 0 THEN CAST(e.read_seconds AS DECIMAL(18,3))
                 ELSE CAST(0 AS DECIMAL(18,3)) END) AS secs
    FROM events AS e JOIN c ON c.content_id = e.content_id
    WHERE e.one_id IS NOT NULL AND {events} AND {window}
    GROUP BY e.one_id, c.content_type
), r AS (
    SELECT one_id, content_type, CAST(secs AS DECIMAL(38,3)) AS secs,
        row_number() OVER (PARTITION BY one_id ORDER BY secs DESC, content_type ASC) AS rn,
        CAST(sum(secs) OVER (PARTITION BY one_id) AS DECIMAL(38,3)) AS total
    FROM t
)
SELECT {output("one_id", "content_type", "CAST(secs AS DOUBLE) / CAST(total AS DOUBLE)")}
FROM r
WHERE rn = 1 AND total > 0 AND CAST(total AS DOUBLE) >= {min_seconds}
"""
