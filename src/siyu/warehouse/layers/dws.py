"""DWS: one row per person per day with the aggregates every later layer and room reads."""

from __future__ import annotations

#: What the brand does to a person (sends, coupons, points, tiers) is not the person interacting;
#: every other event, custom ones included, is an interaction (互动) and makes the day active.
BRAND_SIDE_EVENTS = ("message_sent", "message_delivered", "message_failed", "coupon_issued", "points_changed",
                     "member_tier_changed")
_brand_list = ", ".join(f"'{e}'" for e in BRAND_SIDE_EVENTS)


def _count(event: str, name: str) -> str:
    return f"CAST(sum(CASE WHEN e.event = '{event}' THEN 1 ELSE 0 END) AS BIGINT) AS {name}"


USER_DAILY = f"""
WITH ev AS (
    SELECT coalesce(r.to_one_id, e.one_id) AS one_id, e.dt, e.type, e.event, e.read_seconds, e.event_time
    FROM dwd_events AS e JOIN build_days AS d ON e.dt = d.dt
    LEFT JOIN redirects AS r ON r.from_one_id = e.one_id
), daily AS (
    SELECT e.one_id, e.dt,
        count(*) AS events,
        CAST(sum(CASE WHEN e.event IN ({_brand_list}) THEN 0 ELSE 1 END) AS BIGINT) AS interactions,
        CAST(sum(CASE WHEN e.type IN ('page', 'screen') OR e.event = 'mp_page_viewed' THEN 1 ELSE 0 END)
            AS BIGINT) AS page_views,
        {_count("product_viewed", "product_views")},
        {_count("cart_added", "cart_adds")},
        {_count("order_refunded", "refunds")},
        {_count("article_read", "content_reads")},
        -- summed as decimals: a float sum depends on row order, and engines order rows differently
        CAST(coalesce(sum(CASE WHEN e.event = 'article_read' THEN CAST(e.read_seconds AS DECIMAL(18,3)) END), 0)
            AS DOUBLE) AS read_seconds,
        {_count("content_shared", "shares")},
        {_count("group_message_sent", "group_messages")},
        {_count("cs_consulted", "cs_contacts")},
        {_count("message_delivered", "messages_delivered")},
        {_count("message_clicked", "messages_clicked")},
        {_count("store_visited", "store_visits")},
        min(e.event_time) AS first_event_at,
        max(e.event_time) AS last_event_at
    FROM ev AS e
    WHERE e.one_id IS NOT NULL
    GROUP BY e.one_id, e.dt
), orders AS (
    SELECT coalesce(r.to_one_id, o.one_id) AS one_id, o.dt,
           count(*) AS orders, CAST(sum(o.amount) AS DECIMAL(18,2)) AS gmv
    FROM dwd_orders AS o JOIN build_days AS d ON o.dt = d.dt
    LEFT JOIN redirects AS r ON r.from_one_id = o.one_id
    WHERE o.one_id IS NOT NULL
    GROUP BY 1, 2
)
SELECT
    coalesce(d.one_id, o.one_id) AS one_id,
    coalesce(d.events, 0) AS events, coalesce(d.interactions, 0) AS interactions,
    coalesce(d.interactions, 0) > 0 AS active,
    coalesce(d.page_views, 0) AS page_views, coalesce(d.product_views, 0) AS product_views,
    coalesce(d.cart_adds, 0) AS cart_adds,
    coalesce(o.orders, 0) AS orders, coalesce(o.gmv, CAST(0 AS DECIMAL(18,2))) AS gmv,
    coalesce(d.refunds, 0) AS refunds,
    coalesce(d.content_reads, 0) AS content_reads, coalesce(d.read_seconds, 0.0) AS read_seconds,
    coalesce(d.shares, 0) AS shares, coalesce(d.group_messages, 0) AS group_messages,
    coalesce(d.cs_contacts, 0) AS cs_contacts,
    coalesce(d.messages_delivered, 0) AS messages_delivered,
    coalesce(d.messages_clicked, 0) AS messages_clicked,
    coalesce(d.store_visits, 0) AS store_visits,
    d.first_event_at, d.last_event_at,
    coalesce(d.dt, o.dt) AS dt
FROM daily AS d FULL OUTER JOIN orders AS o ON d.one_id = o.one_id AND d.dt = o.dt
"""

USER_DAILY_COLUMNS = (
    "one_id", "events", "interactions", "active", "page_views", "product_views", "cart_adds", "orders", "gmv",
    "refunds", "content_reads", "read_seconds", "shares", "group_messages", "cs_contacts",
    "messages_delivered", "messages_clicked", "store_visits", "first_event_at", "last_event_at", "dt",
)
