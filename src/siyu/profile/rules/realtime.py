"""Real-time segments (实时人群): keep memberships current as events arrive, without any engine.

A :class:`SegmentWatcher` holds checked rules. For each incoming event it appends the event to the
person's :class:`PersonState`, drops what no rule can see any more, and re-evaluates only the segments
that can have changed: those reading that event (or orders, for ``order_paid``), plus those with a
``last Nd`` window when the day has changed since the person was last evaluated. The result always
equals :func:`evaluate_rule` over the person's full history on ``now.date()``.

Rules reading batch-only fields (RFM, lifecycle, tier…) cannot be kept current this way; they are
listed in :attr:`SegmentWatcher.not_incremental` with the reason and never evaluated here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from siyu.profile.rules.analysis import incremental_support, leaves
from siyu.profile.rules.ast import DateRange, EventRule, LastDays, OrderRule, Rule, SequenceRule, Window
from siyu.profile.rules.check import check_rule
from siyu.profile.rules.errors import RuleError
from siyu.profile.rules.evaluator import Evaluator, PersonData, cast_property, naive_local, properties_of
from siyu.profile.rules.schema import DEFAULT_SCHEMA, RuleSchema

ORDER_EVENT = "order_paid"


@dataclass
class PersonState(PersonData):
    """A person's fields and tags, the events and orders the watched rules still need, and memberships."""

    segments: set[str] = field(default_factory=set)
    as_of: date | None = None


@dataclass(frozen=True)
class Changes:
    """Segments the person entered and left on one event (names sorted)."""

    entered: list[str]
    left: list[str]


@dataclass
class _Horizon:
    """Which rows some rule can still see: the last N days (relative), fixed date ranges, or everything."""

    forever: bool = False
    last_days: int = 0
    ranges: list[tuple[date, date]] = field(default_factory=list)

    def need(self, window: Window | None, extra_days: int = 0) -> None:
        if window is None:
            self.forever = True
        elif isinstance(window, LastDays):
            self.last_days = max(self.last_days, window.days)
        else:
            assert isinstance(window, DateRange)
            self.ranges.append((window.start, window.end + timedelta(days=extra_days)))

    def visible(self, row: Mapping[str, Any], as_of: date) -> bool:
        """Whether a row can matter from ``as_of`` on (``as_of`` never goes back)."""
        return self.keep(as_of)(row)

    def keep(self, as_of: date) -> Callable[[Mapping[str, Any]], bool]:
        """``visible`` for one ``as_of``, with the cutoff worked out once."""
        if self.forever:
            return lambda row: True
        cutoff = as_of - timedelta(days=self.last_days - 1) if self.last_days else None
        ranges = self.ranges

        def keep(row: Mapping[str, Any]) -> bool:
            d = row.get("dt")
            if not isinstance(d, date):
                return False
            return (cutoff is not None and d >= cutoff) or any(lo <= d <= hi for lo, hi in ranges)

        return keep


