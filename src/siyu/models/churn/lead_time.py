"""Lead time (预警提前期): how many days before churn the warning fires.

A churner here is a person whose last activity L (by the outcome's ``silence``: interaction, order, or
either) is followed by at least N silent days, ``(L, L+N]``, all inside the data; L is the *churn start*
and L + N the day the churn is *confirmed* (N silent days, when the lifecycle would call it churned).
Each churner is scored on every day W in ``[L − max_lead_days, L + N]``; a day is *flagged* when the
probability reaches the model's threshold. Two readings, both reported:

- **before churn start** (the definition in the issue): the first flagged day W ≤ L; lead ``L − W`` days.
  A person already flagged on ``L − max_lead_days`` gets ``max_lead_days`` — a lower bound, counted in
  ``share_flagged_from_start``. Flags before L are, by the label's definition, early alarms the person
  interacted through; people who are always quiet stay flagged for weeks, which saturates this reading.
- **before churn confirmed**: the start S of the final unbroken run of flagged days that reaches L + N;
  lead ``L + N − S`` days (N + max_lead_days at most). A churner not flagged on L + N is not warned. This
  is the warning ops could act on without it being withdrawn; the source reports ask for 7–15 days.

Which churners: those whose churn starts after the first validation date (L > V₀), so the model never
saw their churn in a training label, and at most ``max_people`` of them (a seeded sample), so the daily
scoring costs ``max_people × (max_lead_days + N + 1)`` person-days through one feature query.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from siyu.measure.event_sql import Params
from siyu.models.churn.features import pair_features
from siyu.models.churn.spec import Outcome
from siyu.warehouse.engine import Engine

if TYPE_CHECKING:
    from siyu.models.churn.model import WarningModel

ADVISED_LEAD_DAYS = (7, 15)


def _activity(outcome: Outcome) -> str:
    return {"interaction": "u.active", "order": "u.orders > 0", "both": "(u.active OR u.orders > 0)"}[outcome.silence]


def churn_starts_sql(outcome: Outcome, after: date, until: date) -> tuple[str, dict[str, Any]]:
    """Per person, the first active day L in ``(after, until]`` followed by ``horizon_days`` silent days."""
    p = Params()
    sql = f"""
SELECT one_id, min(dt) AS churn_start FROM (
    SELECT one_id, dt, lead(dt) OVER (PARTITION BY one_id ORDER BY dt) AS next_dt
    FROM (SELECT DISTINCT u.one_id, u.dt FROM user_daily AS u WHERE {_activity(outcome)} AND u.one_id IS NOT NULL)
        AS d
) AS g
WHERE dt > {p.day(after)} AND dt <= {p.day(until)}
  AND (next_dt IS NULL OR date_diff('day', dt, next_dt) > {p.bigint(outcome.horizon_days)})
GROUP BY one_id
ORDER BY one_id"""
    return sql, p.values


def lead_times(engine: Engine, model: WarningModel, max_people: int = 300, max_lead_days: int = 30,
               seed: int = 7) -> dict[str, Any]:
    """The lead-time distributions of the model's warnings (see the module doc)."""
    plan, n = model.plan, model.outcome.horizon_days
    sql, params = churn_starts_sql(model.outcome, plan.validation[0], plan.data_end - timedelta(days=n))
    starts = engine.query(sql, params)
    n_churners = starts.num_rows
    if n_churners > max_people:
        keep = np.sort(np.random.default_rng(seed).choice(n_churners, size=max_people, replace=False))
        starts = starts.take(pa.array(keep))
    ids = starts["one_id"].to_pylist()
    ends = starts["churn_start"].to_pylist()
    flagged: dict[str, set[date]] = {i: set() for i in ids}
    if ids:
        pairs = pa.table({"one_id": [i for i in ids for _ in range(max_lead_days + n + 1)],
                          "as_of": [d for e in ends for d in lead_date_grid(e, max_lead_days, n)]})
        feats = pair_features(engine, pairs).to_pandas()
        if len(feats):
            hit = feats[model.predict_proba(feats) >= model.threshold]
            for one_id, day in zip(hit["one_id"], hit["as_of"], strict=True):
                flagged[one_id].add(day)
    before_start, before_confirmed = [], []
    for one_id, start in zip(ids, ends, strict=True):
        days = flagged[one_id]
        early = [d for d in days if d <= start]
        if early:
            before_start.append((start - min(early)).days)
        confirmed = start + timedelta(days=n)
        if confirmed in days:
            run = confirmed
            while run - timedelta(days=1) in days and (confirmed - run).days < max_lead_days + n:
                run -= timedelta(days=1)
            before_confirmed.append((confirmed - run).days)
    return {"churners": n_churners, "scored": len(ids), "max_lead_days": max_lead_days,
            "before_churn_start": summarise(before_start, len(ids), max_lead_days),
            "before_churn_confirmed": summarise(before_confirmed, len(ids), max_lead_days + n)}


def summarise(leads: list[int], n_scored: int, cap: int) -> dict[str, Any]:
    """Among the warned: median and quartiles of lead days, the share within 7–15 days and at least 7;
    and the share of scored churners warned at all. ``cap`` is the longest lead the scan can see."""
    lo, hi = ADVISED_LEAD_DAYS
    arr = np.asarray(leads, dtype=np.float64)
    warned = len(arr)
    nan = float("nan")
    return {
        "warned": warned,
        "share_warned": warned / n_scored if n_scored else nan,
        "share_flagged_from_start": float(np.mean(arr >= cap)) if warned else nan,
        "median_days": float(np.median(arr)) if warned else nan,
        "p25_days": float(np.percentile(arr, 25)) if warned else nan,
        "p75_days": float(np.percentile(arr, 75)) if warned else nan,
        "share_7_15_days": float(np.mean((arr >= lo) & (arr <= hi))) if warned else nan,
        "share_at_least_7_days": float(np.mean(arr >= lo)) if warned else nan,
        "histogram": [int(np.sum(arr == d)) for d in range(cap + 1)],
    }


def lead_date_grid(churn_start: date, max_lead_days: int, horizon_days: int) -> list[date]:
    """The days a churner is scored on: ``churn_start − max_lead_days`` … ``churn_start + horizon_days``."""
    return [churn_start + timedelta(days=k) for k in range(-max_lead_days, horizon_days + 1)]
