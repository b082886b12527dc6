"""Member tiers (会员等级: 铜 bronze · 银 silver · 金 gold · 钻石 diamond) and the gap to the next one.

A person holds the highest level whose spend AND order-count thresholds (over the window) are both
met; everyone holds at least the entry level. "Spend X more to reach the next tier" (再消费X元升级)
is ``max(0, next.min_spend - spend)``, with the orders still missing beside it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from siyu.profile.config import TierConfig


def tier_levels_table(config: TierConfig) -> pa.Table:
    """Levels with their rank and the next level's thresholds (null at the top)."""
    lv = config.levels
    nxt = [*lv[1:], None]
    return pa.table({
        "tier_rank": pa.array(range(len(lv)), pa.int32()),
        "tier": [x.name for x in lv],
        "tier_zh": [x.name_zh for x in lv],
        "next_tier": [n.name if n else None for n in nxt],
        "next_min_spend": pa.array([n.min_spend if n else None for n in nxt], pa.decimal128(18, 2)),
        "next_min_orders": pa.array([n.min_orders if n else None for n in nxt], pa.int64()),
    })


def tiers_sql(config: TierConfig, as_of: date) -> tuple[str, dict[str, Any]]:
    """One query over ``profiles``, ``orders`` and ``tier_levels``: every person's tier and gap."""
    params: dict[str, Any] = {"as_of": as_of, "window_start": as_of - timedelta(days=config.window_days - 1)}
    whens = []
    for rank in range(len(config.levels) - 1, 0, -1):
        level = config.levels[rank]
        params[f"s{rank}"], params[f"o{rank}"] = level.min_spend, level.min_orders
        whens.append(f"WHEN spend >= $s{rank} AND tier_orders >= $o{rank} THEN {rank}")
    rank_sql = f"CASE {' '.join(whens)} ELSE 0 END" if whens else "0"
    sql = f"""
WITH spend AS (
    SELECT one_id, CAST(sum(amount) AS DECIMAL(18,2)) AS spend, count(*) AS tier_orders
    FROM orders WHERE dt >= CAST($window_start AS DATE) AND dt <= CAST($as_of AS DATE)
    GROUP BY one_id
), ranked AS (
    SELECT p.one_id, coalesce(s.spend, CAST(0 AS DECIMAL(18,2))) AS spend, coalesce(s.tier_orders, 0) AS tier_orders
    FROM profiles AS p LEFT JOIN spend AS s ON s.one_id = p.one_id
)
SELECT r.one_id, l.tier, l.tier_zh, r.spend AS tier_spend, r.tier_orders, l.next_tier,
    CAST(CASE WHEN l.next_min_spend IS NULL THEN NULL
              WHEN l.next_min_spend > r.spend THEN l.next_min_spend - r.spend
              ELSE 0 END AS DECIMAL(18,2)) AS spend_to_next_tier,
    CAST(CASE WHEN l.next_min_orders IS NULL THEN NULL
              WHEN l.next_min_orders > r.tier_orders THEN l.next_min_orders - r.tier_orders
              ELSE 0 END AS BIGINT) AS orders_to_next_tier,
    CAST($as_of AS DATE) AS as_of
FROM (SELECT *, {rank_sql} AS tier_rank FROM ranked) AS r
JOIN tier_levels AS l ON l.tier_rank = r.tier_rank
"""
    return sql, params
