"""Baskets read from hand-built ``orders`` / ``order_items`` / ``products`` views on both engines, checked
against a plain-Python reference; every basket and item option."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest

from siyu.core.config import get_settings
from siyu.models.baskets import BasketConfig, Baskets, basket_items, fit_baskets
from siyu.warehouse.engine import Engine

ORDERS = pa.schema([("one_id", pa.string()), ("order_id", pa.string()), ("amount", pa.decimal128(18, 2)),
                    ("paid_at", pa.timestamp("us", tz="UTC")), ("dt", pa.date32())])
ITEMS = pa.schema([("order_id", pa.string()), ("line_no", pa.int64()), ("sku", pa.string()),
                   ("quantity", pa.int64()), ("price", pa.decimal128(18, 2))])
PRODUCTS = pa.schema([("sku", pa.string()), ("name", pa.string()), ("category", pa.string())])
TZ = ZoneInfo(get_settings().business_timezone)


def _world(seed: int = 1) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    orders, items = [], []
    start = datetime(2024, 3, 1, tzinfo=UTC)
    for k in range(120):
        paid = start + timedelta(minutes=int(rng.integers(0, 60 * 24 * 20)))
        one_id = f"u{int(rng.integers(0, 15)):02d}"
        oid = f"o{k:03d}"
        orders.append({"one_id": one_id, "order_id": oid, "amount": Decimal("1.00"), "paid_at": paid,
                       "dt": paid.astimezone(TZ).date()})
        for line in range(int(rng.integers(1, 5))):
            items.append({"order_id": oid, "line_no": line, "sku": f"K{int(rng.integers(0, 9))}",
                          "quantity": int(rng.choice([1, 1, 2, 0])), "price": Decimal("1.00")})
    # edges: a null sku, an order without payment time, lines of an order that is not in orders
    items.append({"order_id": "o000", "line_no": 9, "sku": None, "quantity": 1, "price": Decimal("1.00")})
    orders.append({"one_id": "u01", "order_id": "unpaid", "amount": Decimal("1.00"), "paid_at": None,
                   "dt": date(2024, 3, 2)})
    items.append({"order_id": "unpaid", "line_no": 0, "sku": "K1", "quantity": 1, "price": Decimal("1.00")})
    items.append({"order_id": "ghost", "line_no": 0, "sku": "K1", "quantity": 1, "price": Decimal("1.00")})
    products = [{"sku": f"K{j}", "name": f"p{j}", "category": ["skin", "makeup", "body", None][j % 4]}
                for j in range(9)]
    products.append({"sku": "K1", "name": "dup", "category": "aaa"})  # a sku listed twice: the min category
    return orders, items, products


def reference(orders: list[dict[str, Any]], items: list[dict[str, Any]], products: list[dict[str, Any]],
              level: str, basket: str, start: date | None, end: date | None) -> dict[str, tuple[set[str], int, int]]:
    """basket_id → (items, ISO weekday, hour), by the definitions in siyu.models.baskets.source."""
    category: dict[str, str] = {}
    for p in products:
        if p["category"] is not None:
            category[p["sku"]] = min(category.get(p["sku"], p["category"]), p["category"])
    by_id = {o["order_id"]: o for o in orders}
    got: dict[str, set[str]] = defaultdict(set)
    opened: dict[str, tuple[datetime, date]] = {}
    for line in items:
        o = by_id.get(line["order_id"])
        if o is None or o["paid_at"] is None or line["sku"] is None or line["quantity"] <= 0:
            continue
        if (start and o["dt"] < start) or (end and o["dt"] > end):
            continue
        item = line["sku"] if level == "sku" else category.get(line["sku"])
        if item is None:
            continue
        key = o["order_id"] if basket == "order" else f"{o['one_id']}|{o['dt'].isoformat()}"
        got[key].add(item)
        if key not in opened or o["paid_at"] < opened[key][0]:
            opened[key] = (o["paid_at"], o["dt"])
    return {k: (v, opened[k][1].isoweekday(), opened[k][0].astimezone(TZ).hour) for k, v in got.items()}


@pytest.mark.parametrize(("level", "basket", "start", "end"), [
    ("sku", "order", None, None),
    ("category", "order", None, None),
    ("sku", "person_day", None, None),
    ("category", "person_day", date(2024, 3, 5), date(2024, 3, 12)),
])
def test_baskets_equal_the_reference_on_both_engines(engine: Engine, level: str, basket: str, start: date | None,
                                                     end: date | None) -> None:
    orders, items, products = _world()
    engine.register_arrow("orders", pa.Table.from_pylist(orders, schema=ORDERS))
    engine.register_arrow("order_items", pa.Table.from_pylist(items, schema=ITEMS))
    engine.register_arrow("products", pa.Table.from_pylist(products, schema=PRODUCTS))
    table = basket_items(engine, level, basket, start, end)
    assert table.column_names == ["basket_id", "item", "weekday", "hour"]
    rows = table.to_pylist()
    assert rows == sorted(rows, key=lambda r: (r["basket_id"], r["item"]))
    want = reference(orders, items, products, level, basket, start, end)
    got: dict[str, tuple[set[str], int, int]] = {}
    for r in rows:
        prev = got.get(r["basket_id"], (set(), r["weekday"], r["hour"]))
        assert (prev[1], prev[2]) == (r["weekday"], r["hour"])  # one time per basket
        got[r["basket_id"]] = (prev[0] | {r["item"]}, r["weekday"], r["hour"])
    assert got == want and len(want) > 10
    assert len(rows) == sum(len(v[0]) for v in want.values())  # each item once per basket
    if level == "category":
        assert "aaa" in {r["item"] for r in rows}
    # the matrix the miner reads holds the same baskets
    baskets = Baskets.from_table(table)
    for i, bid in enumerate(baskets.basket_ids):
        cols = baskets.matrix.indices[baskets.matrix.indptr[i]:baskets.matrix.indptr[i + 1]]
        assert {baskets.items[j] for j in cols} == want[bid][0]
        assert (baskets.weekday[i], baskets.hour[i]) == want[bid][1:]


def test_fit_baskets_reads_up_to_as_of(engine: Engine) -> None:
    orders, items, products = _world(seed=4)
    engine.register_arrow("orders", pa.Table.from_pylist(orders, schema=ORDERS))
    engine.register_arrow("order_items", pa.Table.from_pylist(items, schema=ITEMS))
    engine.register_arrow("products", pa.Table.from_pylist(products, schema=PRODUCTS))
    as_of = date(2024, 3, 10)
    model = fit_baskets(engine, as_of, BasketConfig(min_support=0.05))
    assert model.metrics["baskets"] == len(reference(orders, items, products, "sku", "order", None, as_of))
    assert model.as_of == as_of and model.params["as_of"] == "2024-03-10"
    later = fit_baskets(engine, as_of, BasketConfig(min_support=0.05, end=date(2024, 3, 5)))
    assert later.metrics["baskets"] == len(reference(orders, items, products, "sku", "order", None, date(2024, 3, 5)))
