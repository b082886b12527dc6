"""Baskets from the lake (购物篮): one SQL over ``order_items`` and ``orders``, then a sparse basket × item matrix.

- A **basket** is one paid order (``basket="order"``) or everything one person paid for on one business
  day (``basket="person_day"``: an order split in two still counts as bought together).
- An **item** is the line's ``sku`` (``level="sku"``) or the sku's ``category`` in the ``products``
  catalogue (``level="category"``; lines whose sku has no category are left out). An item counts once
  per basket, whatever the quantity; lines with a quantity ≤ 0 or no sku are left out.
- A basket's **time** is its first payment: the ISO weekday (1 = Monday … 7 = Sunday) of its business
  day ``dt`` and the hour of ``paid_at`` in the business time zone (both engines run in that zone).
- ``start`` / ``end`` bound the business days read (inclusive); None reads everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

from siyu.warehouse.engine import Engine

Level = Literal["sku", "category"]
BasketKind = Literal["order", "person_day"]

#: A Monday: the ISO weekday of a day is its distance from this one, modulo 7, plus 1 — integer
#: arithmetic on days, the same on every engine.
_MONDAY = "DATE '2024-01-01'"


def basket_sql(level: Level = "sku", basket: BasketKind = "order", start: date | None = None,
               end: date | None = None) -> tuple[str, dict[str, Any]]:
    """The query (and its bound values) returning ``basket_id, item, weekday, hour``, one row per item per
    basket, sorted by ``basket_id, item``."""
    params: dict[str, Any] = {}
    where = ["o.paid_at IS NOT NULL", "o.dt IS NOT NULL", "i.sku IS NOT NULL", "(i.quantity IS NULL OR i.quantity > 0)"]
    if start is not None:
        params["start"] = start
        where.append("o.dt >= CAST($start AS DATE)")
    if end is not None:
        params["end"] = end
        where.append("o.dt <= CAST($end AS DATE)")
    if level == "category":
        catalogue = """
), catalogue AS (
    SELECT sku, min(category) AS category FROM products WHERE category IS NOT NULL GROUP BY sku"""
        item, join = "c.category", "JOIN catalogue AS c ON c.sku = i.sku"
    else:
        catalogue, item, join = "", "i.sku", ""
    key = "o.order_id" if basket == "order" else "concat(o.one_id, '|', CAST(o.dt AS VARCHAR))"
    sql = f"""
WITH orders_in AS (
    SELECT o.order_id, o.one_id, o.dt, o.paid_at FROM orders AS o WHERE o.order_id IS NOT NULL{catalogue}
), lines AS (
    SELECT {key} AS basket_id, {item} AS item, o.dt, o.paid_at
    FROM order_items AS i
    JOIN orders_in AS o ON o.order_id = i.order_id
    {join}
    WHERE {" AND ".join(where)}
), opened AS (
    SELECT basket_id, min(paid_at) AS opened_at, min(dt) AS dt FROM lines GROUP BY basket_id
), items AS (
    SELECT DISTINCT basket_id, item FROM lines
)
SELECT t.basket_id, t.item,
    CAST(((date_diff('day', {_MONDAY}, b.dt) % 7) + 7) % 7 + 1 AS INTEGER) AS weekday,
    CAST(hour(b.opened_at) AS INTEGER) AS hour
FROM items AS t JOIN opened AS b ON b.basket_id = t.basket_id
ORDER BY t.basket_id, t.item
"""
    return sql, params


def basket_items(engine: Engine, level: Level = "sku", basket: BasketKind = "order", start: date | None = None,
                 end: date | None = None) -> pa.Table:
    """Run :func:`basket_sql` on ``engine`` (views ``orders``, ``order_items`` and, for categories, ``products``)."""
    sql, params = basket_sql(level, basket, start, end)
    return engine.query(sql, params)


@dataclass(frozen=True)
class Baskets:
    """Baskets as a sparse boolean matrix (rows: baskets, columns: items sorted by name) with their times."""

    basket_ids: np.ndarray
    items: list[str]
    matrix: sparse.csr_matrix
    weekday: np.ndarray
    hour: np.ndarray

    @property
    def n(self) -> int:
        return len(self.basket_ids)

    def item_counts(self) -> np.ndarray:
        """Baskets holding each item."""
        return np.asarray(self.matrix.sum(axis=0)).ravel().astype(np.int64)

    @classmethod
    def from_table(cls, table: pa.Table) -> Baskets:
        """From rows ``basket_id, item, weekday, hour`` (one per item per basket; repeats are merged)."""
        table = table.filter(pc.and_(pc.is_valid(table.column("basket_id")), pc.is_valid(table.column("item"))))
        baskets = pc.dictionary_encode(table.column("basket_id").combine_chunks())
        rows = baskets.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        ids = np.asarray(baskets.dictionary.to_pylist(), dtype=object)
        coded = pc.dictionary_encode(table.column("item").combine_chunks())
        names = [str(v) for v in coded.dictionary.to_pylist()]
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        cols = rank[coded.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
        items = [names[i] for i in order]
        matrix = sparse.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(ids), len(items)))
        matrix.sum_duplicates()
        first = np.unique(rows, return_index=True)[1]  # the first row of each basket
        weekday = table.column("weekday").to_numpy(zero_copy_only=False)[first] if len(ids) else np.empty(0)
        hour = table.column("hour").to_numpy(zero_copy_only=False)[first] if len(ids) else np.empty(0)
        return cls(ids, items, matrix, np.asarray(weekday, dtype=np.int64),
                   np.asarray(hour, dtype=np.int64))
