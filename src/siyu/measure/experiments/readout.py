"""Read an A/B test out of the lake (实验结果): assignments → people → outcomes → statistics.

Assignments come from the ``experiment_assignments`` entity (an A/B tool's export, or siyu's own
:func:`assign`), keyed by any identifier type; they are resolved to current one_ids through OneID. Per
unit the outcome window is [assigned_at, assigned_at + window_days): converted = at least one paid
order in it, revenue = the order amounts in it, and the pre-period revenue (the same length before
assignment) is the CUPED covariate. The SQL runs on DuckDB and Spark alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from siyu.core.entities import ENTITIES
from siyu.core.errors import SiyuError
from siyu.measure.experiments.assignment import SRMResult, sample_ratio_mismatch
from siyu.measure.experiments.bayesian import BetaBinomialResult, beta_binomial
from siyu.measure.experiments.cuped import CupedResult, cuped
from siyu.measure.experiments.frequentist import (
    MannWhitneyResult,
    ProportionTestResult,
    WelchResult,
    mann_whitney,
    two_proportion_ztest,
    welch_ttest,
)
from siyu.profile.views import register_profile_sources
from siyu.warehouse.engine import Engine
from siyu.warehouse.lake import Lake

UNITS = """
WITH a AS (
    SELECT x.variant, x.assigned_at, x.unit_type, x.unit_value, coalesce(r.to_one_id, n.one_id) AS one_id
    FROM experiment_assignments AS x
    LEFT JOIN id_nodes AS n ON n.identifier_type = x.unit_type AND n.identifier_value = x.unit_value
    LEFT JOIN redirects AS r ON r.from_one_id = n.one_id
    WHERE x.experiment_id = $experiment
)
SELECT a.variant, a.one_id,
       CAST(count(DISTINCT CASE WHEN o.paid_at >= a.assigned_at
                                 AND o.paid_at < a.assigned_at + INTERVAL {days} DAY THEN o.order_id END) AS BIGINT)
           AS orders,
       CAST(coalesce(sum(CASE WHEN o.paid_at >= a.assigned_at
                               AND o.paid_at < a.assigned_at + INTERVAL {days} DAY THEN o.amount END), 0) AS DOUBLE)
           AS revenue,
       CAST(coalesce(sum(CASE WHEN o.paid_at < a.assigned_at
                               AND o.paid_at >= a.assigned_at - INTERVAL {days} DAY THEN o.amount END), 0) AS DOUBLE)
           AS pre_revenue
FROM a LEFT JOIN orders AS o ON o.one_id = a.one_id
GROUP BY a.variant, a.one_id, a.unit_type, a.unit_value
"""


@dataclass(frozen=True)
class Readout:
    """Everything an ops team needs to decide: counts, SRM, conversion and revenue tests."""

    experiment_id: str
    window_days: int
    control: str
    treatment: str
    units: dict[str, int]
    unresolved: int
    srm: SRMResult
    conversion: ProportionTestResult
    conversion_bayes: BetaBinomialResult
    revenue: WelchResult
    revenue_rank: MannWhitneyResult
    revenue_cuped: CupedResult | None
    rates: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"experiment_id": self.experiment_id, "window_days": self.window_days, "control": self.control,
                "treatment": self.treatment, "units": self.units, "unresolved": self.unresolved,
                "conversion_rates": self.rates, "srm": self.srm.to_dict(), "conversion": self.conversion.to_dict(),
                "conversion_bayes": self.conversion_bayes.to_dict(), "revenue": self.revenue.to_dict(),
                "revenue_rank": self.revenue_rank.to_dict(),
                "revenue_cuped": self.revenue_cuped.to_dict() if self.revenue_cuped else None}


LIST_SQL = """
SELECT experiment_id, variant, count(*) AS units, min(assigned_at) AS first_assigned,
       max(assigned_at) AS last_assigned
FROM experiment_assignments GROUP BY experiment_id, variant ORDER BY experiment_id, variant
"""


def register_experiment_sources(eng: Engine, lake: Lake) -> None:
    """The profile views plus the ``experiment_assignments`` entity (empty when none was imported)."""
    register_profile_sources(eng, lake)
    register_assignments(eng, lake)


def register_assignments(eng: Engine, lake: Lake) -> None:
    """Only the ``experiment_assignments`` entity, for an engine whose profile views are registered already."""
    spec = ENTITIES["experiment_assignments"]
    eng.register("experiment_assignments", lake.files("ods", "entities_experiment_assignments"),
                 lake.schema("ods", "entities_experiment_assignments") or spec.schema)


def list_experiments(eng: Engine) -> pa.Table:
    """The experiments in the assignment export: units and first/last assignment per variant."""
    return eng.query(LIST_SQL)


def experiment_units(eng: Engine, experiment_id: str, window_days: int = 14) -> pa.Table:
    """One row per assigned unit: variant, one_id (null when unresolved), orders, revenue, pre_revenue."""
    if not 1 <= window_days <= 366:
        raise SiyuError("the outcome window must be 1–366 days", code="bad_window", input_name="window_days")
    return eng.query(UNITS.format(days=int(window_days)), {"experiment": experiment_id})


def read_experiment(eng: Engine, experiment_id: str, *, window_days: int = 14, control: str = "control",
                    treatment: str = "treatment", expected_split: tuple[float, float] = (0.5, 0.5),
                    alpha: float = 0.05) -> Readout:
    """Compare ``treatment`` with ``control`` on conversion and revenue in the window after assignment."""
    units = experiment_units(eng, experiment_id, window_days).to_pydict()
    if not units["variant"]:
        raise SiyuError(f"no assignments for experiment {experiment_id!r}", code="unknown_experiment",
                        input_name="experiment_id")
    variant = np.asarray(units["variant"], dtype=object)
    resolved = np.asarray([u is not None for u in units["one_id"]])
    counts = {str(v): int(((variant == v) & resolved).sum()) for v in sorted(set(variant.tolist()))}
    for name in (control, treatment):
        if counts.get(name, 0) < 2:
            raise SiyuError(f"variant {name!r} has {counts.get(name, 0)} resolved units; need at least 2",
                            code="too_few_units", input_name=name)
    orders = np.asarray(units["orders"], dtype=float)
    revenue = np.asarray(units["revenue"], dtype=float)
    pre = np.asarray(units["pre_revenue"], dtype=float)
    a = resolved & (variant == control)
    b = resolved & (variant == treatment)
    conv_a, conv_b = int((orders[a] > 0).sum()), int((orders[b] > 0).sum())
    has_pre = bool(pre[a | b].std() > 0)
    return Readout(
        experiment_id=experiment_id, window_days=window_days, control=control, treatment=treatment, units=counts,
        unresolved=int((~resolved).sum()),
        srm=sample_ratio_mismatch({control: counts[control], treatment: counts[treatment]},
                                  {control: expected_split[0], treatment: expected_split[1]}),
        conversion=two_proportion_ztest(conv_a, int(a.sum()), conv_b, int(b.sum()), alpha=alpha),
        conversion_bayes=beta_binomial(conv_a, int(a.sum()), conv_b, int(b.sum())),
        revenue=welch_ttest(revenue[a], revenue[b], alpha=alpha),
        revenue_rank=mann_whitney(revenue[a], revenue[b]),
        revenue_cuped=cuped(revenue[a], revenue[b], pre[a], pre[b], alpha=alpha) if has_pre else None,
        rates={control: conv_a / int(a.sum()), treatment: conv_b / int(b.sum())},
    )
