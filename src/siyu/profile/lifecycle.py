"""Lifecycle stages (生命周期阶段) and activity classes, per person, as of a day.

Activity is an interaction (互动: any event that is not brand-side, see ``dws.BRAND_SIDE_EVENTS``) or
an order. With ``idle`` = days from the last activity to as_of (activity after as_of is ignored:
clock-skewed "future" events do not make anyone active):

- no activity ever → **potential** (潜在): known to the brand (an identifier, a WeCom add) but never engaged;
- idle ≥ churned_days (90) → **churned** (流失);
- idle ≥ silent_days (30) → **silent** (沉默) — exactly 30 days without interaction is silent;
- active recently but never bought → **potential** (潜在);
- first order less than new_days (30) ago → **new** (新);
- otherwise → **active** (活跃).

The activity class is ``high`` with ≥ high_frequency_per_week (3) interactions in the last 7 days
(the source reports' 高频), ``low`` with fewer but some, ``none`` with none.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from siyu.profile.config import LifecycleConfig

STAGES = (("potential", "潜在"), ("new", "新"), ("active", "活跃"), ("silent", "沉默"), ("churned", "流失"))
ACTIVITY_CLASSES = (("high", "高频"), ("low", "低频"), ("none", "无互动"))


def stage_labels_table() -> pa.Table:
    return pa.table({"stage": [s for s, _ in STAGES], "stage_zh": [z for _, z in STAGES]})


def lifecycle_sql(config: LifecycleConfig, as_of: date) -> tuple[str, dict[str, Any]]:
    """One query over ``profiles`` and ``user_daily`` giving every person's stage as of ``as_of``."""
    params: dict[str, Any] = {
        "as_of": as_of, "week_start": as_of - timedelta(days=6), "silent_days": config.silent_days,
        "churned_days": config.churned_days, "new_days": config.new_days,
        "high_per_week": config.high_frequency_per_week,
    }
    sql = """
WITH act AS (
    SELECT one_id,
        max(CASE WHEN active THEN dt END) AS last_interaction_date,
        max(CASE WHEN orders > 0 THEN dt END) AS last_order_date,
        min(CASE WHEN orders > 0 THEN dt END) AS first_order_date,
        CAST(sum(CASE WHEN dt >= CAST($week_start AS DATE) THEN interactions ELSE 0 END) AS BIGINT)
            AS interactions_7d
    FROM user_daily WHERE dt <= CAST($as_of AS DATE)
    GROUP BY one_id
), last AS (
    SELECT p.one_id, a.last_interaction_date, a.first_order_date, coalesce(a.interactions_7d, 0) AS interactions_7d,
        CASE WHEN a.last_order_date IS NULL THEN a.last_interaction_date
             WHEN a.last_interaction_date IS NULL THEN a.last_order_date
             WHEN a.last_order_date > a.last_interaction_date THEN a.last_order_date
             ELSE a.last_interaction_date END AS last_activity_date
    FROM profiles AS p LEFT JOIN act AS a ON a.one_id = p.one_id
), idle AS (
    SELECT *, date_diff('day', last_activity_date, CAST($as_of AS DATE)) AS idle_days,
              date_diff('day', first_order_date, CAST($as_of AS DATE)) AS days_since_first_order
    FROM last
)
SELECT one_id,
    CASE WHEN last_activity_date IS NULL THEN 'potential'
         WHEN idle_days >= $churned_days THEN 'churned'
         WHEN idle_days >= $silent_days THEN 'silent'
         WHEN first_order_date IS NULL THEN 'potential'
         WHEN days_since_first_order < $new_days THEN 'new'
         ELSE 'active' END AS lifecycle,
    CASE WHEN interactions_7d >= $high_per_week THEN 'high'
         WHEN interactions_7d > 0 THEN 'low' ELSE 'none' END AS activity_class,
    last_activity_date, idle_days, interactions_7d, first_order_date,
    CAST($as_of AS DATE) AS as_of
FROM idle
"""
    return sql, params