class SegmentWatcher:
    """Keeps segment memberships current from events (``on_event``) for the incremental rules."""

    def __init__(self, rules: Mapping[str, Rule], schema: RuleSchema = DEFAULT_SCHEMA) -> None:
        self.schema = schema
        self.rules: dict[str, Rule] = {}
        self.not_incremental: dict[str, str] = {}
        self.by_event: dict[str, set[str]] = {}
        self.reads_orders: set[str] = set()
        self.timed: set[str] = set()
        self.event_horizon: dict[str, _Horizon] = {}
        self.inputs: dict[str, set[str]] = {}
        self.order_horizon: _Horizon | None = None
        raw = dict(rules)
        self._lookup = raw.get
        for name, rule in raw.items():
            try:
                checked = check_rule(rule, schema)
                ok, reason = incremental_support(checked, schema, self._lookup)
                parts = list(leaves(checked, self._lookup, schema)) if ok else []
            except RuleError as exc:
                ok, reason = False, f"{exc.code}: {exc.reason}"
            if not ok:
                self.not_incremental[name] = reason
                continue
            self.rules[name] = checked
            for leaf in parts:
                self._index(name, leaf)

    def _index(self, segment: str, leaf: Rule) -> None:
        windows: list[Window | None] = []
        inputs = self.inputs.setdefault(segment, set())
        if isinstance(leaf, EventRule):
            inputs.add(leaf.event)
            self.by_event.setdefault(leaf.event, set()).add(segment)
            self.event_horizon.setdefault(leaf.event, _Horizon()).need(leaf.window)
            windows.append(leaf.window)
        elif isinstance(leaf, SequenceRule):
            # The second step is on the first's day or up to `within` later.
            extra = -(-leaf.within.seconds // 86_400)
            for event, days in ((leaf.first, 0), (leaf.then, extra)):
                inputs.add(event)
                self.by_event.setdefault(event, set()).add(segment)
                self.event_horizon.setdefault(event, _Horizon()).need(leaf.window, days)
            windows.append(leaf.window)
        elif isinstance(leaf, OrderRule):
            self.reads_orders.add(segment)
            self.order_horizon = self.order_horizon or _Horizon()
            self.order_horizon.need(leaf.window)
            windows.append(leaf.window)
        if any(isinstance(w, LastDays) for w in windows):
            self.timed.add(segment)

    def on_event(self, state: PersonState, event: Mapping[str, Any], now: datetime) -> Changes:
        """Record ``event`` for ``state``'s person and return the segments entered and left."""
        today = naive_local(now).date()
        as_of = today if state.as_of is None else max(today, state.as_of)  # windows never slide back
        row = _normalise(event, self.schema)
        name = row.get("event")
        due = set(self.by_event.get(name, ())) if isinstance(name, str) else set()
        horizon = self.event_horizon.get(name) if isinstance(name, str) else None
        if horizon is not None and horizon.visible(row, as_of):
            state.events.append(row)
        if name == ORDER_EVENT and self.order_horizon is not None and _add_order(state, row, self.schema):
            due |= self.reads_orders
        if state.as_of is None:
            due = set(self.rules)  # first sight of this person: place them in every segment
            self.prune(state, as_of)
        elif as_of != state.as_of:
            due |= self._timed_with_data(state)  # before pruning: what slides out of a window counts
            self.prune(state, as_of)  # what is visible only changes when the day does
        state.as_of = as_of
        return self._evaluate(state, due, as_of)

    def _timed_with_data(self, state: PersonState) -> set[str]:
        """Segments with a sliding window that has anything to slide over (over nothing, nothing changes).

        The new event is already in ``state``; segments reading it are due anyway.
        """
        names = {e.get("event") for e in state.events}
        return {s for s in self.timed
                if not self.inputs[s].isdisjoint(names) or (s in self.reads_orders and state.orders)}

    def refresh(self, state: PersonState, now: datetime) -> Changes:
        """Re-evaluate every incremental segment (after fields or tags changed, or on a daily sweep)."""
        today = naive_local(now).date()
        state.as_of = today if state.as_of is None else max(today, state.as_of)
        self.prune(state, state.as_of)
        return self._evaluate(state, set(self.rules), state.as_of)

    def prune(self, state: PersonState, as_of: date) -> None:
        """Drop events and orders no watched rule can see from ``as_of`` on."""
        keep = {name: h.keep(as_of) for name, h in self.event_horizon.items()}
        state.events[:] = [e for e in state.events if (k := keep.get(str(e.get("event")))) is not None and k(e)]
        orders = self.order_horizon.keep(as_of) if self.order_horizon is not None else None
        state.orders[:] = [] if orders is None else [o for o in state.orders if orders(o)]

    def _evaluate(self, state: PersonState, due: set[str], as_of: date) -> Changes:
        ev = Evaluator(self.schema, as_of, self._lookup)
        entered, left = [], []
        for name in sorted(due):
            now_in = ev.test(self.rules[name], state)
            if now_in and name not in state.segments:
                state.segments.add(name)
                entered.append(name)
            elif not now_in and name in state.segments:
                state.segments.discard(name)
                left.append(name)
        return Changes(entered, left)


def _normalise(event: Mapping[str, Any], schema: RuleSchema) -> dict[str, Any]:
    """A copy with parsed ``properties``, the typed property columns filled from them (as the warehouse
    does) and ``dt`` (the event time's day when not given)."""
    row = dict(event)
    props = row["properties"] = dict(properties_of(event))
    for name, type_ in schema.event_properties.items():
        if name not in row:
            row[name] = cast_property(props.get(name), type_)
    t = row.get("event_time")
    if isinstance(t, datetime):
        t = row["event_time"] = naive_local(t)
    if isinstance(row.get("dt"), str):
        row["dt"] = date.fromisoformat(row["dt"])
    elif "dt" not in row:
        row["dt"] = t.date() if isinstance(t, datetime) else None
    return row


def _add_order(state: PersonState, row: dict[str, Any], schema: RuleSchema) -> bool:
    """The order an ``order_paid`` event stands for (unless the order id was seen already)."""
    order = {name: row[name] if name in row else cast_property(row["properties"].get(name), type_)
             for name, type_ in schema.order_columns.items()}
    order_id = order.get("order_id")
    if order_id is not None and any(o.get("order_id") == order_id for o in state.orders):
        return False
    order.update(paid_at=row.get("event_time"), dt=row.get("dt"))
    state.orders.append(order)
    return True
