"""Behaviour and value features per person (聚类特征) as of a day, computed by one SQL on the engine.

Definitions (docs/clusters-and-baskets.md, "Features"):

- Only data up to ``as_of`` is read: ``user_daily`` rows and ``orders`` with ``dt <= as_of``.
- "Last N days" is ``dt`` in ``(as_of − N days, as_of]``: N business days ending with ``as_of``.
- The people are everyone with a ``user_daily`` row or an order on or before ``as_of``.
- ``recency_days`` (days since the last order), ``days_since_interaction`` (since the last active day) and
  ``tenure_days`` (since the first day seen) are capped at :data:`DAY_CAP`; a person who never ordered
  (or never interacted) gets the cap, so "never" sorts with "long ago".
- ``aov_365d`` (客单价) is GMV over orders of the last 365 days, 0 without orders; GMV sums are exact
  decimals turned into doubles at the end, so both engines return the same numbers.
- ``coupon_orders_365d`` counts orders paid with a coupon (a non-empty ``coupon_id``).

The ``profiles`` view is not read: its columns are computed when the lake is built, as of its last
day, so they would leak data after ``as_of`` into a model trained on an earlier day.
"""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa

from siyu.warehouse.engine import Engine

#: Day counts (recency, days since interaction, tenure) stop here; "never" is also this.
DAY_CAP = 365

#: Every feature the query returns, in its column order (after ``one_id``).
FEATURES = (
    "recency_days", "days_since_interaction", "tenure_days",
    "orders_90d", "orders_365d", "gmv_90d", "gmv_365d", "aov_365d",
    "active_days_30d", "active_days_90d", "interactions_90d",
    "content_reads_90d", "shares_90d", "group_messages_90d", "cs_contacts_90d",
    "refunds_365d", "coupon_orders_365d",
)

#: Bounded day counts are used as they are; counts and money are skewed and get ``log1p``.
DAY_FEATURES = ("recency_days", "days_since_interaction", "tenure_days")

