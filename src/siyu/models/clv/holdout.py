"""Calibration / holdout check (校准期/验证期): fit on the calibration period, predict the holdout period.

Customers are grouped by how many repeat purchases they made in the calibration period (0, 1, …,
``max_group`` and more); for each group the table compares the mean number of purchase days they
actually had in the holdout period with the model's conditional expectation — the figure Fader, Hardie
& Lee (2005) use to judge BG/NBD. The overall error is reported too.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from siyu.core.errors import SiyuError
from siyu.models.clv.bgnbd import BetaGeo, ModifiedBetaGeo
from siyu.models.clv.summary import CustomerSummary


def holdout_by_frequency(model: BetaGeo | ModifiedBetaGeo, summary: CustomerSummary, *, max_group: int = 7) -> pa.Table:
    """Per calibration frequency group: customers, actual and predicted mean holdout purchases, and totals."""
    if summary.holdout_frequency is None:
        raise SiyuError("this summary has no holdout period", code="no_holdout")
    predicted = model.expected_purchases(float(summary.holdout_days), summary.frequency, summary.recency, summary.T)
    group = np.minimum(summary.frequency, max_group).astype(int)
    rows = []
    for g in range(max_group + 1):
        mask = group == g
        n = int(mask.sum())
        if n == 0:
            continue
        actual = summary.holdout_frequency[mask]
        rows.append({"frequency": f"{g}+" if g == max_group else str(g), "customers": n,
                     "actual_mean": float(actual.mean()), "predicted_mean": float(predicted[mask].mean()),
                     "actual_total": float(actual.sum()), "predicted_total": float(predicted[mask].sum())})
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("frequency", pa.string()), ("customers", pa.int64()), ("actual_mean", pa.float64()),
        ("predicted_mean", pa.float64()), ("actual_total", pa.float64()), ("predicted_total", pa.float64())]))


def holdout_metrics(model: BetaGeo | ModifiedBetaGeo, summary: CustomerSummary) -> dict[str, float]:
    """Totals and per-customer errors of the holdout prediction."""
    if summary.holdout_frequency is None:
        raise SiyuError("this summary has no holdout period", code="no_holdout")
    predicted = model.expected_purchases(float(summary.holdout_days), summary.frequency, summary.recency, summary.T)
    actual = summary.holdout_frequency
    return {
        "holdout_days": float(summary.holdout_days),
        "holdout_actual_total": float(actual.sum()),
        "holdout_predicted_total": float(predicted.sum()),
        "holdout_total_error": float(predicted.sum() / max(actual.sum(), 1e-12) - 1),
        "holdout_mae": float(np.abs(predicted - actual).mean()),
        "holdout_rmse": float(np.sqrt(((predicted - actual) ** 2).mean())),
        "holdout_correlation": float(np.corrcoef(predicted, actual)[0, 1]) if actual.std() > 0 else float("nan"),
    }
