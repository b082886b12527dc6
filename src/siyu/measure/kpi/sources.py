"""The fact sources and breakdown dimensions KPIs are defined over (the only names definitions may use).

Each source is a view over the lake's registered views (see :func:`register_kpi_sources`), with a fixed
column list, its date columns (which place a row in a period) and, for sources that can be a cohort
step, a time column. Definitions name sources and columns; these tables are the allow-list that keeps
user-written definitions from ever reaching SQL as text.
"""

from __future__ import annotations

from dataclasses import dataclass

from siyu.core.entities import ENTITIES
from siyu.core.errors import SiyuError
from siyu.profile.views import register_profile_sources
from siyu.warehouse.engine import Engine
from siyu.warehouse.lake import Lake


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    columns: tuple[str, ...]
    dates: tuple[str, ...]  # the first is the default period date
    time: str | None  # timestamp column for cohort steps (None: cannot be a step)
    person: bool = True  # rows carry one_id, so person-level dimensions apply


_PERSON_COLS = ("one_id", "region", "owner_staff_id", "acquisition_channel", "cohort_month",
                "first_active_date", "first_order_date")

SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("events", "dwd events (one row per event, current one_ids)",
           ("one_id", "event", "type", "channel", "campaign_id", "content_id", "group_id", "staff_id", "store_id",
            "sku", "category", "amount", "completion", "read_seconds", "satisfaction", "response_seconds",
            "event_hour", "dt", "event_time"),
           ("dt",), "event_time"),
    Source("orders", "dwd orders (one row per paid order)",
           ("one_id", "order_id", "amount", "discount_amount", "coupon_id", "channel", "store_id", "staff_id",
            "dt", "paid_at"),
           ("dt",), "paid_at"),
    Source("order_lines", "order lines with their product's category and product line",
           ("one_id", "order_id", "sku", "quantity", "line_amount", "category", "product_line", "channel", "dt",
            "paid_at"),
           ("dt",), "paid_at"),
    Source("user_daily", "one row per person and active day (dws)",
           ("one_id", "active", "events", "interactions", "orders", "gmv", "content_reads", "shares",
            "group_messages", "cs_contacts", "messages_delivered", "messages_clicked", "page_views", "store_visits",
            "dt", "day_start"),
           ("dt",), "day_start"),
    Source("people", "one row per person: first active day, first order day, acquisition channel, region",
           (*_PERSON_COLS, "channel"), ("first_active_date", "first_order_date"), "first_active_at"),
    Source("people_value", "people with their GMV to date (for cohort LTV)",
           (*_PERSON_COLS, "channel", "gmv_to_date", "orders_to_date"), ("first_active_date", "first_order_date"),
           "first_active_at"),
    Source("surveys", "survey answers: score 0–10 and survey type from the survey event's properties",
           ("one_id", "survey_id", "survey_type", "score", "dt", "event_time"), ("dt",), "event_time"),
    Source("spend", "marketing spend per day, channel and campaign (entity 'spend')",
           ("date", "channel", "campaign_id", "purpose", "amount"), ("date",), None, person=False),
)}

#: Breakdowns. Row-level ones read the source's own column; person-level ones join ``person_dims``
#: (or, for segment and tag, the labels table the caller registers as ``kpi_labels``).
ROW_DIMENSIONS = {"channel": "channel", "product_line": "product_line", "category": "category",
                  "campaign": "campaign_id", "store": "store_id", "event": "event"}
PERSON_DIMENSIONS = {"region": "region", "owner_staff": "owner_staff_id", "acquisition_channel": "acquisition_channel",
                     "cohort": "cohort_month"}
LABEL_DIMENSIONS = ("segment", "tag")
DIMENSIONS = (*ROW_DIMENSIONS, *PERSON_DIMENSIONS, *LABEL_DIMENSIONS)


ORDER_LINES = """
SELECT o.one_id, o.order_id, i.sku, i.quantity, CAST(i.price * i.quantity AS DECIMAL(18,2)) AS line_amount,
       p.category, p.product_line, o.channel, o.dt, o.paid_at
FROM order_items AS i JOIN orders AS o ON o.order_id = i.order_id
LEFT JOIN products AS p ON p.sku = i.sku
"""

