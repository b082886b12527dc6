"""Anomaly detection (异常检测) over a daily KPI series: pure functions, the same data always gives the same alerts.

Two detectors, one per rule kind (:mod:`siyu.measure.alerts.rules`):

- **threshold**: relative change ``(x - b) / |b|`` against a baseline ``b`` (the day before, the same day
  last week, or the trailing mean), and absolute bounds;
- **seasonal**: the expected value ``m`` is the median of the same weekday over the previous ``weeks`` weeks (a
  seasonal-naive forecast that one past anomaly cannot move). Its spread comes from how that forecast did on
  every day of the previous ``weeks`` weeks, all weekdays pooled as relative errors ``e_j = (x_j - m_j) / |m_j|``:
  ``s = 1.4826 · median |e_j|``, the median absolute error scaled to a normal σ (Hampel 1974; Rousseeuw &
  Croux 1993, *Alternatives to the Median Absolute Deviation*, JASA 88:1273). Then
  ``σ̂ = max(|m|·s, spread_floor·|m|, min_spread)`` and ``z = (x - m) / σ̂``. The same shape as S-H-ESD's
  median and MAD of residuals (Hochenbaum, Vallis & Kejariwal 2017, arXiv:1704.07706).

  Why pool: a handful of same-weekday values cannot estimate a spread. With 4 of them, a MAD-based z passes
  4σ on about 5% of pure-noise days; the 7·weeks pooled forecast errors bring that near 0.1%
  (``tests/measure/test_alerts.py`` measures the rates; docs/alerts.md has the table).

Each alert's id hashes rule, metric, group and day, so running again over the same data gives the same ids
and the store can ignore what it already holds.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from siyu.core.errors import SiyuError
from siyu.measure.alerts.rules import Baseline, Direction, SeasonalRule, ThresholdRule

#: 1 / Φ⁻¹(3/4): MAD × this estimates σ of normally distributed data.
MAD_SCALE = 1.482602218505602
#: Relative-change thresholds are compared with this tolerance, so ``drop: 0.3`` fires on a 30% drop
#: computed in floating point (0.35 → 0.245 is -0.30000000000000004, 70 → 49 is -0.3 exactly).
TOLERANCE = 1e-9
_WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SINCE = {Baseline.PREVIOUS: ("较前一日", "against the previous day"),
          Baseline.LAST_WEEK: ("较上周同期", "against the same day last week")}


@dataclass(frozen=True)
class Alert:
    """One anomaly: the metric's ``observed`` value on ``day`` in group ``grp`` against what was ``expected``.

    ``deviation`` is the relative change ``(observed - expected) / |expected|`` (None when expected is 0 or
    unknown); ``zscore`` is set by seasonal rules.
    """

    id: str
    rule: str
    kind: str
    metric: str
    grp: str
    day: date
    observed: float
    expected: float | None
    deviation: float | None
    zscore: float | None
    severity: str
    message_zh: str
    message_en: str
    webhook: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (the day as ``YYYY-MM-DD``)."""
        out = asdict(self)
        out["day"] = self.day.isoformat()
        return out


#: Forecast errors needed before a seasonal rule judges a day (one week's worth).
MIN_ERRORS = 7


@dataclass(frozen=True)
class RobustBaseline:
    """A seasonal baseline: the expected value (median of ``n`` same weekdays), the relative spread of the
    forecast errors (from ``n_errors`` of them) and the floored σ̂ the z-score divides by."""

    median: float
    rel_sigma: float
    sigma: float
    n: int
    n_errors: int


