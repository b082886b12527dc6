"""Warning-model features (预警特征): one row per person per as-of date, computed on the engine.

For an as-of date D every feature reads only rows with ``dt <= D`` — windows of 7 / 14 / 30 / 90 days end at
D inclusive (a w-day window is ``(D − w, D]``), recency and lifetime totals look at all history up to D. Two
feature sets, each one SQL in siyu's dialect (the same on DuckDB and Spark):

- **activity** from ``user_daily`` (dws, 一人一天): interactions, active days, content reads and reading
  time, shares, group messages, customer-service contacts, messages delivered and clicked (push response
  rate), product views, cart adds, orders, GMV, refunds, store visits; trends (last 7 days against the 7
  before, last 30 against the 30 before, as ``(last + 1) / (before + 1)``); days since the last
  interaction, order, activity and shopping step; tenure (days since first seen) and lifetime orders / GMV;
- **service** from ``events``: customer-service satisfaction (1–5, ``cs_consulted.satisfaction``) and response
  time (``response_seconds``), coupons issued / redeemed and the redemption rate, unused coupons, and the
  relationship events WeCom friend deleted, group left and unsubscribed.

Not in the lake, so not features: coupon expiry, the reason a CS session was opened, NPS scores (they sit in
``survey_answered`` properties, one survey after 20% of orders — too sparse to help).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa

from siyu.core.errors import SiyuError
from siyu.measure.event_sql import Params
from siyu.warehouse.engine import Engine

#: The view :func:`pair_features` reads its (one_id, as_of) pairs from.
TARGETS_VIEW = "model_targets"
MAX_SNAPSHOTS = 400


@dataclass(frozen=True)
class Feature:
    """One model input and how to say it to the ops team (zh / en), low and high."""

    name: str
    zh: str
    en: str
    low: tuple[str, str]
    high: tuple[str, str]


def _windowed(column: str, zh: str, en: str, windows: tuple[int, ...]) -> list[Feature]:
    return [Feature(f"{column}_{w}d", f"近{w}天{zh}", f"{en} in the last {w} days",
                    (f"近{w}天{zh}偏少({{value}})", f"few {en} in the last {w} days ({{value}})"),
                    (f"近{w}天{zh}偏多({{value}})", f"many {en} in the last {w} days ({{value}})"))
            for w in windows]


#: user_daily measures: (column, zh, en, windows). ``active_days`` counts days with an interaction.
MEASURES: tuple[tuple[str, str, str, tuple[int, ...]], ...] = (
    ("interactions", "互动", "interactions", (7, 14, 30, 90)),
    ("active_days", "活跃天数", "active days", (7, 14, 30, 90)),
    ("content_reads", "内容阅读", "content reads", (30, 90)),
    ("read_seconds", "阅读时长(秒)", "reading seconds", (30, 90)),
    ("shares", "分享", "shares", (30, 90)),
    ("group_messages", "社群发言", "group messages", (30, 90)),
    ("cs_contacts", "客服咨询", "customer-service contacts", (30, 90)),
    ("messages_delivered", "触达消息", "messages delivered", (30, 90)),
    ("messages_clicked", "消息点击", "message clicks", (30, 90)),
    ("product_views", "商品浏览", "product views", (7, 30, 90)),
    ("cart_adds", "加购", "cart adds", (7, 30, 90)),
    ("orders", "订单", "orders", (30, 90)),
    ("gmv", "消费金额", "spend", (30, 90)),
    ("refunds", "退款", "refunds", (90,)),
    ("store_visits", "到店", "store visits", (30, 90)),
)


def _days(name: str, zh_act: str, en_act: str) -> Feature:
    return Feature(name, f"距上次{zh_act}天数", f"days since last {en_act}",
                   (f"{{value}}天前刚{zh_act}过", f"last {en_act} only {{value}} days ago"),
                   (f"已{{value}}天未{zh_act}", f"no {en_act} for {{value}} days"))


def _trend(name: str, w: int) -> Feature:
    return Feature(name, f"近{w}天互动趋势", f"interaction trend over {w} days",
                   (f"近{w}天互动比前{w}天下降", f"interactions fell in the last {w} days"),
                   (f"近{w}天互动比前{w}天上升", f"interactions rose in the last {w} days"))


def _plain(name: str, zh: str, en: str) -> Feature:
    return Feature(name, zh, en, (f"{zh}偏低({{value}})", f"low {en} ({{value}})"),
                   (f"{zh}偏高({{value}})", f"high {en} ({{value}})"))


ACTIVITY_FEATURES: tuple[Feature, ...] = (
    *[f for m in MEASURES for f in _windowed(*m)],
    _trend("interactions_trend_7d", 7),
    _trend("interactions_trend_30d", 30),
    _plain("push_response_rate_30d", "近30天推送响应率", "push response rate (30 days)"),
    _plain("push_response_rate_90d", "近90天推送响应率", "push response rate (90 days)"),
    _days("days_since_last_interaction", "互动", "interaction"),
    _days("days_since_last_order", "下单", "order"),
    _days("days_since_last_activity", "活跃", "activity"),
    _days("days_since_last_shopping", "浏览/加购/下单", "product view, cart add or order"),
    _plain("tenure_days", "入库天数", "days since first seen"),
    _plain("orders_total", "累计订单", "lifetime orders"),
    _plain("gmv_total", "累计消费", "lifetime spend"),
)

SERVICE_FEATURES: tuple[Feature, ...] = (
    _plain("cs_satisfaction_avg_90d", "近90天客服满意度", "customer-service satisfaction (90 days)"),
    _plain("cs_low_satisfaction_90d", "近90天客服差评(≤2分)", "poor customer-service ratings (90 days)"),
    _plain("cs_response_seconds_avg_90d", "近90天客服响应时长(秒)", "customer-service response seconds (90 days)"),
    *_windowed("coupons_issued", "领券", "coupons issued", (30, 90)),
    *_windowed("coupons_redeemed", "用券", "coupons redeemed", (30, 90)),
    _plain("coupon_redeem_rate_90d", "近90天核销率", "coupon redemption rate (90 days)"),
    _plain("coupons_unused", "未使用优惠券", "unused coupons"),
    _plain("wecom_friend_deleted", "删除企微好友次数", "WeCom friend deletions"),
    _plain("group_left", "退群次数", "groups left"),
    _plain("unsubscribed", "退订次数", "unsubscribes"),
)

FEATURES: dict[str, Feature] = {f.name: f for f in (*ACTIVITY_FEATURES, *SERVICE_FEATURES)}
#: Model input columns, in the order the feature query returns them (after ``one_id, as_of``).
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)

_SERVICE_EVENTS = ("cs_consulted", "coupon_issued", "coupon_redeemed", "wecom_friend_deleted", "group_left",
                   "unsubscribed")


def _sum(expr: str, within: int | None, cast: str = "BIGINT") -> str:
    if within is None:
        return f"CAST(sum({expr}) AS {cast})"
    return f"CAST(sum(CASE WHEN h.age < {int(within)} THEN {expr} ELSE 0 END) AS {cast})"


def _between(expr: str, lo: int, hi: int) -> str:
    """Sum of ``expr`` over days ``(D − hi, D − lo]`` (ages lo..hi−1): the window before the last ``lo`` days."""
    return f"CAST(sum(CASE WHEN h.age >= {lo} AND h.age < {hi} THEN {expr} ELSE 0 END) AS BIGINT)"


def _ratio(num: str, den: str) -> str:
    return f"CASE WHEN {den} > 0 THEN CAST({num} AS DOUBLE) / CAST({den} AS DOUBLE) END"


def _activity_columns() -> list[str]:
    cols = []
    for column, _, _, windows in MEASURES:
        for w in windows:
            if column == "active_days":
                cols.append(f"CAST(count(DISTINCT CASE WHEN h.age < {w} AND h.active THEN h.dt END) AS BIGINT)"
                            f" AS active_days_{w}d")
            elif column == "gmv":
                cols.append(f"{_sum('h.gmv', w, 'DECIMAL(18,2)')} AS gmv_{w}d")
            elif column == "read_seconds":  # decimals: a float sum depends on row order, which engines differ in
                cols.append(f"{_sum('CAST(h.read_seconds AS DECIMAL(18,3))', w, 'DECIMAL(18,3)')} AS read_seconds_{w}d")
            else:
                cols.append(f"{_sum(f'h.{column}', w)} AS {column}_{w}d")
    cols += [
        f"{_between('h.interactions', 7, 14)} AS interactions_prev_7d",
        f"{_between('h.interactions', 30, 60)} AS interactions_prev_30d",
        "CAST(min(CASE WHEN h.active THEN h.age END) AS BIGINT) AS days_since_last_interaction",
        "CAST(min(CASE WHEN h.orders > 0 THEN h.age END) AS BIGINT) AS days_since_last_order",
        "CAST(min(CASE WHEN h.active OR h.orders > 0 THEN h.age END) AS BIGINT) AS days_since_last_activity",
        "CAST(min(CASE WHEN h.product_views + h.cart_adds + h.orders > 0 THEN h.age END) AS BIGINT)"
        " AS days_since_last_shopping",
        "CAST(max(h.age) AS BIGINT) AS tenure_days",
        f"{_sum('h.orders', None)} AS orders_total",
        f"{_sum('h.gmv', None, 'DECIMAL(18,2)')} AS gmv_total",
    ]
    return cols


#: Service-set event counts: (event, window in days or None for all history, column).
_COUNTS: tuple[tuple[str, int | None, str], ...] = (
    ("coupon_issued", 30, "coupons_issued_30d"), ("coupon_issued", 90, "coupons_issued_90d"),
    ("coupon_redeemed", 30, "coupons_redeemed_30d"), ("coupon_redeemed", 90, "coupons_redeemed_90d"),
    ("coupon_issued", None, "coupons_issued_total"), ("coupon_redeemed", None, "coupons_redeemed_total"),
    ("wecom_friend_deleted", None, "wecom_friend_deleted"), ("group_left", None, "group_left"),
    ("unsubscribed", None, "unsubscribed"),
)


def _service_columns() -> list[str]:
    cs = "h.event = 'cs_consulted' AND h.age < 90"
    return [
        f"CAST(sum(CASE WHEN {cs} AND h.satisfaction IS NOT NULL THEN h.satisfaction ELSE 0 END) AS BIGINT)"
        " AS cs_sat_sum",
        f"CAST(sum(CASE WHEN {cs} AND h.satisfaction IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS cs_sat_n",
        f"CAST(sum(CASE WHEN {cs} AND h.satisfaction <= 2 THEN 1 ELSE 0 END) AS BIGINT) AS cs_low_satisfaction_90d",
        f"CAST(sum(CASE WHEN {cs} AND h.response_seconds IS NOT NULL THEN CAST(h.response_seconds AS DECIMAL(18,3))"
        " ELSE 0 END) AS DECIMAL(18,3)) AS cs_resp_sum",
        f"CAST(sum(CASE WHEN {cs} AND h.response_seconds IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS cs_resp_n",
        *[f"{_sum(f'CASE WHEN h.event = {name!r} THEN 1 ELSE 0 END', w)} AS {alias}" for name, w, alias in _COUNTS],
    ]


def _final_columns() -> list[str]:
    """The outer SELECT: activity columns as they are, derived ratios, service columns (0 when none)."""
    out = []
    for f in ACTIVITY_FEATURES:
        if f.name == "interactions_trend_7d":
            out.append("(CAST(a.interactions_7d AS DOUBLE) + 1) / (CAST(a.interactions_prev_7d AS DOUBLE) + 1)"
                       " AS interactions_trend_7d")
        elif f.name == "interactions_trend_30d":
            out.append("(CAST(a.interactions_30d AS DOUBLE) + 1) / (CAST(a.interactions_prev_30d AS DOUBLE) + 1)"
                       " AS interactions_trend_30d")
        elif f.name.startswith("push_response_rate_"):
            w = f.name.rsplit("_", 1)[1]
            out.append(f"{_ratio(f'a.messages_clicked_{w}', f'a.messages_delivered_{w}')} AS {f.name}")
        elif f.name in ("read_seconds_30d", "read_seconds_90d", "gmv_30d", "gmv_90d", "gmv_total"):
            out.append(f"CAST(a.{f.name} AS DOUBLE) AS {f.name}")
        else:
            out.append(f"a.{f.name}")
    z = "CAST(0 AS BIGINT)"
    out += [
        f"{_ratio('s.cs_sat_sum', 's.cs_sat_n')} AS cs_satisfaction_avg_90d",
        f"coalesce(s.cs_low_satisfaction_90d, {z}) AS cs_low_satisfaction_90d",
        f"{_ratio('s.cs_resp_sum', 's.cs_resp_n')} AS cs_response_seconds_avg_90d",
        *[f"coalesce(s.{c}, {z}) AS {c}" for c in ("coupons_issued_30d", "coupons_issued_90d",
                                                   "coupons_redeemed_30d", "coupons_redeemed_90d")],
        f"{_ratio('s.coupons_redeemed_90d', 's.coupons_issued_90d')} AS coupon_redeem_rate_90d",
        "CAST(greatest(coalesce(s.coupons_issued_total - s.coupons_redeemed_total, 0), 0) AS BIGINT)"
        " AS coupons_unused",
        *[f"coalesce(s.{c}, {z}) AS {c}" for c in ("wecom_friend_deleted", "group_left", "unsubscribed")],
    ]
    return out


def features_sql(targets: str, p: Params, population_days: int | None = None) -> str:
    """The feature query over ``user_daily`` and ``events`` for the (one_id, as_of) ``targets``.

    ``targets`` is ``"snapshots"`` (every person known by each date of a ``snap(as_of)`` CTE the caller
    puts first) or ``"pairs"`` (the rows of :data:`TARGETS_VIEW`). With ``population_days`` only people
    active (interaction or order) in ``(D − population_days, D]`` are returned.
    """
    if targets == "snapshots":
        daily = "user_daily AS u JOIN snap AS t ON u.dt <= t.as_of"
        evs = "events AS e JOIN snap AS t ON e.dt <= t.as_of"
    elif targets == "pairs":
        daily = f"user_daily AS u JOIN {TARGETS_VIEW} AS t ON u.one_id = t.one_id AND u.dt <= t.as_of"
        evs = f"events AS e JOIN {TARGETS_VIEW} AS t ON e.one_id = t.one_id AND e.dt <= t.as_of"
    else:
        raise ValueError(f"targets must be 'snapshots' or 'pairs', got {targets!r}")
    having = ("" if population_days is None else
              f"\n    HAVING min(CASE WHEN h.active OR h.orders > 0 THEN h.age END) < {p.bigint(population_days)}")
    names = ", ".join(f"'{e}'" for e in _SERVICE_EVENTS)
    nl = ",\n        "
    return f"""act AS (
    SELECT h.one_id, h.as_of,
        {nl.join(_activity_columns())}
    FROM (
        SELECT u.*, t.as_of, CAST(date_diff('day', u.dt, t.as_of) AS BIGINT) AS age
        FROM {daily} WHERE u.one_id IS NOT NULL
    ) AS h
    GROUP BY h.one_id, h.as_of{having}
), svc AS (
    SELECT h.one_id, h.as_of,
        {nl.join(_service_columns())}
    FROM (
        SELECT e.one_id, e.event, e.satisfaction, e.response_seconds, t.as_of,
               CAST(date_diff('day', e.dt, t.as_of) AS BIGINT) AS age
        FROM {evs} WHERE e.event IN ({names}) AND e.one_id IS NOT NULL
    ) AS h
    GROUP BY h.one_id, h.as_of
)
SELECT a.one_id, a.as_of,
    {nl.join(_final_columns())}
