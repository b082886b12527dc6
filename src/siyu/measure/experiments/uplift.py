"""Uplift by segment (分群增量): the treatment effect in each segment, and whether it really differs.

Per segment the effect is treatment minus control, with the same tests as the whole experiment
(two-proportion z-test for 0/1 outcomes, Welch for means). Reading many segment p-values invites false
"this segment responds" stories, so the segment p-values are corrected together (Holm by default).

Whether the effect differs between segments at all (treatment × segment interaction) is Cochran's Q
on the segment effects with inverse-variance weights (Cochran 1954, "The combination of estimates from
different experiments", Biometrics 10; the meta-analysis form in Borenstein et al. 2009,
*Introduction to Meta-Analysis*, ch. 16)::

    Q = sum_k w_k (d_k - d_w)^2,  w_k = 1 / se_k^2,  d_w = sum_k w_k d_k / sum_k w_k,  Q ~ chi2(K - 1)

with I^2 = max(0, (Q - (K - 1)) / Q) the share of spread beyond chance. Segments must be defined
before the test (pre-treatment attributes such as lifecycle stage or member tier), never by outcomes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from siyu.core.errors import SiyuError
from siyu.measure.experiments._base import ExperimentResult, check_alpha
from siyu.measure.experiments.corrections import CorrectionMethod, adjust_p_values
from siyu.measure.experiments.frequentist import two_proportion_ztest_samples, welch_ttest

OutcomeKind = Literal["proportion", "mean"]


@dataclass(frozen=True)
class SegmentEffect(ExperimentResult):
    """Treatment effect within one segment."""

    segment: str
    n_control: int
    n_treatment: int
    control_value: float  # rate or mean
    treatment_value: float
    effect: float  # treatment - control
    standard_error: float  # unpooled, as used by the interval and by the heterogeneity test
    ci_low: float
    ci_high: float
    p_value: float
    adjusted_p_value: float
    significant: bool  # adjusted p <= alpha (the overall row: its own p)


@dataclass(frozen=True)
class HeterogeneityTest(ExperimentResult):
    """Cochran's Q test that the effect is the same in every segment."""

    q: float
    df: int
    p_value: float
    i_squared: float
    pooled_effect: float  # inverse-variance weighted mean of the segment effects
    segments_used: tuple[str, ...]


@dataclass(frozen=True)
class UpliftResult(ExperimentResult):
    """Effect overall, per segment, and the interaction test."""

    kind: str
    alpha: float
    correction: str
    overall: SegmentEffect
    segments: tuple[SegmentEffect, ...]
    heterogeneity: HeterogeneityTest | None  # None with fewer than two usable segments
    skipped_segments: tuple[str, ...]  # fewer than min_units_per_arm units in an arm, or no variance


def _effect(label: str, control: npt.NDArray[np.float64], treatment: npt.NDArray[np.float64], kind: str,
            alpha: float) -> SegmentEffect:
    if kind == "proportion":
        r = two_proportion_ztest_samples(control, treatment, alpha=alpha)
        se = math.sqrt(r.rate_a * (1 - r.rate_a) / r.n_a + r.rate_b * (1 - r.rate_b) / r.n_b)
        return SegmentEffect(segment=label, n_control=r.n_a, n_treatment=r.n_b, control_value=r.rate_a,
                             treatment_value=r.rate_b, effect=r.difference, standard_error=se, ci_low=r.ci_low,
                             ci_high=r.ci_high, p_value=r.p_value, adjusted_p_value=r.p_value,
                             significant=r.p_value <= alpha)
    w = welch_ttest(control, treatment, alpha=alpha)
    return SegmentEffect(segment=label, n_control=w.n_a, n_treatment=w.n_b, control_value=w.mean_a,
                         treatment_value=w.mean_b, effect=w.difference, standard_error=w.standard_error,
                         ci_low=w.ci_low, ci_high=w.ci_high, p_value=w.p_value, adjusted_p_value=w.p_value,
                         significant=w.p_value <= alpha)


