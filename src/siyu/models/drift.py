"""Drift (漂移): the population stability index between a model's training data and today's.

PSI = Σ_i (a_i − e_i) · ln(a_i / e_i) over bins, with e the training share and a today's share in bin i
(Yurdakul 2018, "Statistical properties of the population stability index"; the usual reading: < 0.1
stable, 0.1–0.25 some shift, > 0.25 a large shift). Bins are the training deciles (ties merged), plus
one bin for missing values; empty bins get a share of 1e-4 so the logarithm stays finite.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from siyu.core.errors import SiyuError

EMPTY_SHARE = 1e-4
#: a model is stale when any feature or score drifts past this
DEFAULT_THRESHOLD = 0.25


def reference_bins(values: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Inner bin edges at the training quantiles and the training share per bin (missing values last)."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if len(v) == 0:
        raise SiyuError("no values to bin", code="no_data")
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])) if len(finite) else np.array([])
    return {"edges": edges.tolist(), "shares": _shares(v, edges).tolist()}


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    counts = np.bincount(np.searchsorted(edges, v[finite], side="right"), minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, float((~finite).sum()))
    return counts / max(len(v), 1)


def psi(reference: Mapping[str, list[float]], values: np.ndarray) -> float:
    """The population stability index of ``values`` against a :func:`reference_bins` reference."""
    expected = np.maximum(np.asarray(reference["shares"], dtype=np.float64), EMPTY_SHARE)
    actual = np.maximum(_shares(values, np.asarray(reference["edges"], dtype=np.float64)), EMPTY_SHARE)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_report(reference: Mapping[str, Mapping[str, list[float]]], current: Mapping[str, np.ndarray],
                 threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """PSI per column present in both, the largest, and whether it passes ``threshold``."""
    scores = {name: psi(reference[name], current[name]) for name in sorted(reference) if name in current}
    if not scores:
        raise SiyuError("no column to compare: the reference and today's data share none", code="no_data")
    worst = max(scores, key=lambda k: scores[k])
    return {"psi": scores, "worst": worst, "max_psi": scores[worst], "threshold": threshold,
            "stale": scores[worst] > threshold}