FROM act AS a LEFT JOIN svc AS s ON s.one_id = a.one_id AND s.as_of = a.as_of
ORDER BY a.as_of, a.one_id"""


def snapshots_cte(dates: Sequence[date], p: Params) -> str:
    """``snap(as_of)``: the as-of dates as bound parameters (no value is pasted into the SQL)."""
    if not dates:
        raise SiyuError("no as-of dates given", code="no_snapshots", input_name="as_of")
    if len(dates) > MAX_SNAPSHOTS:
        raise SiyuError(f"{len(dates)} as-of dates; at most {MAX_SNAPSHOTS} in one query", code="too_many_snapshots",
                        input_name="as_of")
    rows = " UNION ALL ".join(f"SELECT {p.day(d)} AS as_of" for d in sorted(set(dates)))
    return f"snap AS ({rows})"


def snapshot_features_sql(dates: Sequence[date], population_days: int | None = None) -> tuple[str, dict[str, Any]]:
    """The feature query for every person known by each of ``dates``, and its bound parameters."""
    p = Params()
    snap = snapshots_cte(dates, p)
    return f"WITH {snap}, {features_sql('snapshots', p, population_days)}", p.values


def snapshot_features(engine: Engine, dates: Sequence[date], population_days: int | None = None) -> pa.Table:
    """Features (``one_id, as_of`` then :data:`FEATURE_NAMES`) for everyone known by each as-of date.

    Reads the ``user_daily`` and ``events`` views (:func:`siyu.profile.views.register_profile_sources`).
    """
    sql, params = snapshot_features_sql(dates, population_days)
    return engine.query(sql, params)


def pair_features(engine: Engine, pairs: pa.Table) -> pa.Table:
    """Features for given (``one_id``, ``as_of``) pairs, e.g. one person scored on each day of a range.

    The pairs are registered as the view :data:`TARGETS_VIEW`; a pair whose person has no row on or before
    its date is left out.
    """
    missing = {"one_id", "as_of"} - set(pairs.column_names)
    if missing:
        raise SiyuError(f"pairs need columns one_id and as_of; missing {sorted(missing)}", code="bad_pairs",
                        input_name="pairs")
    engine.register_arrow(TARGETS_VIEW, pairs.select(["one_id", "as_of"]).cast(
        pa.schema([("one_id", pa.string()), ("as_of", pa.date32())])))
    p = Params()
    return engine.query(f"WITH {features_sql('pairs', p)}", p.values)
