"""Multiple-testing corrections (多重检验校正) for many variants × many metrics.

Testing 3 variants on 5 metrics at alpha = 0.05 makes 15 chances to find a "winner" by luck. The
corrections below adjust the p-values of the whole family at once:

- Bonferroni: ``min(1, m p)``; controls the family-wise error rate (FWER), most conservative.
- Holm (1979), "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6:
  step-down Bonferroni, controls FWER and is never less powerful than Bonferroni.
- Benjamini & Hochberg (1995), "Controlling the false discovery rate", JRSS B 57: controls the
  expected share of false discoveries (FDR) among the rejections; for exploratory metric scans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from siyu.core.errors import SiyuError
from siyu.measure.experiments._base import ExperimentResult, FloatArray, check_alpha
from siyu.measure.experiments.frequentist import mann_whitney, two_proportion_ztest_samples, welch_ttest

CorrectionMethod = Literal["bonferroni", "holm", "bh"]
MetricKind = Literal["proportion", "mean", "rank"]
METHODS: tuple[str, ...] = ("bonferroni", "holm", "bh")
METRIC_KINDS: tuple[str, ...] = ("proportion", "mean", "rank")


def _p_array(p_values: npt.ArrayLike) -> FloatArray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise SiyuError(f"p_values must be 1-D, got shape {p.shape}", code="bad_p_values", input_name="p_values")
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise SiyuError("p_values must be numbers in [0, 1]", code="bad_p_values", input_name="p_values")
    return p


def bonferroni(p_values: npt.ArrayLike) -> FloatArray:
    """Bonferroni-adjusted p-values: ``min(1, m p)``."""
    p = _p_array(p_values)
    return np.minimum(1.0, p * p.size)


def holm(p_values: npt.ArrayLike) -> FloatArray:
    """Holm step-down adjusted p-values: the i-th smallest gets ``max_{j<=i} (m - j + 1) p_(j)``."""
    p = _p_array(p_values)
    m = p.size
    order = np.argsort(p, kind="mergesort")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(1.0, stepped)
    return out


def benjamini_hochberg(p_values: npt.ArrayLike) -> FloatArray:
    """Benjamini–Hochberg adjusted p-values (q-values): ``min_{j>=i} m p_(j) / j``."""
    p = _p_array(p_values)
    m = p.size
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(1.0, stepped)
    return out


_ADJUST = {"bonferroni": bonferroni, "holm": holm, "bh": benjamini_hochberg}


def adjust_p_values(p_values: npt.ArrayLike, method: CorrectionMethod = "holm") -> FloatArray:
    """Adjusted p-values by ``method`` (``bonferroni``, ``holm`` or ``bh``); reject where adjusted <= alpha."""
    if method not in _ADJUST:
        raise SiyuError(f"unknown correction method {method!r}; choose one of {', '.join(METHODS)}",
                        code="bad_correction_method", input_name="method")
    return _ADJUST[method](p_values)


@dataclass(frozen=True)
class Comparison(ExperimentResult):
    """One variant against control on one metric, with its family-adjusted p-value."""

    variant: str
    metric: str
    kind: str
    control_value: float  # rate, mean or median of control
    variant_value: float
    effect: float  # difference in rate/mean; for kind "rank" the common-language effect size (0.5 = none)
    ci_low: float  # per-comparison interval at 1 - alpha (nan for "rank")
    ci_high: float
    p_value: float
    adjusted_p_value: float
    rejected: bool


@dataclass(frozen=True)
class FamilyResult(ExperimentResult):
    """All variant-vs-control comparisons of an experiment, corrected together."""

    control: str
    method: str
    alpha: float
    comparisons: tuple[Comparison, ...]

    def get(self, variant: str, metric: str) -> Comparison:
        """The comparison of ``variant`` with control on ``metric``."""
        for c in self.comparisons:
            if c.variant == variant and c.metric == metric:
                return c
        raise SiyuError(f"no comparison for variant {variant!r} on metric {metric!r}", code="unknown_comparison",
                        input_name="variant")


def compare_variants(samples: Mapping[str, Mapping[str, npt.ArrayLike]], control: str,
                     metrics: Mapping[str, MetricKind], method: CorrectionMethod = "holm",
                     alpha: float = 0.05) -> FamilyResult:
    """Compare every variant with ``control`` on every metric and correct across the whole family.

    ``samples[variant][metric]`` is the per-unit array; ``metrics`` maps each metric to its test:
    ``proportion`` (0/1 outcome, z-test), ``mean`` (Welch) or ``rank`` (Mann–Whitney). Example::

        compare_variants({"control": {"buy": a1, "revenue": r1}, "coupon": {"buy": b1, "revenue": r2}},
                         control="control", metrics={"buy": "proportion", "revenue": "mean"})
    """
    alpha = check_alpha(alpha)
    if method not in _ADJUST:
        raise SiyuError(f"unknown correction method {method!r}; choose one of {', '.join(METHODS)}",
                        code="bad_correction_method", input_name="method")
    if control not in samples:
        raise SiyuError(f"control variant {control!r} is not among {sorted(samples)}", code="unknown_variant",
                        input_name="control")
    if not metrics:
        raise SiyuError("metrics must name at least one metric", code="bad_metrics", input_name="metrics")
    for metric, kind in metrics.items():
        if kind not in METRIC_KINDS:
            raise SiyuError(f"metric {metric!r} has unknown kind {kind!r}; choose one of {', '.join(METRIC_KINDS)}",
                            code="bad_metrics", input_name="metrics")
    variants = [v for v in samples if v != control]
    if not variants:
        raise SiyuError("need at least one variant besides control", code="bad_variants", input_name="samples")
    rows: list[tuple[str, str, str, float, float, float, float, float, float]] = []
    for variant in variants:
        for metric, kind in metrics.items():
            for arm in (control, variant):
                if metric not in samples[arm]:
                    raise SiyuError(f"variant {arm!r} has no data for metric {metric!r}", code="missing_metric",
                                    input_name="samples")
            a, b = samples[control][metric], samples[variant][metric]
            if kind == "proportion":
                r = two_proportion_ztest_samples(a, b, alpha=alpha)
                rows.append((variant, metric, kind, r.rate_a, r.rate_b, r.difference, r.ci_low, r.ci_high, r.p_value))
            elif kind == "mean":
                w = welch_ttest(a, b, alpha=alpha)
                rows.append((variant, metric, kind, w.mean_a, w.mean_b, w.difference, w.ci_low, w.ci_high, w.p_value))
            else:
                u = mann_whitney(a, b)
                rows.append((variant, metric, kind, u.median_a, u.median_b, u.common_language_effect,
                             float("nan"), float("nan"), u.p_value))
    adjusted = adjust_p_values([r[-1] for r in rows], method)
    comparisons = tuple(
        Comparison(variant=r[0], metric=r[1], kind=r[2], control_value=r[3], variant_value=r[4], effect=r[5],
                   ci_low=r[6], ci_high=r[7], p_value=r[8], adjusted_p_value=float(q), rejected=bool(q <= alpha))
        for r, q in zip(rows, adjusted, strict=True))
    return FamilyResult(control=control, method=method, alpha=alpha, comparisons=comparisons)
