"""One alert run (预警巡检): compute each rule's daily KPI series, detect, store what is new, deliver.

Run it once a day after the build, with ``as_of`` the last complete day (usually yesterday). Re-running over the
same data stores nothing new, and a run after a webhook outage sends what the outage left pending.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

import pyarrow as pa

from siyu.core.errors import SiyuError
from siyu.measure.alerts.detect import Alert, detect_table
from siyu.measure.alerts.rules import SeasonalRule, ThresholdRule, lookback_days
from siyu.measure.alerts.store import StoredAlert, get_alert, save_alerts
from siyu.measure.alerts.webhook import WebhookConfig, deliver_pending
from siyu.measure.kpi import Grain, KpiQuery, MetricDefinition, compute_kpi
from siyu.store.db import Store
from siyu.warehouse.engine import Engine

MAX_DAYS = 366


def rule_series(engine: Engine, catalogue: dict[str, MetricDefinition], rules: Sequence[ThresholdRule | SeasonalRule],
                first: date, as_of: date, labels: pa.Table | None = None) -> dict[tuple[str, str | None], pa.Table]:
    """Daily KPI tables keyed by (metric, breakdown), each long enough for every rule that reads it: one
    :func:`~siyu.measure.kpi.compute_kpi` call per metric and breakdown, however many rules share it."""
    lookback: dict[tuple[str, str | None], int] = {}
    for rule in rules:
        metric = catalogue.get(rule.metric)
        if metric is None:
            raise SiyuError(f"rule {rule.name}: unknown metric {rule.metric!r}; see `siyu measure kpi list`",
                            code="unknown_metric", input_name="rules")
        if metric.grain is not Grain.DAY:
            raise SiyuError(f"rule {rule.name}: {rule.metric} is reported by {metric.grain.value}, and alerts "
                            "watch daily series", code="bad_rule", input_name="rules")
        key = (rule.metric, rule.by)
        lookback[key] = max(lookback.get(key, 0), lookback_days(rule))
    return {key: compute_kpi(engine, catalogue, KpiQuery(key[0], first - timedelta(days=back), as_of, Grain.DAY,
                                                         by=key[1]), labels=labels)
            for key, back in lookback.items()}


def detect_alerts(engine: Engine, catalogue: dict[str, MetricDefinition],
                  rules: Sequence[ThresholdRule | SeasonalRule], as_of: date, *, days: int = 1,
                  labels: pa.Table | None = None) -> list[Alert]:
    """Every rule's alerts for the ``days`` days ending on ``as_of``, without storing them (a dry run)."""
    if not 1 <= days <= MAX_DAYS:
        raise SiyuError(f"days must be between 1 and {MAX_DAYS}", code="bad_period", input_name="days")
    names = [r.name for r in rules]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SiyuError(f"rule names must be unique (alert ids are built from them): {', '.join(twice)}",
                        code="bad_rule", input_name="rules")
    first = as_of - timedelta(days=days - 1)
    judge = [first + timedelta(days=k) for k in range(days)]
    series = rule_series(engine, catalogue, rules, first, as_of, labels)
    out: list[Alert] = []
    for rule in rules:
        metric = catalogue[rule.metric]
        out.extend(detect_table(rule, series[(rule.metric, rule.by)], judge=judge, metric_zh=metric.name_zh,
                                metric_en=metric.name_en))
    return out


def run_alerts(engine: Engine, catalogue: dict[str, MetricDefinition], rules: Sequence[ThresholdRule | SeasonalRule],
               as_of: date, store: Store, *, days: int = 1, labels: pa.Table | None = None,
               webhook: WebhookConfig | None = None, now: datetime | None = None,
               sleep: Callable[[float], None] = time.sleep) -> list[StoredAlert]:
    """Detect (:func:`detect_alerts`), store the alerts not stored before, and return those new ones.

    With ``webhook``, then deliver every pending alert — this run's and any an earlier failure left — and
    return the new alerts as they are after delivery (``sent_at`` set when it succeeded). ``labels``
    (one_id, label) is needed by segment and tag breakdowns.
    """
    new = save_alerts(store, detect_alerts(engine, catalogue, rules, as_of, days=days, labels=labels), now=now)
    if webhook is None:
        return new
    deliver_pending(store, webhook, sleep=sleep)
    return [get_alert(store, a.id) for a in new]