def alert_id(rule: str, metric: str, grp: str, day: date) -> str:
    """SHA-256 (first 32 hex digits) of rule, metric, group and day: stable across runs and machines."""
    text = "\x1f".join((rule, metric, grp, day.isoformat()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def error_scale(errors: Sequence[float]) -> float:
    """``1.4826 · median |e|``: the spread σ of forecast errors ``e`` centred on zero, robust to outliers."""
    e = np.asarray(errors, dtype=np.float64)
    if e.size == 0 or not np.all(np.isfinite(e)):
        raise SiyuError("a spread needs at least one finite error", code="bad_series", input_name="errors")
    return MAD_SCALE * float(np.median(np.abs(e)))


def robust_baseline(history: Sequence[float], errors: Sequence[float], *, spread_floor: float = 0.0,
                    min_spread: float = 0.0) -> RobustBaseline:
    """The median of ``history`` (same weekdays) and ``σ̂ = max(|m|·error_scale(errors), spread_floor·|m|,
    min_spread)`` where ``errors`` are recent relative forecast errors (see the module docstring)."""
    x = np.asarray(history, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise SiyuError("a baseline needs at least one finite value", code="bad_series", input_name="history")
    med = float(np.median(x))
    rel = error_scale(errors)
    return RobustBaseline(med, rel, max(abs(med) * rel, spread_floor * abs(med), min_spread), int(x.size), len(errors))


class _Series:
    """One group's daily values with their volumes; a day is usable when its value is finite and its volume
    reaches the rule's ``min_volume``."""

    def __init__(self, days: Sequence[date], values: Sequence[float | None], volumes: Sequence[float | None] | None,
                 min_volume: float) -> None:
        if len(values) != len(days) or (volumes is not None and len(volumes) != len(days)):
            raise SiyuError("days, values and volumes must have the same length", code="bad_series")
        self.usable: dict[date, float] = {}
        for i, day in enumerate(days):
            v = values[i]
            if v is None or not math.isfinite(v):
                continue
            vol = v if volumes is None else volumes[i]
            if min_volume > 0 and (vol is None or not math.isfinite(vol) or vol < min_volume):
                continue
            if day in self.usable:
                raise SiyuError(f"day {day} appears twice in one series", code="bad_series")
            self.usable[day] = float(v)
        self._forecasts: dict[date, tuple[float, int] | None] = {}

    def same_weekdays(self, day: date, weeks: int) -> list[float]:
        """The usable values of the same weekday in the ``weeks`` weeks before ``day``."""
        return [self.usable[d] for k in range(1, weeks + 1) if (d := day - timedelta(days=7 * k)) in self.usable]

    def forecast(self, day: date, weeks: int, need: int) -> tuple[float, int] | None:
        """(median of the same weekdays, how many) — None with fewer than ``need`` of them. Cached: one
        series is judged with one rule."""
        if day not in self._forecasts:
            history = self.same_weekdays(day, weeks)
            self._forecasts[day] = (float(np.median(history)), len(history)) if len(history) >= need else None
        return self._forecasts[day]

    def errors(self, day: date, weeks: int, need: int) -> list[float]:
        """Relative errors of the same-weekday forecast on the usable days of the ``weeks`` weeks before ``day``."""
        out = []
        for k in range(1, 7 * weeks + 1):
            d = day - timedelta(days=k)
            f = self.forecast(d, weeks, need) if d in self.usable else None
            if f is not None and f[0] != 0:
                out.append((self.usable[d] - f[0]) / abs(f[0]))
        return out


def detect(rule: ThresholdRule | SeasonalRule, days: Sequence[date], values: Sequence[float | None], *,
           volumes: Sequence[float | None] | None = None, group: str = "all", judge: Collection[date] | None = None,
           metric_zh: str | None = None, metric_en: str | None = None) -> list[Alert]:
    """Alerts of ``rule`` over one daily series (one group), for the days in ``judge`` (default: every day).

    ``volumes`` are the days' denominators for ``min_volume`` (default: the values themselves). Days before
    the judged ones serve as history. ``metric_zh`` / ``metric_en`` name the metric in messages.

    >>> from datetime import date
    >>> rule = ThresholdRule(kind="threshold", name="gmv_drop", metric="gmv", drop=0.3)
    >>> [a.message_zh for a in detect(rule, [date(2026, 3, 2), date(2026, 3, 3)], [100.0, 65.0])]
    ['gmv 较前一日下降 35%']
    """
    series = _Series(days, values, volumes, rule.min_volume)
    names = (metric_zh or rule.metric, metric_en or rule.metric)
    out: list[Alert] = []
    for day in sorted(set(days) if judge is None else set(judge)):
        if day not in series.usable:
            continue
        if isinstance(rule, SeasonalRule):
            found = _seasonal(rule, series, day, group, names)
        else:
            found = _threshold(rule, series, day, group, names)
        if found is not None:
            out.append(found)
    return out


def detect_table(rule: ThresholdRule | SeasonalRule, table: pa.Table, *, judge: Collection[date] | None = None,
                 metric_zh: str | None = None, metric_en: str | None = None) -> list[Alert]:
    """:func:`detect` for every group of a :func:`~siyu.measure.kpi.compute_kpi` result at a day grain
    (``period_start, grp, value, numerator, denominator``); the volume is the denominator, else the value."""
    rows: dict[str, list[tuple[date, float | None, float | None]]] = defaultdict(list)
    for r in table.select(["period_start", "grp", "value", "denominator"]).to_pylist():
        vol = r["denominator"] if r["denominator"] is not None else r["value"]
        rows[str(r["grp"])].append((r["period_start"], r["value"], vol))
    out: list[Alert] = []
    for grp in sorted(rows):
        d, v, vol = zip(*rows[grp], strict=True)
        out.extend(detect(rule, d, v, volumes=vol, group=grp, judge=judge, metric_zh=metric_zh, metric_en=metric_en))
    return sorted(out, key=lambda a: (a.day, a.grp))


def _threshold(rule: ThresholdRule, s: _Series, day: date, group: str, names: tuple[str, str]) -> Alert | None:
    x = s.usable[day]
    base = _baseline_value(rule, s, day)
    change = (x - base) / abs(base) if base is not None and base != 0 else None
    zh: list[str] = []
    en: list[str] = []
    if change is not None and (
            (rule.drop is not None and change <= -rule.drop + TOLERANCE)
            or (rule.rise is not None and change >= rule.rise - TOLERANCE)):
        since_zh, since_en = _SINCE.get(rule.baseline) or (
            f"较前 {rule.periods} 日均值", f"against the mean of the previous {rule.periods} days")
        verb_zh, verb_en = _verbs(change)
        zh.append(f"{since_zh}{verb_zh} {_pct(change)}")
        en.append(f"{verb_en} {_pct(change)} {since_en}")
    bound = None
    if rule.lower is not None and x < rule.lower:
        bound = rule.lower
        zh.append(f"为 {_num(x)}，低于下限 {_num(rule.lower)}")
        en.append(f"is {_num(x)}, below the lower bound {_num(rule.lower)}")
    if rule.upper is not None and x > rule.upper:
        bound = rule.upper
        zh.append(f"为 {_num(x)}，高于上限 {_num(rule.upper)}")
        en.append(f"is {_num(x)}, above the upper bound {_num(rule.upper)}")
    if not zh:
        return None
    relative = rule.drop is not None or rule.rise is not None
    expected, deviation = (base, change) if relative else (bound, _relative(x, bound))
    subject_zh, subject_en = _subject(rule, group, names)
    return _alert(rule, group, day, x, expected, deviation, None, f"{subject_zh} {'；'.join(zh)}",
                  f"{subject_en} {'; '.join(en)}")


def _baseline_value(rule: ThresholdRule, s: _Series, day: date) -> float | None:
    if rule.baseline is Baseline.PREVIOUS:
        return s.usable.get(day - timedelta(days=1))
    if rule.baseline is Baseline.LAST_WEEK:
        return s.usable.get(day - timedelta(days=7))
    window = [s.usable[d] for k in range(1, rule.periods + 1) if (d := day - timedelta(days=k)) in s.usable]
    # The mean of the usable days among the previous ``periods``; fewer than half of them is too thin to judge.
    return sum(window) / len(window) if 2 * len(window) >= rule.periods else None


def _seasonal(rule: SeasonalRule, s: _Series, day: date, group: str, names: tuple[str, str]) -> Alert | None:
    x = s.usable[day]
    if s.forecast(day, rule.weeks, rule.history_needed) is None:
        return None
    errors = s.errors(day, rule.weeks, rule.history_needed)
    if len(errors) < MIN_ERRORS:
        return None
    b = robust_baseline(s.same_weekdays(day, rule.weeks), errors, spread_floor=rule.spread_floor,
                        min_spread=rule.min_spread)
    if b.sigma == 0:  # a flat or all-zero history with no floor: nothing to scale a deviation by
        return None
    z = (x - b.median) / b.sigma
    t = rule.z
    fired = {Direction.DOWN: z <= -t, Direction.UP: z >= t, Direction.BOTH: abs(z) >= t}[rule.direction]
    deviation = _relative(x, b.median)
    if not fired or (deviation is not None and abs(deviation) < rule.min_change - TOLERANCE):
        return None
    wd = day.weekday()
    subject_zh, subject_en = _subject(rule, group, names)
    if deviation is None:
        zh = f"为 {_num(x)}，近 {b.n} 周同期（{_WEEKDAYS_ZH[wd]}）中位数为 0（z = {z:+.1f}）"
        en = f"is {_num(x)} while the median of the same weekday ({_WEEKDAYS_EN[wd]}) was 0 (z = {z:+.1f})"
    else:
        verb_zh, verb_en = _verbs(deviation)
        zh = f"较近 {b.n} 周同期（{_WEEKDAYS_ZH[wd]}）中位数{verb_zh} {_pct(deviation)}（z = {z:+.1f}）"
        en = (f"{verb_en} {_pct(deviation)} against the median of the same weekday ({_WEEKDAYS_EN[wd]}) "
              f"over the previous {b.n} weeks (z = {z:+.1f})")
    return _alert(rule, group, day, x, b.median, deviation, z, f"{subject_zh} {zh}", f"{subject_en} {en}")


def _alert(rule: ThresholdRule | SeasonalRule, group: str, day: date, x: float, expected: float | None,
           deviation: float | None, z: float | None, zh: str, en: str) -> Alert:
    return Alert(id=alert_id(rule.name, rule.metric, group, day), rule=rule.name, kind=rule.kind, metric=rule.metric,
                 grp=group, day=day, observed=x, expected=expected, deviation=deviation, zscore=z,
                 severity=rule.severity.value, message_zh=zh, message_en=en, webhook=rule.webhook)


def _relative(x: float, base: float | None) -> float | None:
    return (x - base) / abs(base) if base else None


def _subject(rule: ThresholdRule | SeasonalRule, group: str, names: tuple[str, str]) -> tuple[str, str]:
    if rule.by is None:
        return names
    return f"{names[0]}（{rule.by}：{group}）", f"{names[1]} ({rule.by} {group})"


def _verbs(change: float) -> tuple[str, str]:
    return ("下降", "fell") if change < 0 else ("上升", "rose")


def _pct(change: float) -> str:
    p = abs(change) * 100
    return f"{p:.1f}%" if p < 10 else f"{p:.0f}%"


def _num(x: float) -> str:
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.2f}" if abs(x) >= 1 else f"{x:.3g}"