def cochran_q(effects: npt.ArrayLike, standard_errors: npt.ArrayLike,
              labels: tuple[str, ...] | None = None) -> HeterogeneityTest:
    """Cochran's Q test of equal effects across segments (inverse-variance weights)."""
    d = np.asarray(effects, dtype=np.float64)
    se = np.asarray(standard_errors, dtype=np.float64)
    if d.ndim != 1 or d.shape != se.shape or d.size < 2:
        raise SiyuError("need at least two effects with one standard error each", code="bad_segments",
                        input_name="effects")
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(se)) and np.all(se > 0)):
        raise SiyuError("effects must be finite and standard errors positive", code="bad_segments",
                        input_name="standard_errors")
    w = 1.0 / se**2
    pooled = float(np.sum(w * d) / np.sum(w))
    q = float(np.sum(w * (d - pooled) ** 2))
    df = d.size - 1
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    names = labels if labels is not None else tuple(str(i) for i in range(d.size))
    return HeterogeneityTest(q=q, df=df, p_value=float(special.chdtrc(df, q)), i_squared=i2, pooled_effect=pooled,
                             segments_used=names)


def segment_uplift(variant: npt.ArrayLike, segment: npt.ArrayLike, outcome: npt.ArrayLike, control: str = "control",
                   treatment: str = "treatment", kind: OutcomeKind = "proportion", alpha: float = 0.05,
                   correction: CorrectionMethod = "holm", min_units_per_arm: int = 30) -> UpliftResult:
    """Effect of ``treatment`` vs ``control`` overall and in each segment, from per-unit arrays.

    ``variant`` holds each unit's variant name, ``segment`` its segment label (e.g. lifecycle stage
    生命周期), ``outcome`` its metric (0/1 for ``kind="proportion"``). Units of other variants are
    ignored. Segments with fewer than ``min_units_per_arm`` units in an arm are listed as skipped.
    """
    alpha = check_alpha(alpha)
    if kind not in ("proportion", "mean"):
        raise SiyuError(f"kind must be 'proportion' or 'mean', got {kind!r}", code="bad_parameter", input_name="kind")
    if int(min_units_per_arm) < 2:
        raise SiyuError("min_units_per_arm must be at least 2", code="bad_parameter", input_name="min_units_per_arm")
    v = np.asarray(variant).astype(str)
    s = np.asarray(segment).astype(str)
    y = np.asarray(outcome, dtype=np.float64)
    if not (v.ndim == s.ndim == y.ndim == 1 and v.size == s.size == y.size):
        raise SiyuError(f"variant, segment and outcome must be 1-D and of equal length, got {v.shape}, {s.shape}, "
                        f"{y.shape}", code="bad_segments", input_name="outcome")
    in_a, in_b = v == control, v == treatment
    if not in_a.any() or not in_b.any():
        raise SiyuError(f"no units in control {control!r} or treatment {treatment!r}; variants seen: "
                        f"{sorted(set(v.tolist()))[:10]}", code="unknown_variant", input_name="variant")
    overall = _effect("(all)", y[in_a], y[in_b], kind, alpha)
    effects: list[SegmentEffect] = []
    skipped: list[str] = []
    for label in np.unique(s[in_a | in_b]).tolist():
        here = s == label
        ya, yb = y[in_a & here], y[in_b & here]
        if ya.size < min_units_per_arm or yb.size < min_units_per_arm:
            skipped.append(label)
            continue
        if kind == "mean" and np.ptp(ya) == 0 and np.ptp(yb) == 0:
            skipped.append(label)  # every unit has the same value in both arms: no t statistic
            continue
        effects.append(_effect(label, ya, yb, kind, alpha))
    adjusted = adjust_p_values([e.p_value for e in effects], correction) if effects else np.zeros(0)
    segments = tuple(replace(e, adjusted_p_value=float(q), significant=bool(q <= alpha))
                     for e, q in zip(effects, adjusted, strict=True))
    usable = [e for e in segments if e.standard_error > 0]  # a segment where nobody (or everybody) converted
    het = (cochran_q([e.effect for e in usable], [e.standard_error for e in usable],
                     tuple(e.segment for e in usable)) if len(usable) >= 2 else None)
    return UpliftResult(kind=kind, alpha=alpha, correction=correction, overall=overall, segments=segments,
                        heterogeneity=het, skipped_segments=tuple(skipped))
