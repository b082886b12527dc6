"""Entity tables exported by order systems, CMS and SCRM: their Arrow schemas and keys.

Entities arrive as files in ``DIR/entities/<name>.parquet`` (or ``.csv``/``.jsonl``) and land in
``lake/ods/entities/<name>``. Phones in order exports are hashed on import like every phone.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class EntitySpec:
    name: str
    description: str
    schema: pa.Schema
    key: tuple[str, ...]
    #: columns holding a phone number in plaintext; hashed on import, never stored as is.
    phone_columns: tuple[str, ...] = ()


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in fields])


ENTITIES: dict[str, EntitySpec] = {
    e.name: e
    for e in (
        EntitySpec("products", "Products (商品)", _schema(
            ("sku", pa.string()), ("name", pa.string()), ("category", pa.string()),
            ("product_line", pa.string()), ("price", pa.float64())), ("sku",)),
        EntitySpec("orders", "Orders from the order system (订单), carrying phone + openid", _schema(
            ("order_id", pa.string()), ("phone", pa.string()), ("openid", pa.string()),
            ("member_no", pa.string()), ("paid_at", TS), ("amount", pa.float64()),
            ("currency", pa.string()), ("channel", pa.string()), ("store_id", pa.string()),
            ("staff_id", pa.string()), ("coupon_id", pa.string()), ("discount_amount", pa.float64()),
            ("status", pa.string())), ("order_id",), phone_columns=("phone",)),
        EntitySpec("order_items", "Order lines (订单明细)", _schema(
            ("order_id", pa.string()), ("line_no", pa.int32()), ("sku", pa.string()),
            ("quantity", pa.int32()), ("price", pa.float64())), ("order_id", "line_no")),
        EntitySpec("content", "Content items: articles, videos, live streams (内容)", _schema(
            ("content_id", pa.string()), ("title", pa.string()), ("content_type", pa.string()),
            ("category", pa.string()), ("published_at", TS)), ("content_id",)),
        EntitySpec("staff", "Staff: shop guides and customer service (导购/客服)", _schema(
            ("staff_id", pa.string()), ("name", pa.string()), ("role", pa.string()),
            ("store_id", pa.string()), ("region", pa.string())), ("staff_id",)),
        EntitySpec("customer_staff", "Which staff member owns which customer (follow_user)", _schema(
            ("wecom_external_userid", pa.string()), ("staff_id", pa.string()),
            ("added_at", TS), ("state", pa.string())), ("wecom_external_userid", "staff_id")),
        EntitySpec("groups", "Community groups (社群)", _schema(
            ("group_id", pa.string()), ("name", pa.string()), ("owner_staff_id", pa.string()),
            ("created_at", TS)), ("group_id",)),
        EntitySpec("campaigns", "Campaigns (营销活动)", _schema(
            ("campaign_id", pa.string()), ("name", pa.string()), ("channel", pa.string()),
            ("start_date", pa.date32()), ("end_date", pa.date32()), ("cost", pa.float64()),
            ("is_ab_test", pa.bool_())), ("campaign_id",)),
        EntitySpec("spend", "Marketing spend per day, channel and campaign (投放/营销费用); CAC reads it", _schema(
            ("date", pa.date32()), ("channel", pa.string()), ("campaign_id", pa.string()),
            ("purpose", pa.string()), ("amount", pa.float64())), ("date", "channel", "campaign_id", "purpose")),
        EntitySpec("experiment_assignments", "Who got which variant of an A/B test (实验分组), from an A/B tool",
                   _schema(("experiment_id", pa.string()), ("unit_type", pa.string()), ("unit_value", pa.string()),
                           ("variant", pa.string()), ("assigned_at", TS)),
                   ("experiment_id", "unit_type", "unit_value")),
    )
}
