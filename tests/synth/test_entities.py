"""Entity files: the core schemas, and orders that agree with the order_paid events."""

from __future__ import annotations

import re
from datetime import timedelta

from siyu.core.entities import ENTITIES
from siyu.core.validation import Accepted
from tests.synth.conftest import World


def test_every_entity_has_its_core_schema(world: World) -> None:
    for name, spec in ENTITIES.items():
        table = world.entity(name)
        assert table.schema.equals(spec.schema), name
        assert table.num_rows > 0, name
    assert (world.root / "entities" / "orders" / "part-00002.parquet").exists()


def test_orders_match_order_paid_events(world: World) -> None:
    paid: dict[str, Accepted] = {}
    for a in world.accepted:  # the first delivery: a retried duplicate was received a few seconds later
        if a.event == "order_paid":
            paid.setdefault(a.msg["properties"]["order_id"], a)
    orders = world.entity("orders").to_pylist()
    assert len(orders) == len(paid) == world.summary.orders
    for o in orders:
        a = paid[o["order_id"]]
        assert o["amount"] == a.msg["properties"]["amount"]
        # paid_at is the true time; the corrected event time recovers it even from a skewed device clock
        assert timedelta(milliseconds=50) <= a.event_time - o["paid_at"] <= timedelta(seconds=2)
        assert o["discount_amount"] == a.msg["properties"]["discount_amount"]
        assert o["channel"] == a.msg["properties"]["channel"]
        if o["openid"]:
            assert o["openid"].startswith("wx_mp_app:") and o["channel"] == "mini_program"


def test_phones_in_orders_come_in_several_formats(world: World) -> None:
    phones = world.entity("orders")["phone"].to_pylist()
    patterns = {r"^1\d{10}$", r"^\+86 1\d{2} \d{4} \d{4}$", r"^1\d{2}-\d{4}-\d{4}$"}
    for pattern in patterns:
        assert any(re.match(pattern, p) for p in phones), pattern


def test_order_lines_add_up_to_the_paid_amount(world: World) -> None:
    items = world.entity("order_items").to_pandas()
    gross = (items.quantity * items.price).groupby(items.order_id).sum()
    orders = world.entity("orders").to_pandas().set_index("order_id")
    diff = (gross - (orders.amount + orders.discount_amount)).abs()
    assert diff.max() < 0.005
    assert items.groupby("order_id").line_no.min().eq(1).all()


def test_refunds_refer_to_refunded_orders(world: World) -> None:
    refunded = {a.msg["properties"]["order_id"] for a in world.accepted if a.event == "order_refunded"}
    orders = world.entity("orders").to_pandas()
    assert refunded == set(orders.loc[orders.status == "refunded", "order_id"])