USER_DAILY = "SELECT *, CAST(dt AS TIMESTAMP) AS day_start FROM user_daily"

#: Region is the owning staff member's region; acquisition channel is the channel of the person's first
#: WeCom add (its QR code's channel), else of their first order, else 'unknown'.
PEOPLE = """
WITH firsts AS (
    SELECT one_id, min(CASE WHEN active THEN dt END) AS first_active_date,
           min(CASE WHEN orders > 0 THEN dt END) AS first_order_date
    FROM user_daily GROUP BY one_id
), adds AS (
    SELECT one_id, channel FROM (
        SELECT one_id, channel, row_number() OVER (PARTITION BY one_id ORDER BY event_time, channel) AS rn
        FROM events WHERE event = 'wecom_friend_added' AND channel IS NOT NULL
    ) AS a WHERE rn = 1
), first_order AS (
    SELECT one_id, channel FROM (
        SELECT one_id, channel, row_number() OVER (PARTITION BY one_id ORDER BY paid_at, order_id) AS rn
        FROM orders WHERE channel IS NOT NULL
    ) AS o WHERE rn = 1
)
SELECT f.one_id,
       coalesce(s.region, 'unknown') AS region,
       coalesce(p.owner_staff_id, 'unassigned') AS owner_staff_id,
       coalesce(a.channel, fo.channel, 'unknown') AS acquisition_channel,
       coalesce(a.channel, fo.channel, 'unknown') AS channel,
       coalesce(strftime(f.first_active_date, '%Y-%m'), 'never_active') AS cohort_month,
       f.first_active_date, f.first_order_date,
       CAST(f.first_active_date AS TIMESTAMP) AS first_active_at
FROM firsts AS f
LEFT JOIN profiles AS p ON p.one_id = f.one_id
LEFT JOIN staff AS s ON s.staff_id = p.owner_staff_id
LEFT JOIN adds AS a ON a.one_id = f.one_id
LEFT JOIN first_order AS fo ON fo.one_id = f.one_id
"""

PEOPLE_VALUE = """
SELECT d.*, coalesce(o.gmv, 0) AS gmv_to_date, coalesce(o.orders, 0) AS orders_to_date
FROM person_dims AS d
LEFT JOIN (SELECT one_id, CAST(sum(amount) AS DOUBLE) AS gmv, count(*) AS orders FROM orders GROUP BY one_id) AS o
  ON o.one_id = d.one_id
"""

#: The survey event's name is fixed here ('survey_answered', see the event catalogue); NPS metrics filter it.
SURVEYS = """
SELECT one_id, json_extract_string(properties, '$.survey_id') AS survey_id,
       json_extract_string(properties, '$.survey_type') AS survey_type,
       TRY_CAST(json_extract_string(properties, '$.score') AS DOUBLE) AS score, dt, event_time
FROM events WHERE event = 'survey_answered'
"""


def register_kpi_sources(eng: Engine, lake: Lake) -> None:
    """Register the profile views, then the KPI sources as views named ``kpi_<source>``."""
    if not lake.exists("dwd", "events") or not lake.exists("dws", "user_daily"):
        raise SiyuError(f"no built lake at {lake.root}: run `siyu import` and `siyu build` first",
                        code="lake_not_built", input_name="--lake")
    register_profile_sources(eng, lake)
    for entity, schema in (("staff", ENTITIES["staff"].schema), ("spend", ENTITIES["spend"].schema)):
        table = f"entities_{entity}"
        eng.register(entity, lake.files("ods", table), lake.schema("ods", table) or schema)
    eng.create_view("kpi_events", "SELECT * FROM events")
    eng.create_view("kpi_orders", "SELECT * FROM orders")
    eng.create_view("kpi_order_lines", ORDER_LINES)
    eng.create_view("kpi_user_daily", USER_DAILY)
    eng.materialize("person_dims", PEOPLE)
    eng.create_view("kpi_people", "SELECT * FROM person_dims")
    eng.create_view("kpi_people_value", PEOPLE_VALUE)
    eng.create_view("kpi_surveys", SURVEYS)
    eng.create_view("kpi_spend", "SELECT date, channel, campaign_id, purpose, amount FROM spend")
