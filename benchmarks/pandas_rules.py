"""Rule tags in plain pandas: each rule of the parsed tree becomes a boolean mask over the profile rows.

Event and order conditions are filters over the person-keyed frames followed by a per-person count,
sum, min or max (``np.bincount`` / ``groupby``), compared with the threshold; sequences use
``pd.merge_asof`` (for each first step, the next second step strictly later). People are integer row
positions (``pid``) of :class:`benchmarks.pandas_tags.Inputs`; the first ``n`` are the ``profile`` rows,
the only people a rule can select. The semantics are the rule language's (docs/segments.md): a
comparison with a missing value is false; nobody's events count 0 and sum to 0; avg/min/max of
nothing compare false. Only the rule shapes :mod:`benchmarks.tag_set` emits are supported.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from siyu.profile.rules.ast import (
    And,
    Condition,
    EventAgg,
    EventRule,
    FieldRule,
    HasTag,
    LastDays,
    Not,
    Op,
    Or,
    OrderAgg,
    OrderRule,
    Rule,
    SequenceRule,
    TagRule,
    Window,
)
from siyu.profile.rules.schema import DEFAULT_SCHEMA, FieldType

if TYPE_CHECKING:
    from benchmarks.pandas_tags import Inputs

OPS: dict[Op, Callable[[Any, Any], Any]] = {Op.EQ: operator.eq, Op.NE: operator.ne, Op.LT: operator.lt,
                                            Op.LE: operator.le, Op.GT: operator.gt, Op.GE: operator.ge}
#: Decimal columns are held as cents (float64, exact below 2**53), so rule values are scaled to match.
MONEY = frozenset({"amount", "discount_amount", "monetary", "spend_to_next_tier"})


def window_bounds(window: Window | None, as_of: date) -> tuple[date, date] | None:
    if window is None:
        return None
    if isinstance(window, LastDays):
        return as_of - timedelta(days=window.days - 1), as_of
    return window.start, window.end


def in_window(dt: pd.Series, bounds: tuple[date, date] | None) -> np.ndarray:
    """Rows whose day is within the bounds, both ends included (every row without a window)."""
    if bounds is None:
        return np.ones(len(dt), dtype=bool)
    return ((dt >= np.datetime64(bounds[0])) & (dt <= np.datetime64(bounds[1]))).to_numpy()


def _scalar(value: Any, money: bool) -> Any:
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return float(value * 100) if money else float(value)
    return value


def compare(s: pd.Series | np.ndarray, op: Op, operand: Any, money: bool = False) -> np.ndarray:
    """``s op operand`` with two-valued NULLs: anything compared with a missing value is false."""
    s = pd.Series(s) if isinstance(s, np.ndarray) else s
    present = s.notna().to_numpy()
    if op is Op.IS_NULL:
        return ~present
    if op is Op.IS_NOT_NULL:
        return present
    if op is Op.CONTAINS:
        return s.astype(object).str.contains(str(operand), regex=False).fillna(False).to_numpy(dtype=bool)
    if op in (Op.IN, Op.NOT_IN):
        hit = s.isin([_scalar(v, money) for v in operand]).to_numpy()
        return present & (hit if op is Op.IN else ~hit)
    if op is Op.BETWEEN:
        lo, hi = (_scalar(v, money) for v in operand)
        return present & ((s >= lo) & (s <= hi)).to_numpy(dtype=bool)
    if isinstance(s.dtype, pd.CategoricalDtype) and op not in (Op.EQ, Op.NE):
        s = s.astype(object)
    result = OPS[op](s, _scalar(operand, money))
    return present & np.asarray(result, dtype=bool)


class RuleMasks:
    """Evaluates rules to masks over the ``n`` profile rows; ``tags`` holds already built tags by name."""

    def __init__(self, inputs: Inputs, tags: dict[str, pd.DataFrame]) -> None:
        self.x, self.tags, self.n = inputs, tags, inputs.n
        self._by_event: dict[str, pd.DataFrame] = {}

    def mask(self, rule: Rule) -> np.ndarray:
        if isinstance(rule, And):
            return np.logical_and.reduce([self.mask(r) for r in rule.items])
        if isinstance(rule, Or):
            return np.logical_or.reduce([self.mask(r) for r in rule.items])
        if isinstance(rule, Not):
            return ~self.mask(rule.item)
        if isinstance(rule, FieldRule):
            return compare(self.x.profile[rule.field], rule.op, rule.value, rule.field in MONEY)
        if isinstance(rule, HasTag | TagRule):
            return self.tag(rule)
        if isinstance(rule, EventRule):
            return self.event(rule)
        if isinstance(rule, OrderRule):
            return self.orders(rule)
        if isinstance(rule, SequenceRule):
            return self.sequence(rule)
        raise NotImplementedError(f"the pandas baseline does not evaluate {type(rule).__name__}")

    # -- helpers ----------------------------------------------------------------------------------
    def events_named(self, name: str) -> pd.DataFrame:
        """The events of one name (the frame with parsed JSON properties when a rule needs them)."""
        if name not in self._by_event:
            json_frame = self.x.json_events.get(name)
            ev = self.x.events
            self._by_event[name] = json_frame if json_frame is not None else ev[ev["event"] == name]
        return self._by_event[name]

    def per_person(self, pids: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Count (or sum of ``weights``) per profile row; people outside the profile are dropped."""
        keep = (pids >= 0) & (pids < self.n)
        w = None if weights is None else np.nan_to_num(weights[keep])
        return np.bincount(pids[keep], weights=w, minlength=self.n)[: self.n]

    def where(self, frame: pd.DataFrame, conds: tuple[Condition, ...], columns: dict[str, FieldType]) -> np.ndarray:
        keep = np.ones(len(frame), dtype=bool)
        for c in conds:
            if c.property in columns:
                keep &= compare(frame[c.property], c.op, c.value, c.property in MONEY)
                continue
            text = frame[f"json.{c.property}"]  # JSON property: compared as text, number or true/false
            first = c.value[0] if isinstance(c.value, tuple) else c.value
            if isinstance(first, bool):
                value: Any = tuple("true" if v else "false" for v in c.value) if isinstance(c.value, tuple) \
                    else ("true" if c.value else "false")
                keep &= compare(text, c.op, value)
            elif isinstance(first, int | Decimal):
                keep &= compare(pd.to_numeric(text, errors="coerce"), c.op, c.value)
            else:
                keep &= compare(text, c.op, c.value)
        return keep

    def measure(self, frame: pd.DataFrame, agg: str, prop: str | None, op: Op, value: Any) -> np.ndarray:
        pids = frame["pid"].to_numpy()
        if agg == "count":
            return np.asarray(OPS[op](self.per_person(pids), _scalar(value, False)), dtype=bool)
        money = prop in MONEY
        v = _scalar(value, money)
        x = frame[prop].to_numpy(dtype=float) if prop in frame else pd.to_numeric(
            frame[f"json.{prop}"], errors="coerce").to_numpy(dtype=float)
        if agg == "sum":
            return np.asarray(OPS[op](self.per_person(pids, x), v), dtype=bool)
        if agg == "avg":  # avg op v  ⇔  sum op v·k with k > 0 non-null values, as the SQL does
            k = self.per_person(pids, (~np.isnan(x)).astype(float))
            s = self.per_person(pids, x)
            return (k > 0) & np.asarray(OPS[op](s, v * k), dtype=bool)
        ok = ~np.isnan(x) & (pids < self.n) & (pids >= 0)
        best = pd.Series(x[ok]).groupby(pids[ok]).agg(agg)
        full = np.full(self.n, np.nan)
        full[best.index.to_numpy()] = best.to_numpy()
        return compare(full, op, value, money)

    # -- leaves -----------------------------------------------------------------------------------
    def tag(self, rule: HasTag | TagRule) -> np.ndarray:
        tv = self.tags[rule.tag]
        tv = tv[tv["pid"] < self.n]
        hit = tv["value"].notna().to_numpy() if isinstance(rule, HasTag) else compare(tv["value"], rule.op, rule.value)
        out = np.zeros(self.n, dtype=bool)
        out[tv["pid"].to_numpy()[hit]] = True
        return out

    def event(self, rule: EventRule) -> np.ndarray:
        frame = self.events_named(rule.event)
        frame = frame[in_window(frame["dt"], window_bounds(rule.window, self.x.as_of))]
        frame = frame[self.where(frame, rule.where, dict(DEFAULT_SCHEMA.event_properties))]
        return self.measure(frame, rule.agg.value, rule.property, rule.op, rule.value)

    def orders(self, rule: OrderRule) -> np.ndarray:
        frame = self.x.orders
        frame = frame[in_window(frame["dt"], window_bounds(rule.window, self.x.as_of))]
        frame = frame[self.where(frame, rule.where, dict(DEFAULT_SCHEMA.order_columns))]
        agg = rule.agg.value if rule.agg is not OrderAgg.COUNT else EventAgg.COUNT.value
        return self.measure(frame, agg, "amount", rule.op, rule.value)

    def sequence(self, rule: SequenceRule) -> np.ndarray:
        """A then B strictly later and at most ``within`` after A; the window applies to A."""
        a = self.events_named(rule.first)
        a = a[in_window(a["dt"], window_bounds(rule.window, self.x.as_of)) & a["event_time"].notna()]
        b = self.events_named(rule.then)
        b = b.loc[b["event_time"].notna(), ["pid", "event_time"]].rename(columns={"event_time": "then_time"})
        joined = pd.merge_asof(a[["pid", "event_time"]].sort_values("event_time"), b.sort_values("then_time"),
                               left_on="event_time", right_on="then_time", by="pid", direction="forward",
                               allow_exact_matches=False)
        within = pd.Timedelta(seconds=rule.within.seconds)
        hit = joined["then_time"].notna() & (joined["then_time"] <= joined["event_time"] + within)
        return self.per_person(joined.loc[hit, "pid"].to_numpy()) > 0
