"""Lifecycle stages and member tiers on hand-built people whose answers are worked out by hand."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from siyu.profile.config import LifecycleConfig, TierConfig
from siyu.profile.lifecycle import lifecycle_sql
from siyu.profile.tiers import tier_levels_table, tiers_sql
from siyu.warehouse.engine import Engine

AS_OF = date(2026, 3, 31)


def _day(n: int) -> date:
    """``n`` days before as_of (negative: after it, a clock-skewed 'future' day)."""
    return AS_OF - timedelta(days=n)


# one_id → list of (days before as_of, interactions, orders), and the stage/activity expected
CASES: dict[str, tuple[list[tuple[int, int, int]], str, str]] = {
    "no_events": ([], "potential", "none"),
    "only_future": ([(-3, 5, 1)], "potential", "none"),
    "idle_29_never_bought": ([(29, 1, 0)], "potential", "none"),
    "idle_exactly_30": ([(30, 4, 0), (100, 0, 1)], "silent", "none"),
    "idle_29_buyer": ([(29, 2, 0), (120, 0, 1)], "active", "none"),
    "idle_89": ([(89, 1, 1)], "silent", "none"),
    "idle_exactly_90": ([(90, 1, 1)], "churned", "none"),
    "first_order_29_days_ago": ([(29, 1, 1)], "new", "none"),
    "first_order_exactly_30_days_ago": ([(30, 0, 1), (2, 1, 0)], "active", "low"),
    "order_only_keeps_active": ([(3, 0, 1), (200, 0, 1)], "active", "none"),
    "three_this_week": ([(6, 2, 0), (0, 1, 0), (50, 0, 1)], "active", "high"),
    "boundary_day_7_not_counted": ([(7, 2, 0), (1, 1, 0), (60, 0, 1)], "active", "low"),
    "future_ignored_for_idle": ([(40, 1, 1), (-1, 9, 0)], "silent", "none"),
}


def _tables() -> tuple[pa.Table, pa.Table]:
    rows = [{"one_id": pid, "dt": _day(n), "interactions": i, "active": i > 0, "orders": o}
            for pid, (days, _, _) in CASES.items() for n, i, o in days]
    daily = pa.Table.from_pylist(rows, schema=pa.schema([
        ("one_id", pa.string()), ("dt", pa.date32()), ("interactions", pa.int64()), ("active", pa.bool_()),
        ("orders", pa.int64())]))
    return pa.table({"one_id": list(CASES)}), daily


def test_lifecycle_stages_follow_the_definitions(engine: Engine) -> None:
    profiles, daily = _tables()
    engine.register_arrow("profiles", profiles)
    engine.register_arrow("user_daily", daily)
    sql, params = lifecycle_sql(LifecycleConfig(), AS_OF)
    got = {r["one_id"]: (r["lifecycle"], r["activity_class"]) for r in engine.query(sql, params).to_pylist()}
    assert got == {pid: (stage, act) for pid, (_, stage, act) in CASES.items()}


def test_lifecycle_thresholds_are_configurable(engine: Engine) -> None:
    profiles, daily = _tables()
    engine.register_arrow("profiles", profiles)
    engine.register_arrow("user_daily", daily)
    sql, params = lifecycle_sql(LifecycleConfig(silent_days=14, churned_days=60), AS_OF)
    got = {r["one_id"]: r["lifecycle"] for r in engine.query(sql, params).to_pylist()}
    assert got["idle_29_buyer"] == "silent"
    assert got["idle_89"] == "churned"


def test_lifecycle_config_rejects_churned_before_silent() -> None:
    with pytest.raises(ValueError, match="churned_days must be greater"):
        LifecycleConfig(silent_days=30, churned_days=30)


ORDERS = [  # one_id, days before as_of, amount
    ("a", 10, "499.99"), ("a", 20, "0.01"),                    # 500.00 in 2 orders → silver, exactly
    ("b", 5, "3000"),                                          # big spend, 1 order → bronze (needs 2 orders)
    ("c", 1, "600"), ("c", 2, "600"), ("c", 3, "600"), ("c", 4, "300"),   # 2100 in 4 → gold
    ("d", 400, "9000"), ("d", 1, "100"),                       # the old order is outside the 365-day window
    ("e", -1, "9000"),                                         # a future order does not count
]


def test_member_tiers_and_spend_to_next_tier(engine: Engine) -> None:
    engine.register_arrow("profiles", pa.table({"one_id": ["a", "b", "c", "d", "e", "f"]}))
    engine.register_arrow("orders", pa.Table.from_pylist(
        [{"one_id": p, "dt": _day(n), "amount": Decimal(a)} for p, n, a in ORDERS],
        schema=pa.schema([("one_id", pa.string()), ("dt", pa.date32()), ("amount", pa.decimal128(18, 2))])))
    config = TierConfig()
    engine.register_arrow("tier_levels", tier_levels_table(config))
    sql, params = tiers_sql(config, AS_OF)
    got = {r["one_id"]: (r["tier"], r["tier_zh"], r["spend_to_next_tier"], r["orders_to_next_tier"])
           for r in engine.query(sql, params).to_pylist()}
    assert got == {
        "a": ("silver", "银", Decimal("1500.00"), 2),
        "b": ("bronze", "铜", Decimal("0.00"), 1),
        "c": ("gold", "金", Decimal("2900.00"), 4),
        "d": ("bronze", "铜", Decimal("400.00"), 1),
        "e": ("bronze", "铜", Decimal("500.00"), 2),
        "f": ("bronze", "铜", Decimal("500.00"), 2),
    }


def test_tier_levels_must_climb() -> None:
    levels = [{"name": "bronze", "name_zh": "铜", "min_spend": 0, "min_orders": 0},
              {"name": "silver", "name_zh": "银", "min_spend": 0, "min_orders": 0}]
    with pytest.raises(ValueError, match="must need more"):
        TierConfig.model_validate({"levels": levels})