FEATURES_SQL = """
WITH days AS (
    SELECT one_id, dt, active, interactions, content_reads, shares, group_messages, cs_contacts, refunds
    FROM user_daily
    WHERE one_id IS NOT NULL AND dt <= CAST($as_of AS DATE)
), act AS (
    SELECT one_id,
        min(dt) AS first_dt,
        max(CASE WHEN active THEN dt END) AS last_active_dt,
        count(DISTINCT CASE WHEN active AND dt > CAST($d30 AS DATE) THEN dt END) AS active_days_30d,
        count(DISTINCT CASE WHEN active AND dt > CAST($d90 AS DATE) THEN dt END) AS active_days_90d,
        CAST(sum(CASE WHEN dt > CAST($d90 AS DATE) THEN interactions ELSE 0 END) AS BIGINT) AS interactions_90d,
        CAST(sum(CASE WHEN dt > CAST($d90 AS DATE) THEN content_reads ELSE 0 END) AS BIGINT) AS content_reads_90d,
        CAST(sum(CASE WHEN dt > CAST($d90 AS DATE) THEN shares ELSE 0 END) AS BIGINT) AS shares_90d,
        CAST(sum(CASE WHEN dt > CAST($d90 AS DATE) THEN group_messages ELSE 0 END) AS BIGINT) AS group_messages_90d,
        CAST(sum(CASE WHEN dt > CAST($d90 AS DATE) THEN cs_contacts ELSE 0 END) AS BIGINT) AS cs_contacts_90d,
        CAST(sum(CASE WHEN dt > CAST($d365 AS DATE) THEN refunds ELSE 0 END) AS BIGINT) AS refunds_365d
    FROM days GROUP BY one_id
), ord AS (
    SELECT one_id,
        min(dt) AS first_order_dt,
        max(dt) AS last_order_dt,
        CAST(sum(CASE WHEN dt > CAST($d90 AS DATE) THEN 1 ELSE 0 END) AS BIGINT) AS orders_90d,
        CAST(sum(CASE WHEN dt > CAST($d365 AS DATE) THEN 1 ELSE 0 END) AS BIGINT) AS orders_365d,
        CAST(sum(CASE WHEN dt > CAST($d90 AS DATE) THEN CAST(amount AS DECIMAL(18,2)) END) AS DECIMAL(18,2))
            AS gmv_90d,
        CAST(sum(CASE WHEN dt > CAST($d365 AS DATE) THEN CAST(amount AS DECIMAL(18,2)) END) AS DECIMAL(18,2))
            AS gmv_365d,
        CAST(sum(CASE WHEN dt > CAST($d365 AS DATE) AND coupon_id IS NOT NULL AND coupon_id <> ''
                 THEN 1 ELSE 0 END) AS BIGINT) AS coupon_orders_365d
    FROM orders
    WHERE one_id IS NOT NULL AND dt <= CAST($as_of AS DATE)
    GROUP BY one_id
), people AS (
    SELECT one_id FROM act UNION SELECT one_id FROM ord
), joined AS (
    SELECT p.one_id,
        date_diff('day', o.last_order_dt, CAST($as_of AS DATE)) AS since_order,
        date_diff('day', a.last_active_dt, CAST($as_of AS DATE)) AS since_active,
        date_diff('day', CASE WHEN a.first_dt IS NULL OR o.first_order_dt < a.first_dt THEN o.first_order_dt
                              ELSE a.first_dt END, CAST($as_of AS DATE)) AS since_first,
        coalesce(o.orders_90d, 0) AS orders_90d,
        coalesce(o.orders_365d, 0) AS orders_365d,
        CAST(coalesce(o.gmv_90d, CAST(0 AS DECIMAL(18,2))) AS DOUBLE) AS gmv_90d,
        CAST(coalesce(o.gmv_365d, CAST(0 AS DECIMAL(18,2))) AS DOUBLE) AS gmv_365d,
        coalesce(a.active_days_30d, 0) AS active_days_30d,
        coalesce(a.active_days_90d, 0) AS active_days_90d,
        coalesce(a.interactions_90d, 0) AS interactions_90d,
        coalesce(a.content_reads_90d, 0) AS content_reads_90d,
        coalesce(a.shares_90d, 0) AS shares_90d,
        coalesce(a.group_messages_90d, 0) AS group_messages_90d,
        coalesce(a.cs_contacts_90d, 0) AS cs_contacts_90d,
        coalesce(a.refunds_365d, 0) AS refunds_365d,
        coalesce(o.coupon_orders_365d, 0) AS coupon_orders_365d
    FROM people AS p
    LEFT JOIN act AS a ON a.one_id = p.one_id
    LEFT JOIN ord AS o ON o.one_id = p.one_id
)
SELECT one_id,
    CAST(CASE WHEN since_order IS NULL OR since_order > $cap THEN $cap ELSE since_order END AS BIGINT)
        AS recency_days,
    CAST(CASE WHEN since_active IS NULL OR since_active > $cap THEN $cap ELSE since_active END AS BIGINT)
        AS days_since_interaction,
    CAST(CASE WHEN since_first IS NULL OR since_first > $cap THEN $cap ELSE since_first END AS BIGINT)
        AS tenure_days,
    CAST(orders_90d AS BIGINT) AS orders_90d, CAST(orders_365d AS BIGINT) AS orders_365d,
    gmv_90d, gmv_365d,
    CASE WHEN orders_365d > 0 THEN gmv_365d / CAST(orders_365d AS DOUBLE) ELSE 0.0 END AS aov_365d,
    CAST(active_days_30d AS BIGINT) AS active_days_30d, CAST(active_days_90d AS BIGINT) AS active_days_90d,
    CAST(interactions_90d AS BIGINT) AS interactions_90d, CAST(content_reads_90d AS BIGINT) AS content_reads_90d,
    CAST(shares_90d AS BIGINT) AS shares_90d, CAST(group_messages_90d AS BIGINT) AS group_messages_90d,
    CAST(cs_contacts_90d AS BIGINT) AS cs_contacts_90d, CAST(refunds_365d AS BIGINT) AS refunds_365d,
    CAST(coupon_orders_365d AS BIGINT) AS coupon_orders_365d
FROM joined
ORDER BY one_id
"""


def feature_params(as_of: date) -> dict[str, object]:
    """The bound values of :data:`FEATURES_SQL`: the as-of day, the window starts and the day cap."""
    return {"as_of": as_of, "d30": as_of - timedelta(days=30), "d90": as_of - timedelta(days=90),
            "d365": as_of - timedelta(days=365), "cap": DAY_CAP}


def cluster_features(engine: Engine, as_of: date) -> pa.Table:
    """One row per person: ``one_id`` and :data:`FEATURES`, from the ``user_daily`` and ``orders`` views.

    The views are those of :func:`siyu.profile.views.register_profile_sources` (or hand-built ones with
    the same columns). Rows are sorted by ``one_id``.
    """
    return engine.query(FEATURES_SQL, feature_params(as_of))


def last_data_day(engine: Engine) -> date | None:
    """The last business day in ``user_daily`` (the default ``as_of``), or None when it is empty."""
    got = engine.query("SELECT max(dt) AS d FROM user_daily")["d"][0].as_py()
    return got if got is None or isinstance(got, date) else got.date()
