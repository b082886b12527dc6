"""ADS: the profile wide table, daily KPIs and the identifier map — what the rooms above read."""

from __future__ import annotations

from siyu.core.identifiers import IdentifierType
from siyu.warehouse.layers.dws import USER_DAILY_COLUMNS

#: Every consumer of per-person rows reads them through the redirects left by OneID merges.
USER_DAILY_CURRENT = (
    "SELECT coalesce(r.to_one_id, u.one_id) AS one_id, "
    + ", ".join(f"u.{c}" for c in USER_DAILY_COLUMNS if c != "one_id")
    + " FROM dws_user_daily AS u LEFT JOIN redirects AS r ON r.from_one_id = u.one_id"
)

ID_MAP = """
SELECT identifier_type, identifier_value, one_id FROM id_nodes
"""


def _has(kind: IdentifierType) -> str:
    return f"max(CASE WHEN identifier_type = '{kind.value}' THEN 1 ELSE 0 END) = 1 AS has_{kind.value}"


def _first(kind: IdentifierType, name: str) -> str:
    return f"min(CASE WHEN identifier_type = '{kind.value}' THEN identifier_value END) AS {name}"


PROFILES = f"""
WITH ids AS (
    SELECT one_id,
        {_first(IdentifierType.USER_ID, "user_id")},
        {_first(IdentifierType.MEMBER_NO, "member_no")},
        {_first(IdentifierType.UNIONID, "unionid")},
        {_first(IdentifierType.PHONE, "phone_token")},
        count(*) AS identifiers,
        {_has(IdentifierType.WECOM_EXTERNAL_USERID)},
        {_has(IdentifierType.OPENID)},
        min(first_seen) AS first_seen_at
    FROM id_nodes GROUP BY one_id
), act AS (
    SELECT one_id,
        max(last_event_at) AS last_seen_at,
        max(CASE WHEN active THEN dt END) AS last_interaction_date,
        count(DISTINCT CASE WHEN active THEN dt END) AS active_days,
        CAST(sum(interactions) AS BIGINT) AS interactions,
        CAST(sum(CASE WHEN dt > CAST($as_of AS DATE) - INTERVAL 30 DAY THEN interactions ELSE 0 END) AS BIGINT)
            AS interactions_30d,
        CAST(sum(content_reads) AS BIGINT) AS content_reads,
        CAST(sum(page_views) AS BIGINT) AS page_views,
        CAST(sum(store_visits) AS BIGINT) AS store_visits,
        CAST(sum(group_messages) AS BIGINT) AS group_messages,
        CAST(sum(cs_contacts) AS BIGINT) AS cs_contacts
    FROM user_daily_current GROUP BY one_id
), ord AS (
    SELECT coalesce(r.to_one_id, o.one_id) AS one_id,
        count(*) AS orders,
        CAST(sum(o.amount) AS DECIMAL(18,2)) AS monetary,
        min(o.dt) AS first_order_date,
        max(o.dt) AS last_order_date
    FROM dwd_orders AS o LEFT JOIN redirects AS r ON r.from_one_id = o.one_id
    WHERE o.one_id IS NOT NULL GROUP BY 1
), owner AS (
    SELECT one_id, staff_id AS owner_staff_id FROM (
        SELECT m.one_id, c.staff_id,
               row_number() OVER (PARTITION BY m.one_id ORDER BY c.added_at DESC, c.staff_id) AS rn
        FROM ods_customer_staff AS c
        JOIN id_nodes AS m ON m.identifier_type = 'wecom_external_userid'
                          AND m.identifier_value = c.wecom_external_userid
    ) AS x WHERE rn = 1
)
SELECT
    ids.one_id, ids.user_id, ids.member_no, ids.unionid, ids.phone_token, ids.identifiers,
    ids.first_seen_at, act.last_seen_at,
    concat_ws(',',
        CASE WHEN ids.has_wecom_external_userid THEN 'wecom' END,
        CASE WHEN act.content_reads > 0 THEN 'official_account' END,
        CASE WHEN ids.has_openid OR act.page_views > 0 THEN 'mini_program' END,
        CASE WHEN act.group_messages > 0 THEN 'community' END,
        CASE WHEN act.store_visits > 0 THEN 'store' END,
        CASE WHEN act.cs_contacts > 0 THEN 'customer_service' END) AS channels,
    owner.owner_staff_id,
    coalesce(ord.orders, 0) AS orders,
    coalesce(ord.monetary, CAST(0 AS DECIMAL(18,2))) AS monetary,
    ord.first_order_date, ord.last_order_date,
    date_diff('day', ord.last_order_date, CAST($as_of AS DATE)) AS recency_days,
    coalesce(ord.orders, 0) AS frequency,
    coalesce(act.active_days, 0) AS active_days,
    coalesce(act.interactions, 0) AS interactions,
    coalesce(act.interactions_30d, 0) AS interactions_30d,
    act.last_interaction_date,
    date_diff('day', act.last_interaction_date, CAST($as_of AS DATE)) AS days_since_last_interaction,
    CAST($as_of AS DATE) AS as_of
FROM ids
LEFT JOIN act ON act.one_id = ids.one_id
LEFT JOIN ord ON ord.one_id = ids.one_id
LEFT JOIN owner ON owner.one_id = ids.one_id
"""

KPI_DAILY = """
WITH firsts AS (
    SELECT one_id, min(dt) AS first_dt FROM user_daily_current WHERE active GROUP BY one_id
), first_orders AS (
    SELECT one_id, min(dt) AS first_order_dt FROM user_daily_current WHERE orders > 0 GROUP BY one_id
), per_person_day AS (
    SELECT one_id, dt, max(CASE WHEN active THEN 1 ELSE 0 END) AS active,
           CAST(sum(orders) AS BIGINT) AS orders, CAST(sum(gmv) AS DECIMAL(18,2)) AS gmv
    FROM user_daily_current GROUP BY one_id, dt
)
SELECT
    p.dt,
    CAST(sum(CASE WHEN f.first_dt = p.dt THEN 1 ELSE 0 END) AS BIGINT) AS new_users,
    CAST(sum(p.active) AS BIGINT) AS dau,
    CAST(sum(p.orders) AS BIGINT) AS orders,
    CAST(sum(p.gmv) AS DECIMAL(18,2)) AS gmv,
    CAST(sum(CASE WHEN p.orders > 0 THEN 1 ELSE 0 END) AS BIGINT) AS buyers,
    CAST(sum(CASE WHEN p.orders > 1 OR (p.orders > 0 AND fo.first_order_dt < p.dt) THEN 1 ELSE 0 END)
        AS BIGINT) AS repeat_buyers
FROM per_person_day AS p
LEFT JOIN firsts AS f ON f.one_id = p.one_id
LEFT JOIN first_orders AS fo ON fo.one_id = p.one_id
GROUP BY p.dt
"""
