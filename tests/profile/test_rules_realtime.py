"""Real-time segments: enter/leave as events arrive, always equal to evaluate_rule over the full history."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.profile.rules import PersonData, PersonState, SegmentWatcher, evaluate_rule, parse_rule

RULES = {
    "sports_fans": parse_rule('count(product_viewed where category = "sports", last 7d) >= 2'),
    "cart_abandoners": parse_rule("did(cart_added, last 1d) and not sequence(cart_added, order_paid, within 24h, "
                                  "last 1d)"),
    "big_spenders": parse_rule("order_sum(last 30d) >= 100"),
    "never_bought": parse_rule("order_count() = 0"),
    "vip_spenders": parse_rule('in_segment("big_spenders") and has_tag("vip")'),
    "in_jan": parse_rule("did(article_read, between 2026-01-01 and 2026-01-31)"),
    "rfm_lost": parse_rule('rfm_class = "重要挽留" and did(order_paid)'),
    "broken": parse_rule('in_segment("nope")'),
}


def event(name: str, t: datetime, **props: Any) -> dict[str, Any]:
    return {"event": name, "event_time": t, "properties": props}


def history_person(state: PersonState, seen: list[dict[str, Any]]) -> PersonData:
    """The person with every event ever seen (nothing pruned), and orders from order_paid events."""
    events = [{**e, "dt": e["event_time"].date()} for e in seen]
    orders: dict[Any, dict[str, Any]] = {}
    for e in events:  # one order per order id, as the warehouse keeps
        if e["event"] == "order_paid":
            orders.setdefault(e["properties"].get("order_id"), {
                "order_id": e["properties"].get("order_id"), "amount": e["properties"].get("amount"),
                "paid_at": e["event_time"], "dt": e["event_time"].date()})
    return PersonData(state.one_id, state.fields, state.tags, events, list(orders.values()))


def assert_matches_full_history(watcher: SegmentWatcher, state: PersonState, seen: list[dict[str, Any]],
                                now: datetime) -> None:
    full = history_person(state, seen)
    for name, rule in watcher.rules.items():
        expected = evaluate_rule(rule, full, as_of=now.date(), segment_rule=RULES.get)
        assert (name in state.segments) == expected, (name, now)


def test_watcher_reports_entering_and_leaving() -> None:
    watcher = SegmentWatcher(RULES)
    assert set(watcher.not_incremental) == {"rfm_lost", "broken"}
    assert "rfm_class" in watcher.not_incremental["rfm_lost"]
    assert "unknown segment" in watcher.not_incremental["broken"]

    state = PersonState("u1", tags={"vip": "true"})
    t0 = datetime(2026, 3, 1, 9, 0)
    steps = [
        (event("mp_page_viewed", t0, page="home"), ["never_bought"], []),  # first sight: placed everywhere
        (event("product_viewed", t0 + timedelta(hours=1), category="sports"), [], []),
        (event("product_viewed", t0 + timedelta(hours=2), category="beauty"), [], []),
        (event("product_viewed", t0 + timedelta(hours=3), category="sports"), ["sports_fans"], []),
        (event("cart_added", t0 + timedelta(hours=4), sku="s1"), ["cart_abandoners"], []),
        (event("order_paid", t0 + timedelta(hours=5), order_id="o1", amount=Decimal("120.00")),
         ["big_spenders", "vip_spenders"], ["cart_abandoners", "never_bought"]),
        (event("order_paid", t0 + timedelta(hours=6), order_id="o1", amount=Decimal("120.00")), [], []),  # dup
        (event("article_read", t0 + timedelta(days=8), read_seconds=30), [], ["sports_fans"]),  # window slid
        (event("cart_added", t0 + timedelta(days=8, hours=1), sku="s2"), ["cart_abandoners"], []),
        (event("mp_page_viewed", t0 + timedelta(days=40)), [], ["big_spenders", "cart_abandoners", "vip_spenders"]),
    ]
    seen: list[dict[str, Any]] = []
    for ev, entered, left in steps:
        now = ev["event_time"]
        changes = watcher.on_event(state, ev, now)
        seen.append(ev)
        assert (changes.entered, changes.left) == (sorted(entered), sorted(left)), ev
        assert_matches_full_history(watcher, state, seen, now)

    # Only what some rule can still see is retained: no rule reads page views, the article was read outside
    # January, and every other window has slid past; but order_count() = 0 needs every order, forever.
    assert state.events == []
    assert [o["order_id"] for o in state.orders] == ["o1"]


def test_unknown_events_touch_no_segment() -> None:
    watcher = SegmentWatcher(RULES)
    state = PersonState("u2")
    now = datetime(2026, 3, 1, 9)
    assert watcher.on_event(state, event("x", now), now).entered == ["never_bought"]
    changes = watcher.on_event(state, event("y", now), now)
    assert (changes.entered, changes.left, state.events) == ([], [], [])


def test_refresh_after_a_tag_change() -> None:
    watcher = SegmentWatcher(RULES)
    state = PersonState("u3")
    now = datetime(2026, 3, 1, 9)
    watcher.on_event(state, event("order_paid", now, order_id="o", amount=Decimal("500")), now)
    assert "vip_spenders" not in state.segments
    state.tags["vip"] = "true"
    assert watcher.refresh(state, now).entered == ["vip_spenders"]


EVENT_NAMES = ["product_viewed", "cart_added", "order_paid", "article_read", "other"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(EVENT_NAMES), st.integers(0, 60 * 24 * 3), st.sampled_from(["sports", "x"]),
                          st.sampled_from([Decimal("10.00"), Decimal("95.50")])), max_size=25))
def test_always_equals_evaluation_of_the_full_history(steps: list[tuple[str, int, str, Decimal]]) -> None:
    watcher = SegmentWatcher(RULES)
    state = PersonState("u", tags={"vip": "true"})
    t = datetime(2026, 1, 25)
    seen: list[dict[str, Any]] = []
    for i, (name, gap_minutes, category, amount) in enumerate(steps):
        t += timedelta(minutes=gap_minutes)
        ev = event(name, t, category=category, order_id=f"o{i}", amount=amount)
        watcher.on_event(state, ev, t)
        seen.append(ev)
        assert_matches_full_history(watcher, state, seen, t)
