"""The views every profile computation reads, registered from the lake under fixed names.

Domain SQL in this room (RFM, lifecycle, tiers, tags, segments) reads only these names, never lake
paths, so it runs unchanged on every engine:

- ``events``: dwd events with one_ids followed through OneID merge redirects;
- ``orders`` / ``order_items``: dwd orders (current one_ids) and their lines;
- ``user_daily``: dws per-person-day aggregates (current one_ids);
- ``profiles``: the ads profile wide table; ``products``, ``content``: catalogue entities;
- ``profile`` (after facts are built): profiles joined with RFM, lifecycle and tier — what rules read.
"""

from __future__ import annotations

from siyu.core.entities import ENTITIES
from siyu.warehouse.build import register_layer
from siyu.warehouse.engine import Engine
from siyu.warehouse.identity.store import register_identity
from siyu.warehouse.lake import Lake
from siyu.warehouse.layers.ads import USER_DAILY_CURRENT

_EVENT_COLUMNS = (
    "event, type, event_time, dt, event_hour, order_id, amount, currency, discount_amount, coupon_id, content_id, "
    "read_seconds, completion, group_id, staff_id, store_id, sku, category, campaign_id, channel, state, "
    "satisfaction, response_seconds, properties"
)

EVENTS = f"""
SELECT coalesce(r.to_one_id, e.one_id) AS one_id, {", ".join("e." + c.strip() for c in _EVENT_COLUMNS.split(","))}
FROM dwd_events AS e LEFT JOIN redirects AS r ON r.from_one_id = e.one_id
WHERE e.one_id IS NOT NULL
"""

ORDERS = """
SELECT coalesce(r.to_one_id, o.one_id) AS one_id, o.order_id, o.amount, o.discount_amount, o.coupon_id,
       o.paid_at, o.dt, o.channel, o.store_id, o.staff_id
FROM dwd_orders AS o LEFT JOIN redirects AS r ON r.from_one_id = o.one_id
WHERE o.one_id IS NOT NULL
"""


def register_profile_sources(eng: Engine, lake: Lake) -> None:
    """Register the base views above from a built lake (``siyu build`` must have run)."""
    register_identity(eng, lake)
    register_layer(eng, lake, "dwd", "events")
    register_layer(eng, lake, "dwd", "orders")
    register_layer(eng, lake, "dwd", "order_items", "order_items")
    register_layer(eng, lake, "dws", "user_daily")
    register_layer(eng, lake, "ads", "profiles", "profiles")
    for entity in ("products", "content"):  # catalogue entities are optional: empty views when not imported
        eng.register(entity, lake.files("ods", f"entities_{entity}"),
                     lake.schema("ods", f"entities_{entity}") or ENTITIES[entity].schema)
    eng.create_view("events", EVENTS)
    eng.create_view("orders", ORDERS)
    eng.create_view("user_daily", USER_DAILY_CURRENT)

PROFILE = """
SELECT p.*,
    r.rfm_r, r.rfm_f, r.rfm_m, r.rfm_class, r.rfm_class_en,
    l.lifecycle, l.activity_class, l.idle_days, h.since AS lifecycle_since,
    t.tier, t.tier_zh, t.spend_to_next_tier, t.orders_to_next_tier
FROM profiles AS p
LEFT JOIN ads_rfm AS r ON r.one_id = p.one_id
LEFT JOIN ads_lifecycle AS l ON l.one_id = p.one_id
LEFT JOIN lifecycle_since AS h ON h.one_id = p.one_id
LEFT JOIN ads_tiers AS t ON t.one_id = p.one_id
"""

LIFECYCLE_SINCE = """
SELECT one_id, max(dt) AS since FROM ads_lifecycle_changes WHERE to_value IS NOT NULL GROUP BY one_id
"""


def register_profile_view(eng: Engine, lake: Lake) -> None:
    """Register the built facts and the ``profile`` view (one row per person) that rules read."""
    for table in ("rfm", "lifecycle", "tiers", "lifecycle_changes"):
        register_layer(eng, lake, "ads", table)
    eng.create_view("lifecycle_since", LIFECYCLE_SINCE)
    eng.create_view("profile", PROFILE)


def materialize_profile_views(eng: Engine) -> None:
    """Compute ``events``, ``orders`` and ``profile`` once for a build that reads them hundreds of times.

    Each tag is its own query; as views, 300 tags would re-read every dwd file and re-apply the OneID
    redirects 300 times. Materialised (in memory, spilling to disk), each tag is a scan of one table.
    """
    eng.materialize("events", EVENTS)
    eng.materialize("orders", ORDERS)
    eng.materialize("profile", PROFILE)
