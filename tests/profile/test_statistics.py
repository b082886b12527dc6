"""Statistical tags on hand-built people, checked against plain-Python references on both engines."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.core.errors import SiyuError
from siyu.profile.statistics import LABELS_ZH, STATISTICS, BadTagParams, get_statistic, statistic_sql
from siyu.warehouse.engine import Engine
from siyu.warehouse.layers.dws import BRAND_SIDE_EVENTS

AS_OF = date(2024, 6, 30)
HOSTILE = "x'); DROP TABLE orders; --"


def d(n: int) -> date:
    """``n`` days before as_of (negative: after it)."""
    return AS_OF - timedelta(days=n)


def in_window(dt: date, days: int) -> bool:
    return AS_OF - timedelta(days=days - 1) <= dt <= AS_OF


SCHEMAS = {
    "orders": pa.schema([("one_id", pa.string()), ("order_id", pa.string()), ("amount", pa.decimal128(18, 2)),
                         ("discount_amount", pa.decimal128(18, 2)), ("coupon_id", pa.string()),
                         ("paid_at", pa.timestamp("us", tz="UTC")), ("dt", pa.date32()), ("channel", pa.string()),
                         ("store_id", pa.string())]),
    "order_items": pa.schema([("order_id", pa.string()), ("line_no", pa.int64()), ("sku", pa.string()),
                              ("quantity", pa.int64()), ("price", pa.decimal128(18, 2))]),
    "products": pa.schema([("sku", pa.string()), ("name", pa.string()), ("category", pa.string()),
                           ("product_line", pa.string()), ("price", pa.float64())]),
    "content": pa.schema([("content_id", pa.string()), ("title", pa.string()), ("content_type", pa.string()),
                          ("category", pa.string())]),
    "events": pa.schema([("one_id", pa.string()), ("event", pa.string()), ("event_time", pa.timestamp("us", tz="UTC")),
                         ("dt", pa.date32()), ("event_hour", pa.int64()), ("content_id", pa.string()),
                         ("read_seconds", pa.float64()), ("category", pa.string()), ("sku", pa.string()),
                         ("properties", pa.string())]),
}


def _money(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


def order_rows(raw: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """(one_id, order_id, amount, discount, coupon_id, days before as_of) → order rows."""
    return [{"one_id": p, "order_id": o, "amount": _money(a), "discount_amount": _money(disc), "coupon_id": c,
             "paid_at": datetime(*d(n).timetuple()[:3], 3, tzinfo=UTC), "dt": d(n), "channel": "mini_program",
             "store_id": None} for p, o, a, disc, c, n in raw]


def event_rows(raw: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """(one_id, event, days before as_of, hour, content_id, read_seconds) → event rows."""
    return [{"one_id": p, "event": e, "event_time": datetime(*d(n).timetuple()[:3], tzinfo=UTC), "dt": d(n),
             "event_hour": h, "content_id": c, "read_seconds": s, "category": None, "sku": None, "properties": "{}"}
            for p, e, n, h, c, s in raw]


ORDERS = order_rows([
    ("u1", "o1", "100.00", None, None, 29), ("u1", "o2", "50.50", "10.00", "c1", 60),
    ("u2", "o3", "150.50", None, "c2", 0),  # ties u1 at 150.50
    ("u3", "o4", "1000.00", "0.00", None, 181), ("u3", "o5", "999.99", None, None, -1),  # o5: after as_of
    ("u3", "o6", "20.00", None, None, 365), ("u3", "o6b", "5.00", None, "", 364),  # just outside / first day
    ("u4", "o7", "10.00", "90.00", None, 15), ("u4", "o8", "10.00", "90.00", "c3", 14),
    ("u5", "o9", "300.00", "5.00", "c4", -2),  # only after as_of
    (None, "o10", "77.00", None, None, 3), ("u6", "o11", None, None, None, 5),
    ("u7", "o12", "0.01", None, None, 100),
    ("u8", "o13", "250.00", "50.00", None, 10), ("u8", "o14", "250.00", None, None, 11),
    ("u9", "o15", "80.00", None, "c5", 7), ("u9", "o16", "20.00", "20.00", "c6", 8),
    ("u9", "o17", "100.00", None, None, 9),
    ("u10", "o18", "60.00", None, "c7", 20), ("u10", "o19", "40.00", None, "c8", 21),
    ("u11", "o20", "300.00", None, None, 2), ("u12", "o21", "5000.00", None, None, 1),
])
Rows = list[dict[str, Any]]
ORDER_ITEMS: Rows = [{"order_id": o, "line_no": i, "sku": s, "quantity": q, "price": Decimal(p)} for o, i, s, q, p in [
    ("o1", 1, "S1", 1, "60.00"), ("o1", 2, "S2", 2, "20.00"), ("o2", 1, "S3", 1, "30.50"), ("o2", 2, "S4", 1, "20.00"),
    ("o3", 1, "S2", 1, "75.25"), ("o3", 2, "S4", 1, "75.25"),
    ("o4", 1, "S5", 1, "1000.00"), ("o5", 1, "S2", 1, "999.99"), ("o6", 1, "S2", 1, "20.00"),
    ("o6b", 1, "S1", 1, "5.00"),
    ("o7", 1, "S9", 1, "10.00"), ("o8", 1, "S2", 0, "10.00"),
    ("o13", 1, "S2", 3, "50.00"), ("o13", 2, "S3", 1, "100.00"), ("o14", 1, "S4", 2, "125.00"),
    ("o15", 1, "S1", 1, "80.00"),
]]
PRODUCTS: Rows = [{"sku": s, "name": n, "category": c, "product_line": "core", "price": 1.0} for s, n, c in [
    ("S1", "面霜", "skincare"), ("S2", "口红", "makeup"), ("S2", "口红 (dup)", "makeup"), ("S3", "精华", "skincare"),
    ("S4", "香水", "fragrance"), ("S5", "赠品", None),
]]
CONTENT: Rows = [{"content_id": c, "title": c, "content_type": t, "category": None} for c, t in [
    ("c_a1", "article"), ("c_a2", "article"), ("c_v1", "video"), ("c_v1", "video"), ("c_l1", "live"), ("c_x", None),
]]
EVENTS = event_rows([
    ("u1", "article_read", 1, 20, "c_a1", 30.5), ("u1", "video_played", 2, 21, "c_v1", 20.0),
    ("u1", "article_read", 3, 9, "c_a2", None), ("u1", "content_shared", 4, 20, None, None),
    ("u1", "comment_posted", 5, 8, None, None),
    *[("u1", "message_delivered", 1, 9, None, None)] * 3,  # brand-side: not interactions
    ("u2", "video_played", 5, 12, "c_v1", 15.0), ("u2", "live_viewed", 6, 22, "c_l1", 15.0),
    ("u2", "comment_posted", 100, 12, None, None),  # outside every window
    ("u3", "article_read", 90, 3, "c_a1", 100.0), ("u3", "article_read", -1, 3, "c_a1", 100.0),
    ("u3", "video_played", 4, 15, "c_v1", 0.4), ("u3", "group_message_sent", 4, 15, None, None),
    ("u3", "app_opened", 4, None, None, None),
    ("u4", "article_read", 7, 23, "c_x", 50.0), ("u4", "article_read", 8, 23, "c_unknown", 50.0),
    ("u4", "live_viewed", 9, 0, "c_l1", -5.0),
    ("u8", "live_viewed", 0, 7, "c_l1", 12.25), ("u8", "product_viewed", 1, 7, "c_a1", 99.0),
    ("u9", "coupon_issued", 1, 10, None, None), ("u9", "points_changed", 2, 11, None, None),
    ("u10", None, 1, 10, None, None), ("u10", "custom_event", 1, 10, None, None),
    ("u10", "custom_event", -3, 11, None, None),
    *[("u11", "group_message_sent", n, 19, None, None) for n in (0, 5, 10, 27)],  # exactly 1/week
    *[("u12", "content_shared", n, 13, None, None) for n in (*range(0, 24, 2), 28, -1)],  # 12 in window: 3/week
    (None, "article_read", 1, 20, "c_a1", 60.0),
])
WORLD = {"orders": ORDERS, "order_items": ORDER_ITEMS, "products": PRODUCTS, "content": CONTENT, "events": EVENTS}


def register(engine: Engine, **tables: list[dict[str, Any]]) -> None:
    for name, rows in tables.items():
        engine.register_arrow(name, pa.Table.from_pylist(rows, schema=SCHEMAS[name]))


def run(engine: Engine, name: str, params: dict[str, Any] | None = None) -> dict[str, tuple[str, float]]:
    sql, bound = statistic_sql(name, params, as_of=AS_OF, prefix="t_")
    table = engine.query(sql, bound)
    assert table.column_names == ["one_id", "value", "score"]
    assert all(pa.types.is_string(t) or pa.types.is_large_string(t) for t in table.schema.types[:2])
    assert pa.types.is_float64(table.schema.field("score").type)
    rows = table.to_pylist()
    assert len({r["one_id"] for r in rows}) == len(rows), "one row per person"
    return {r["one_id"]: (r["value"], r["score"]) for r in rows}


def assert_same(got: dict[str, tuple[str, float]], want: dict[str, tuple[str, float]]) -> None:
    assert {k: v for k, (v, _) in got.items()} == {k: v for k, (v, _) in want.items()}
    for k, (_, score) in want.items():
        assert got[k][1] == pytest.approx(score, rel=1e-12, abs=1e-12), k


def band(x: float, thresholds: list[float], labels: list[str], *, strict: bool = False) -> str:
    return labels[sum(1 for t in thresholds if (x > t if strict else x >= t))]


# ---- plain-Python references -------------------------------------------------------------------------------


def ref_spending(orders: list[dict[str, Any]], window_days: int = 365, method: str = "quantile",
                 cuts: tuple[float, ...] = (0.5, 0.8, 0.95),
                 labels: tuple[str, ...] = ("low", "medium", "high", "top")) -> dict[str, tuple[str, float]]:
    monetary: dict[str, Decimal] = defaultdict(Decimal)
    for o in orders:
        if o["one_id"] is not None and o["amount"] is not None and in_window(o["dt"], window_days):
            monetary[o["one_id"]] += o["amount"]
    n = len(monetary)
    out = {}
    for p, m in monetary.items():
        pct = sum(1 for v in monetary.values() if v <= m) / n
        value = band(pct, list(cuts), list(labels), strict=True) if method == "quantile" else \
            band(float(m), list(cuts), list(labels))
        out[p] = (value, pct)
    return out


def ref_price(orders: list[dict[str, Any]], min_orders: int = 2, w: tuple[float, float] = (0.5, 0.5),
              window_days: int = 365) -> dict[str, tuple[str, float]]:
    per: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for o in orders:
        if o["one_id"] is None or not in_window(o["dt"], window_days):
            continue
        disc, amount = o["discount_amount"] or Decimal(0), o["amount"] or Decimal(0)
        couponed = bool(o["coupon_id"]) or disc > 0
        per[o["one_id"]].append((int(couponed), float(disc) / float(amount + disc) if disc > 0 else 0.0))
    out = {}
    for p, rows in per.items():
        if len(rows) >= min_orders:
            share, depth = sum(c for c, _ in rows) / len(rows), sum(x for _, x in rows) / len(rows)
            score = (w[0] * share + w[1] * depth) / (w[0] + w[1])
            out[p] = (band(score, [0.2, 0.5], ["low", "medium", "high"]), score)
    return out


def ref_category(top_k: int = 1, min_share: float = 0.0) -> dict[str, tuple[str, float]]:
    category = {p["sku"]: p["category"] for p in PRODUCTS if p["category"] is not None}
    owner = {o["order_id"]: o["one_id"] for o in ORDERS if o["one_id"] is not None and in_window(o["dt"], 365)}
    spend: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for i in ORDER_ITEMS:
        if i["order_id"] in owner and i["sku"] in category:
            spend[owner[i["order_id"]]][category[i["sku"]]] += i["quantity"] * i["price"]
    out = {}
    for p, cats in spend.items():
        ranked = sorted(((-v, c) for c, v in cats.items() if v > 0))
        if ranked:
            total = sum(-v for v, _ in ranked)
            share = float(sum(-v for v, _ in ranked[:top_k])) / float(total)
            if share >= min_share:
                out[p] = (",".join(c for _, c in ranked[:top_k]), share)
    return out


def ref_content(min_seconds: float = 1.0) -> dict[str, tuple[str, float]]:
    ctype = {c["content_id"]: c["content_type"] for c in CONTENT if c["content_type"] is not None}
    secs: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for e in EVENTS:
        if (e["one_id"] and e["event"] in ("article_read", "video_played", "live_viewed")
                and e["content_id"] in ctype and in_window(e["dt"], 90)):
            s = e["read_seconds"] if e["read_seconds"] and e["read_seconds"] > 0 else 0
            secs[e["one_id"]][ctype[e["content_id"]]] += Decimal(str(s))
    out = {}
    for p, types in secs.items():
        total = sum(types.values())
        top_secs, top = min((-v, t) for t, v in types.items())
        if total > 0 and float(total) >= min_seconds:
            out[p] = (top, float(-top_secs) / float(total))
    return out


def interactions(window_days: int = 90) -> list[dict[str, Any]]:
    return [e for e in EVENTS if e["one_id"] and e["event"] and e["event"] not in BRAND_SIDE_EVENTS
            and e["event_hour"] is not None and in_window(e["dt"], window_days)]


SLOTS = [("night", 0, 5), ("morning", 6, 10), ("noon", 11, 13), ("afternoon", 14, 17), ("evening", 18, 21),
         ("late_night", 22, 23)]


def ref_hours(slots: list[tuple[str, int, int]] | None = None, peak: bool = False) -> dict[str, tuple[str, float]]:
    def slot_of(h: int) -> int | None:
        for i, (_, a, b) in enumerate(slots or SLOTS):
            if (a <= h <= b) if a <= b else (h >= a or h <= b):
                return i
        return None

    per: dict[str, Counter[int | None]] = defaultdict(Counter)
    for e in interactions():
        per[e["one_id"]][e["event_hour"] if peak else slot_of(e["event_hour"])] += 1
    out = {}
    for p, counts in per.items():
        total = sum(counts.values())
        ranked = sorted((-n, k) for k, n in counts.items() if k is not None)
        if ranked:
            n, k = ranked[0]
            out[p] = (str(k) if peak else (slots or SLOTS)[k][0], -n / total)
    return out


def ref_depth(events: list[dict[str, Any]], window_days: int = 28, thresholds: tuple[float, float] = (1.0, 3.0),
              kinds: tuple[str, ...] = ("content_shared", "group_message_sent", "comment_posted"),
              labels: tuple[str, ...] = ("shallow", "medium", "deep")) -> dict[str, tuple[str, float]]:
    counts = Counter(e["one_id"] for e in events
                     if e["one_id"] and e["event"] in kinds and in_window(e["dt"], window_days))
    return {p: (band(n / (window_days / 7), list(thresholds), list(labels)), n / (window_days / 7))
            for p, n in counts.items()}


# ---- each statistic on the hand-built world, both engines ---------------------------------------------------


def test_spending_capacity_bands_buyers_by_percentile(engine: Engine) -> None:
    register(engine, orders=ORDERS)
    got = run(engine, "spending_capacity")
    # 10 buyers in the window (u5 bought only after as_of, u6's amount is unknown, o10 has no person).
    assert got == {"u7": ("low", 0.1), "u4": ("low", 0.2), "u10": ("low", 0.3), "u1": ("low", 0.5),
                   "u2": ("low", 0.5), "u9": ("medium", 0.6), "u11": ("medium", 0.7), "u8": ("medium", 0.8),
                   "u3": ("high", 0.9), "u12": ("top", 1.0)}
    assert got == ref_spending(ORDERS)
    fixed = run(engine, "spending_capacity", {"method": "fixed", "thresholds": [100, 500, 1000]})
    assert fixed == ref_spending(ORDERS, method="fixed", cuts=(100, 500, 1000))
    assert {p: v for p, (v, _) in fixed.items() if v != "low"} == {
        "u10": "medium", "u1": "medium", "u2": "medium", "u9": "medium", "u11": "medium", "u8": "high",
        "u3": "top", "u12": "top"}


def test_price_sensitivity_mixes_coupon_share_and_discount_depth(engine: Engine) -> None:
    register(engine, orders=ORDERS)
    got = run(engine, "price_sensitivity")
    assert_same(got, ref_price(ORDERS))
    # u4: both orders 90% off → 0.5·1 + 0.5·0.9; u10: coupons without discount → exactly 0.5, which is high.
    assert got["u4"] == ("high", pytest.approx(0.95)) and got["u10"] == ("high", 0.5)
    assert got["u3"] == ("low", 0.0)  # a 0.00 discount and an empty coupon id are not coupons
    assert {"u2", "u5", "u6", "u7", "u11", "u12"}.isdisjoint(got)  # fewer than 2 orders in the window
    weighted = run(engine, "price_sensitivity", {"w_coupon": 3, "w_depth": 1, "min_orders": 3})
    assert_same(weighted, ref_price(ORDERS, min_orders=3, w=(3, 1)))
    assert set(weighted) == {"u9"}


@pytest.mark.parametrize(("top_k", "min_share"), [(1, 0.0), (2, 0.0), (3, 0.55)])
def test_category_preference_by_spend_share(engine: Engine, top_k: int, min_share: float) -> None:
    register(engine, orders=ORDERS, order_items=ORDER_ITEMS, products=PRODUCTS)
    got = run(engine, "category_preference", {"top_k": top_k, "min_share": min_share})
    assert_same(got, ref_category(top_k, min_share))
    if top_k == 1:  # u2 ties makeup/fragrance → by name; u4 has only a zero-quantity line and an unknown sku
        assert got["u2"] == ("fragrance", 0.5) and got["u3"] == ("skincare", 1.0) and "u4" not in got
        assert got["u1"] == ("skincare", pytest.approx(90.5 / 150.5))  # the duplicate S2 product is not double
    if top_k == 2:
        assert got["u8"] == ("fragrance,makeup", pytest.approx(0.8))


def test_content_preference_by_read_time(engine: Engine) -> None:
    register(engine, events=EVENTS, content=CONTENT)
    got = run(engine, "content_preference")
    assert got == {"u1": ("article", pytest.approx(30.5 / 50.5)), "u2": ("live", 0.5), "u8": ("live", 1.0)}
    assert_same(got, ref_content())
    assert_same(run(engine, "content_preference", {"min_seconds": 0.1}), ref_content(0.1))  # u3's 0.4 s counts


def test_active_hours_and_peak_hour(engine: Engine) -> None:
    register(engine, events=EVENTS)
    slots = run(engine, "active_hours")
    assert slots == {"u1": ("evening", 0.6), "u2": ("noon", 0.5), "u3": ("afternoon", 1.0),
                     "u4": ("late_night", pytest.approx(2 / 3)), "u8": ("morning", 1.0), "u10": ("morning", 1.0),
                     "u11": ("evening", 1.0), "u12": ("noon", 1.0)}
    assert_same(slots, ref_hours())
    peak = run(engine, "peak_hour")
    assert peak["u1"] == ("20", 0.4) and peak["u2"] == ("12", 0.5)  # a tie goes to the earliest hour
    assert_same(peak, ref_hours(peak=True))
    custom = [("day", 8, 19), ("night", 20, 7)]  # wraps midnight; listed order breaks ties
    got = run(engine, "active_hours", {"slots": [{"name": n, "start": a, "end": b} for n, a, b in custom],
                                       "min_interactions": 2})
    assert_same(got, {p: v for p, v in ref_hours(custom).items() if p != "u10"})  # u10: 1 interaction < 2
    assert got["u2"] == ("day", 0.5) and got["u8"] == ("night", 1.0)


def test_interaction_depth_per_week(engine: Engine) -> None:
    register(engine, events=EVENTS)
    got = run(engine, "interaction_depth")
    assert got == {"u1": ("shallow", 0.5), "u3": ("shallow", 0.25), "u11": ("medium", 1.0), "u12": ("deep", 3.0)}
    assert_same(got, ref_depth(EVENTS))


def test_all_statistics_union_into_one_query(engine: Engine) -> None:
    register(engine, **WORLD)
    parts, params = [], dict[str, Any]()
    for i, name in enumerate(sorted(STATISTICS)):
        sql, bound = statistic_sql(name, None, as_of=AS_OF, prefix=f"s{i}_")
        assert all(k.startswith(f"s{i}_") for k in bound)
        params |= bound
        parts.append(f"SELECT '{name}' AS statistic, q.* FROM ({sql}) AS q")
    rows = engine.query(" UNION ALL ".join(parts), params).to_pylist()
    got: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)
    for r in rows:
        got[r["statistic"]][r["one_id"]] = (r["value"], r["score"])
    want = {"spending_capacity": ref_spending(ORDERS), "price_sensitivity": ref_price(ORDERS),
            "category_preference": ref_category(), "content_preference": ref_content(),
            "active_hours": ref_hours(), "peak_hour": ref_hours(peak=True), "interaction_depth": ref_depth(EVENTS)}
    assert set(got) == set(want)
    for name, expected in want.items():
        assert_same(got[name], expected)


# ---- random data against the references -------------------------------------------------------------------

PEOPLE = st.sampled_from(["a", "b", "c", "d", "e", "f", None])
HS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _examples(engine: Engine) -> int:
    return 60 if engine.name == "duckdb" else 8


def test_spending_capacity_matches_reference_on_random_data(engine: Engine) -> None:
    amounts = st.one_of(st.none(), st.sampled_from(["0.00", "9.99", "100.00"]),
                        st.integers(0, 99_999).map(lambda c: f"{c // 100}.{c % 100:02d}"))
    order = st.tuples(PEOPLE, amounts, st.one_of(st.integers(-5, 30), st.integers(-5, 400)))
    cuts = st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.6, 0.75, 0.8, 0.9, 0.95]), min_size=1, max_size=4,
                    unique=True).map(sorted)

    @settings(HS, max_examples=_examples(engine))
    @given(raw=st.lists(order, min_size=3, max_size=40), window=st.one_of(st.integers(1, 40), st.integers(1, 400)),
           cuts=cuts, fixed=st.booleans())
    def check(raw: list[tuple[Any, ...]], window: int, cuts: list[float], fixed: bool) -> None:
        orders = order_rows([(p, f"o{i}", a, None, None, n) for i, (p, a, n) in enumerate(raw)])
        register(engine, orders=orders)
        labels = tuple(f"b{i}" for i in range(len(cuts) + 1))
        thresholds = [c * 1000 for c in cuts]
        params: dict[str, Any] = {"window_days": window, "labels": labels}
        params |= {"method": "fixed", "thresholds": thresholds} if fixed else {"quantiles": cuts}
        want = ref_spending(orders, window, "fixed" if fixed else "quantile", tuple(thresholds if fixed else cuts),
                            labels)
        assert run(engine, "spending_capacity", params) == want

    check()


def test_interaction_depth_matches_reference_on_random_data(engine: Engine) -> None:
    kinds = st.sampled_from(["content_shared", "group_message_sent", "comment_posted", "article_read",
                             "message_delivered", None])
    event = st.tuples(PEOPLE, kinds, st.one_of(st.integers(-3, 10), st.integers(-3, 70)))
    thresholds = st.tuples(st.sampled_from([0.25, 0.5, 1.0, 1.75]), st.sampled_from([2.0, 3.0, 7.0]))

    @settings(HS, max_examples=_examples(engine))
    @given(raw=st.lists(event, min_size=3, max_size=60), window=st.integers(1, 60), thresholds=thresholds)
    def check(raw: list[tuple[Any, ...]], window: int, thresholds: tuple[float, float]) -> None:
        events = event_rows([(p, e, n, 12, None, None) for p, e, n in raw])
        register(engine, events=events)
        got = run(engine, "interaction_depth", {"window_days": window, "thresholds": thresholds})
        assert_same(got, ref_depth(events, window, thresholds))

    check()


# ---- safety: params are bound, never SQL text; bad params fail closed ---------------------------------------


def test_hostile_values_only_travel_as_bound_params() -> None:
    cases: dict[str, dict[str, Any]] = {
        "spending_capacity": {"labels": ["low", "medium", "high", HOSTILE]},
        "price_sensitivity": {"labels": [HOSTILE, "medium", "high"]},
        "interaction_depth": {"events": [HOSTILE, "content_shared"], "labels": ["a", "b", HOSTILE]},
        "content_preference": {"events": [HOSTILE]},
        "active_hours": {"slots": [{"name": HOSTILE, "start": 0, "end": 23}]},
    }
    for name, params in cases.items():
        sql, bound = statistic_sql(name, params, as_of=AS_OF, prefix="h_")
        assert HOSTILE not in sql and "DROP" not in sql
        assert HOSTILE in bound.values()


def test_hostile_label_is_data(engine: Engine) -> None:
    register(engine, events=EVENTS)
    got = run(engine, "active_hours", {"slots": [{"name": HOSTILE, "start": 0, "end": 23}]})
    assert {v for v, _ in got.values()} == {HOSTILE}
    register(engine, orders=ORDERS)
    assert len(run(engine, "spending_capacity", {"labels": ["a", "b", "c", HOSTILE]})) == 10  # orders still there


@pytest.mark.parametrize(("name", "shape_a", "shape_b"), [
    ("spending_capacity", {"window_days": 30}, {"window_days": 365, "quantiles": [0.1, 0.2, 0.3]}),
    ("category_preference", {"top_k": 1}, {"top_k": 7, "min_share": 0.5}),
    ("peak_hour", {}, {"window_days": 7, "min_interactions": 9}),
    ("interaction_depth", {}, {"window_days": 14, "thresholds": [2, 5], "events": ["a", "b", "c"]}),
])
def test_sql_text_does_not_depend_on_param_values(name: str, shape_a: dict[str, Any],
                                                   shape_b: dict[str, Any]) -> None:
    assert statistic_sql(name, shape_a, as_of=AS_OF, prefix="p_")[0] == \
        statistic_sql(name, shape_b, as_of=date(2020, 1, 1), prefix="p_")[0]


@pytest.mark.parametrize(("name", "params", "field"), [
    ("spending_capacity", {"window_days": 0}, "window_days"),
    ("spending_capacity", {"window_day": 30}, "window_day"),
    ("spending_capacity", {"quantiles": [0.8, 0.5, 0.95]}, "quantiles"),
    ("spending_capacity", {"quantiles": [0.5, 1.5, 2.0]}, "quantiles"),
    ("spending_capacity", {"labels": ["a", "b"]}, "labels"),
    ("spending_capacity", {"method": "fixed"}, "thresholds"),
    ("spending_capacity", {"method": "median"}, "method"),
    ("price_sensitivity", {"w_coupon": -1}, "w_coupon"),
    ("price_sensitivity", {"w_coupon": 0, "w_depth": 0}, "w_coupon"),
    ("price_sensitivity", {"labels": ["x", "x", "y"]}, "labels"),
    ("category_preference", {"top_k": 0}, "top_k"),
    ("category_preference", {"min_share": 1.5}, "min_share"),
    ("content_preference", {"events": []}, "events"),
    ("active_hours", {"slots": [{"name": "a", "start": 0, "end": 5}, {"name": "b", "start": 5, "end": 9}]}, "slots"),
    ("active_hours", {"slots": [{"name": "a", "start": 0, "end": 24}]}, "slots.0.end"),
    ("peak_hour", {"min_interactions": "many"}, "min_interactions"),
    ("interaction_depth", {"events": ["content_shared", "coupon_issued"]}, "events"),
    ("interaction_depth", {"thresholds": [3, 1]}, "thresholds"),
    ("interaction_depth", ["window_days"], "params"),
])
def test_bad_params_raise_bad_tag_params(name: str, params: Any, field: str) -> None:
    with pytest.raises(BadTagParams) as info:
        statistic_sql(name, params, as_of=AS_OF, prefix="p_")
    assert info.value.code == "bad_tag_params" and info.value.input_name == field
    assert field.split(".")[0] in str(info.value)


def test_registry_and_labels() -> None:
    assert set(STATISTICS) == {"spending_capacity", "price_sensitivity", "category_preference", "active_hours",
                               "peak_hour", "content_preference", "interaction_depth"}
    for name, cls in STATISTICS.items():
        assert get_statistic(name) is cls and cls.lookup_name == name and cls.__doc__ and cls.name_zh
        assert LABELS_ZH[name] is cls.labels_zh
    assert LABELS_ZH["spending_capacity"]["top"] == "顶级" and LABELS_ZH["active_hours"]["night"] == "凌晨"
    with pytest.raises(SiyuError) as info:
        get_statistic("nope")
    assert info.value.code == "unknown_statistic"
    with pytest.raises(SiyuError) as bad_prefix:
        statistic_sql("peak_hour", None, as_of=AS_OF, prefix="x; --")
    assert bad_prefix.value.code == "invalid_identifier"
