"""DWD: typed, deduplicated, clock-corrected, OneID-resolved events; orders and order lines."""

from __future__ import annotations

from siyu.core.identifiers import ID_COLUMNS
from siyu.warehouse.identity.extract import ORDER_ID_COLUMNS, anchor_columns_sql


def _prop(name: str, sql_type: str | None = None) -> str:
    text = f"json_extract_string(properties, '$.{name}')"
    return f"TRY_CAST({text} AS {sql_type}) AS {name}" if sql_type else f"{text} AS {name}"


#: Standard properties promoted to typed columns (the rest stays in ``properties``).
TYPED_PROPERTIES = ", ".join([
    _prop("order_id"), _prop("amount", "DECIMAL(18,2)"), _prop("currency"),
    _prop("discount_amount", "DECIMAL(18,2)"), _prop("coupon_id"),
    _prop("content_id"), _prop("read_seconds", "DOUBLE"), _prop("completion", "DOUBLE"),
    _prop("group_id"), _prop("staff_id"), _prop("store_id"), _prop("sku"), _prop("category"),
    _prop("campaign_id"), _prop("channel"), _prop("send_id"), _prop("state"),
    _prop("satisfaction", "INTEGER"), _prop("response_seconds", "DOUBLE"),
    _prop("purpose"), _prop("granted", "BOOLEAN"),
])

ID_SELECT = ", ".join(ID_COLUMNS.values())

#: Dedupe by messageId across the scanned days: the copy with the earliest corrected time wins
#: (then earliest arrival), so the result does not depend on the order days are built in.
EVENTS = f"""
WITH ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY message_id ORDER BY event_time, received_at, loaded_at, batch_id, source
    ) AS copy_no
    FROM ods_events
), firsts AS (
    SELECT *, {anchor_columns_sql()} FROM ranked WHERE copy_no = 1
)
SELECT
    e.message_id, m.one_id, e.type, e.event, e.event_time,
    e.ts_client, e.sent_at, e.received_at,
    date_diff('millisecond', e.received_at, e.sent_at) AS skew_ms,
    date_diff('millisecond', e.event_time, e.received_at) AS arrival_lag_ms,
    hour(e.event_time) AS event_hour,
    e.anchor_type, e.anchor_value, {", ".join("e." + c for c in ID_COLUMNS.values())},
    {TYPED_PROPERTIES},
    e.properties, e.traits, e.context, e.source, e.batch_id,
    e.dt
FROM firsts AS e
JOIN build_days AS d ON e.dt = d.dt
LEFT JOIN id_map AS m ON m.identifier_type = e.anchor_type AND m.identifier_value = e.anchor_value
"""

#: Copies of a messageId beyond the first, per day, for the quality report.
DUPLICATES = """
SELECT dt, count(*) - count(DISTINCT message_id) AS duplicates, count(*) AS rows
FROM ods_events JOIN build_days USING (dt) GROUP BY dt
"""

#: One row per order: the order system's row where there is one, else the ``order_paid`` event.
ORDERS = f"""
WITH ev AS (
    SELECT order_id, one_id, event_time AS paid_at, amount, currency, channel, store_id, staff_id,
           coupon_id, discount_amount,
           row_number() OVER (PARTITION BY order_id ORDER BY event_time, message_id) AS rn
    FROM dwd_events WHERE event = 'order_paid' AND order_id IS NOT NULL
), os_latest AS (
    SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY batch_id DESC) AS rn
    FROM ods_orders
), os AS (
    SELECT o.*, m.one_id FROM (
        SELECT *, {anchor_columns_sql(ORDER_ID_COLUMNS)} FROM os_latest WHERE rn = 1
    ) AS o
    LEFT JOIN id_map AS m ON m.identifier_type = o.anchor_type AND m.identifier_value = o.anchor_value
)
SELECT
    coalesce(os.order_id, ev.order_id) AS order_id,
    coalesce(ev.one_id, os.one_id) AS one_id,
    coalesce(os.paid_at, ev.paid_at) AS paid_at,
    CAST(coalesce(os.amount, ev.amount) AS DECIMAL(18,2)) AS amount,
    coalesce(os.currency, ev.currency) AS currency,
    coalesce(os.channel, ev.channel) AS channel,
    coalesce(os.store_id, ev.store_id) AS store_id,
    coalesce(os.staff_id, ev.staff_id) AS staff_id,
    coalesce(os.coupon_id, ev.coupon_id) AS coupon_id,
    CAST(coalesce(os.discount_amount, ev.discount_amount) AS DECIMAL(18,2)) AS discount_amount,
    CASE WHEN os.order_id IS NULL THEN 'event' WHEN ev.order_id IS NULL THEN 'order_system'
         ELSE 'both' END AS source,
    CAST(coalesce(os.paid_at, ev.paid_at) AS DATE) AS dt
FROM (SELECT * FROM ev WHERE rn = 1) AS ev
FULL OUTER JOIN (SELECT * FROM os WHERE rn = 1) AS os ON os.order_id = ev.order_id
"""

ORDER_ITEMS = """
SELECT order_id, line_no, sku, quantity, CAST(price AS DECIMAL(18,2)) AS price
FROM (
    SELECT *, row_number() OVER (PARTITION BY order_id, line_no ORDER BY batch_id DESC) AS rn
    FROM ods_order_items
) AS i WHERE rn = 1
"""
