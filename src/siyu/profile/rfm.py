"""RFM (最近一次消费 Recency · 消费频率 Frequency · 消费金额 Monetary) scores and the classic 8 classes.

Scores run 1..bins on each axis, higher is better (a recent buyer has a high R score). Quantile
scores are ``ceil(bins × k / n)`` where k counts buyers whose value is no better than this one's:
ties share a score, and the arithmetic is on integers so every engine gives the same answer. A
person is "high" on an axis when the score beats the buyers' mean score (the textbook split) or,
optionally, reaches a fixed score. Only people with an order in the window get a row.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, NamedTuple

import pyarrow as pa

from siyu.profile.config import RFMConfig


class RFMClass(NamedTuple):
    code: int  # 4·R_high + 2·F_high + M_high
    name_zh: str
    name_en: str


RFM_CLASSES = (
    RFMClass(7, "重要价值", "important_value"),
    RFMClass(5, "重要发展", "important_develop"),
    RFMClass(3, "重要保持", "important_retain"),
    RFMClass(1, "重要挽留", "important_win_back"),
    RFMClass(6, "一般价值", "general_value"),
    RFMClass(4, "一般发展", "general_develop"),
    RFMClass(2, "一般保持", "general_retain"),
    RFMClass(0, "一般挽留", "general_win_back"),
)


def rfm_classes_table() -> pa.Table:
    """The 8 classes as a small table, joined by code (labels never pasted into SQL)."""
    return pa.table({
        "code": pa.array([c.code for c in RFM_CLASSES], pa.int32()),
        "rfm_class": [c.name_zh for c in RFM_CLASSES],
        "rfm_class_en": [c.name_en for c in RFM_CLASSES],
    })


def _quantile(column: str, order: str) -> str:
    k = f"count(*) OVER (ORDER BY {column} {order})"
    return f"CAST(floor(($bins * {k} + count(*) OVER () - 1) / count(*) OVER ()) AS INTEGER)"


def _fixed(column: str, prefix: str, n: int, *, higher_is_better: bool) -> str:
    if higher_is_better:
        steps = " + ".join(f"CASE WHEN {column} >= ${prefix}{i} THEN 1 ELSE 0 END" for i in range(n))
        return f"CAST(1 + {steps} AS INTEGER)"
    steps = " + ".join(f"CASE WHEN {column} > ${prefix}{i} THEN 1 ELSE 0 END" for i in range(n))
    return f"CAST($bins - ({steps}) AS INTEGER)"


def rfm_sql(config: RFMConfig, as_of: date) -> tuple[str, dict[str, Any]]:
    """One query over ``orders`` and ``rfm_classes`` giving a row per buyer in the window."""
    params: dict[str, Any] = {
        "as_of": as_of, "window_start": as_of - timedelta(days=config.window_days - 1), "bins": config.bins}
    if config.method == "quantile":
        r, f, m = (_quantile("recency_days", "DESC"), _quantile("frequency", "ASC"), _quantile("monetary", "ASC"))
    else:
        n = config.bins - 1
        r = _fixed("recency_days", "rc", n, higher_is_better=False)
        f = _fixed("frequency", "fc", n, higher_is_better=True)
        m = _fixed("monetary", "mc", n, higher_is_better=True)
        for i in range(n):
            params[f"rc{i}"], params[f"fc{i}"], params[f"mc{i}"] = (
                config.recency_days[i], config.frequency[i], config.monetary[i])
    if config.split == "mean_score":
        high = {a: f"rfm_{a} > avg(rfm_{a}) OVER ()" for a in "rfm"}
    else:
        params["high_score"] = config.high_score
        high = {a: f"rfm_{a} >= $high_score" for a in "rfm"}
    sql = f"""
WITH buyers AS (
    SELECT one_id, max(dt) AS last_order_date, count(*) AS frequency,
           CAST(sum(amount) AS DECIMAL(18,2)) AS monetary
    FROM orders WHERE dt >= CAST($window_start AS DATE) AND dt <= CAST($as_of AS DATE)
    GROUP BY one_id
), base AS (
    SELECT one_id, last_order_date, frequency, monetary,
           date_diff('day', last_order_date, CAST($as_of AS DATE)) AS recency_days
    FROM buyers
), scored AS (
    SELECT one_id, last_order_date, recency_days, frequency, monetary, {r} AS rfm_r, {f} AS rfm_f, {m} AS rfm_m
    FROM base
), flagged AS (
    SELECT *, CAST((CASE WHEN {high["r"]} THEN 4 ELSE 0 END) + (CASE WHEN {high["f"]} THEN 2 ELSE 0 END)
                   + (CASE WHEN {high["m"]} THEN 1 ELSE 0 END) AS INTEGER) AS rfm_code
    FROM scored
)
SELECT s.one_id, s.last_order_date, s.recency_days, s.frequency, s.monetary, s.rfm_r, s.rfm_f, s.rfm_m,
       c.rfm_class, c.rfm_class_en, CAST($as_of AS DATE) AS as_of
FROM flagged AS s JOIN rfm_classes AS c ON c.code = s.rfm_code
"""
    return sql, params
