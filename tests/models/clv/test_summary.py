"""The customer summary on the engine (DuckDB and Spark): a hand-worked set of orders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from siyu.core.errors import SiyuError
from siyu.models.clv.summary import customer_summary, customer_summary_table
from siyu.warehouse.engine import Engine
from tests.measure.measure_reference import at

ORDERS_SCHEMA = pa.schema([("one_id", pa.string()), ("order_id", pa.string()), ("amount", pa.decimal128(18, 2)),
                           ("paid_at", pa.timestamp("us", tz="UTC")), ("dt", pa.date32())])
ORDERS = [
    # a: three purchase days (two orders on 03-05 make one day); repeat spend (30 + 20 + 50) / 2 = 50
    ("a", "a1", "2026-03-01 10:00", "100.00"), ("a", "a2", "2026-03-05 09:00", "30.00"),
    ("a", "a3", "2026-03-05 20:00", "20.00"), ("a", "a4", "2026-03-11 08:00", "50.00"),
    ("a", "a5", "2026-04-02 10:00", "70.00"),  # after the calibration end: holdout
    # b: one purchase, on the calibration end day itself: T = 0
    ("b", "b1", "2026-03-31 23:30", "15.50"),
    # c: first purchase before first_purchase_from; buys twice more, once in the holdout
    ("c", "c1", "2026-01-10 12:00", "10.00"), ("c", "c2", "2026-02-10 12:00", "12.00"),
    ("c", "c3", "2026-04-20 12:00", "14.00"), ("c", "c4", "2026-04-21 12:00", "16.00"),
    # d: only holdout purchases: not a calibration customer
    ("d", "d1", "2026-04-03 10:00", "99.00"),
    (None, "x1", "2026-03-02 10:00", "5.00"),  # no person: ignored
]


@pytest.fixture
def with_orders(engine: Engine) -> Engine:
    rows = [{"one_id": p, "order_id": o, "amount": Decimal(a), "paid_at": at(t), "dt": at(t).date()}
            for p, o, t, a in ORDERS]
    engine.register_arrow("orders", pa.Table.from_pylist(rows, schema=ORDERS_SCHEMA))
    return engine


def test_summary_by_hand(with_orders: Engine) -> None:
    got = customer_summary_table(with_orders, date(2026, 3, 31), holdout_end=date(2026, 4, 30)).to_pylist()
    by = {r["one_id"]: r for r in got}
    assert sorted(by) == ["a", "b", "c"]
    assert (by["a"]["frequency"], by["a"]["recency"], by["a"]["T"], by["a"]["monetary"]) == (2, 10.0, 30.0, 50.0)
    assert (by["a"]["holdout_frequency"], by["a"]["holdout_spend"]) == (1, 70.0)
    assert (by["b"]["frequency"], by["b"]["recency"], by["b"]["T"], by["b"]["monetary"]) == (0, 0.0, 0.0, None)
    assert (by["c"]["frequency"], by["c"]["recency"], by["c"]["T"], by["c"]["monetary"]) == (1, 31.0, 80.0, 12.0)
    assert (by["c"]["holdout_frequency"], by["c"]["holdout_spend"]) == (2, 30.0)
    assert by["b"]["holdout_frequency"] == 0 and by["b"]["holdout_spend"] == 0.0
    assert by["a"]["first_purchase"] == date(2026, 3, 1)


def test_first_purchase_from_keeps_recent_first_time_buyers(with_orders: Engine) -> None:
    s = customer_summary(with_orders, date(2026, 3, 31), first_purchase_from=date(2026, 2, 1))
    assert list(s.one_id) == ["a", "b"]
    assert np.isnan(s.monetary[1]) and s.holdout_frequency is None


def test_bad_periods_and_empty_data(with_orders: Engine) -> None:
    with pytest.raises(SiyuError) as exc:
        customer_summary(with_orders, date(2026, 3, 31), holdout_end=date(2026, 3, 31))
    assert exc.value.code == "bad_period"
    with pytest.raises(SiyuError) as exc:
        customer_summary(with_orders, date(2025, 1, 1))
    assert exc.value.code == "no_data"
