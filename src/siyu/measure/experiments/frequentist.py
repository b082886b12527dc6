"""Fixed-horizon tests of an A/B test (AB测试): two proportions, Welch's t, Mann–Whitney U.

Every comparison is treatment (B) minus control (A), two-sided. Run each test once, at the sample
size planned in advance (see ``power``); for daily peeking use ``sequential`` instead.

References
----------
- Two-proportion z-test: Fleiss, Levin & Paik (2003), *Statistical Methods for Rates and Proportions*,
  ch. 3 (pooled standard error under H0, unpooled Wald interval); Katz et al. (1978) for the
  log risk-ratio interval behind the relative lift.
- Welch (1947), "The generalization of Student's problem when several different population variances
  are involved", Biometrika 34; Satterthwaite (1946) for the degrees of freedom.
- Mann & Whitney (1947); tie correction and continuity correction as in Lehmann (1975),
  *Nonparametrics*, ch. 1; McGraw & Wong (1992) for the common-language effect size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from siyu.core.errors import SiyuError
from siyu.measure.experiments._base import (
    ExperimentResult,
    FloatArray,
    as_sample,
    binary_sample,
    check_alpha,
    check_counts,
    norm_ppf,
    norm_sf,
    t_ppf,
    two_sided_normal_p,
    two_sided_t_p,
)


@dataclass(frozen=True)
class ProportionTestResult(ExperimentResult):
    """Two-proportion z-test: conversion rate (转化率) of control A and treatment B."""

    conversions_a: int
    n_a: int
    conversions_b: int
    n_b: int
    rate_a: float
    rate_b: float
    difference: float  # rate_b - rate_a, absolute lift
    z: float  # pooled standard error (the test under H0: equal rates)
    p_value: float
    ci_low: float  # Wald interval of the difference, unpooled standard error
    ci_high: float
    relative_lift: float  # rate_b / rate_a - 1
    relative_ci_low: float  # Katz log risk-ratio interval, minus 1
    relative_ci_high: float
    alpha: float


def two_proportion_ztest(conversions_a: int, n_a: int, conversions_b: int, n_b: int,
                         alpha: float = 0.05) -> ProportionTestResult:
    """Two-sided z-test of rate_b - rate_a = 0 with a Wald interval for the difference.

    The test uses the pooled rate (what H0 says); the interval uses each arm's own rate (what the data
    say), so the interval is honest when the rates differ. Example::

        two_proportion_ztest(120, 2400, 156, 2410)
    """
    alpha = check_alpha(alpha)
    xa, na = check_counts(conversions_a, n_a, "control")
    xb, nb = check_counts(conversions_b, n_b, "treatment")
    pa, pb = xa / na, xb / nb
    diff = pb - pa
    pooled = (xa + xb) / (na + nb)
    se0 = math.sqrt(pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb))
    # all units converted or none did: the arms cannot differ, so there is no evidence against H0
    z = diff / se0 if se0 > 0 else 0.0
    p = two_sided_normal_p(z) if se0 > 0 else 1.0
    se1 = math.sqrt(pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb)
    crit = norm_ppf(1.0 - alpha / 2.0)
    if xa > 0 and xb > 0:
        ratio = pb / pa
        se_log = math.sqrt(1.0 / xb - 1.0 / nb + 1.0 / xa - 1.0 / na)
        rel = (ratio - 1.0, math.exp(math.log(ratio) - crit * se_log) - 1.0,
               math.exp(math.log(ratio) + crit * se_log) - 1.0)
    else:  # no conversions in an arm: the ratio (or its log interval) is undefined
        rel = (pb / pa - 1.0 if xa > 0 else math.nan, math.nan, math.nan)
    return ProportionTestResult(
        conversions_a=int(xa), n_a=int(na), conversions_b=int(xb), n_b=int(nb), rate_a=pa, rate_b=pb,
        difference=diff, z=z, p_value=p, ci_low=diff - crit * se1, ci_high=diff + crit * se1,
        relative_lift=rel[0], relative_ci_low=rel[1], relative_ci_high=rel[2], alpha=alpha)


def two_proportion_ztest_samples(control: npt.ArrayLike, treatment: npt.ArrayLike,
                                 alpha: float = 0.05) -> ProportionTestResult:
    """The two-proportion z-test from per-unit 0/1 outcomes (converted or not)."""
    xa, na = binary_sample(control, "control")
    xb, nb = binary_sample(treatment, "treatment")
    return two_proportion_ztest(int(xa), int(na), int(xb), int(nb), alpha=alpha)


@dataclass(frozen=True)
class WelchResult(ExperimentResult):
    """Welch's t-test of a difference in means (e.g. ARPU, average order value 客单价)."""

    mean_a: float
    mean_b: float
    n_a: int
    n_b: int
    difference: float  # mean_b - mean_a
    standard_error: float
    t: float
    df: float  # Welch–Satterthwaite
    p_value: float
    ci_low: float
    ci_high: float
    relative_lift: float  # difference / mean_a (nan when mean_a == 0)
    alpha: float


def welch_ttest_from_stats(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int,
                           alpha: float = 0.05) -> WelchResult:
    """Welch's t-test from summary statistics (sample variances with ddof=1)."""
    alpha = check_alpha(alpha)
    stats = [float(v) for v in (mean_a, var_a, n_a, mean_b, var_b, n_b)]
    if not all(math.isfinite(v) for v in stats):
        raise SiyuError(f"summary statistics must be finite, got {stats}", code="bad_summary_stats",
                        input_name="stats")
    ma, va, na, mb, vb, nb = stats
    if na < 2 or nb < 2 or va < 0 or vb < 0:
        raise SiyuError(f"need n >= 2 and variances >= 0 in both arms, got n=({na:g}, {nb:g}), "
                        f"var=({va:g}, {vb:g})", code="bad_summary_stats", input_name="stats")
    qa, qb = va / na, vb / nb
    se = math.sqrt(qa + qb)
    if se == 0:
        raise SiyuError("both arms have zero variance; the t statistic is undefined", code="zero_variance",
                        input_name="stats")
    diff = mb - ma
    df = (qa + qb) ** 2 / (qa * qa / (na - 1.0) + qb * qb / (nb - 1.0))
    t = diff / se
    half = t_ppf(1.0 - alpha / 2.0, df) * se
    return WelchResult(mean_a=ma, mean_b=mb, n_a=int(na), n_b=int(nb), difference=diff, standard_error=se,
                       t=t, df=df, p_value=two_sided_t_p(t, df), ci_low=diff - half, ci_high=diff + half,
                       relative_lift=diff / ma if ma != 0 else math.nan, alpha=alpha)


def welch_ttest(control: npt.ArrayLike, treatment: npt.ArrayLike, alpha: float = 0.05) -> WelchResult:
    """Welch's t-test (unequal variances) of mean(treatment) - mean(control), with its interval."""
    a = as_sample(control, "control")
    b = as_sample(treatment, "treatment")
    return welch_ttest_from_stats(float(a.mean()), float(a.var(ddof=1)), a.size,
                                  float(b.mean()), float(b.var(ddof=1)), b.size, alpha=alpha)


@dataclass(frozen=True)
class MannWhitneyResult(ExperimentResult):
    """Mann–Whitney U test for skewed metrics such as revenue per user (人均收入)."""

    n_a: int
    n_b: int
    u_b: float  # U statistic of the treatment: pairs (a, b) with b > a, ties counting 1/2
    z: float
    p_value: float
    common_language_effect: float  # P(B > A) + P(B = A)/2 = u_b / (n_a n_b); 0.5 means no shift
    median_a: float
    median_b: float


def rank_average(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Ranks 1..n with ties given their average rank, and the size of every tie group."""
    order = np.argsort(values, kind="mergesort")
    sorted_v = values[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_v[1:] != sorted_v[:-1]]))
    sizes = np.diff(np.concatenate([starts, [values.size]]))
    avg = starts + (sizes + 1) / 2.0  # ranks starts+1 .. starts+size, averaged
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, sizes)
    return ranks, sizes.astype(np.float64)


def mann_whitney(control: npt.ArrayLike, treatment: npt.ArrayLike) -> MannWhitneyResult:
    """Two-sided Mann–Whitney U test, normal approximation with tie and continuity corrections.

    Tests whether treatment values tend to be larger than control values (stochastic ordering), which
    is robust to the heavy right tail of revenue but is not a test of the means.
    """
    a = as_sample(control, "control", min_size=1)
    b = as_sample(treatment, "treatment", min_size=1)
    na, nb = float(a.size), float(b.size)
    n = na + nb
    ranks, ties = rank_average(np.concatenate([b, a]))
    u_b = float(ranks[: b.size].sum()) - nb * (nb + 1.0) / 2.0
    mu = na * nb / 2.0
    tie_term = float(np.sum(ties**3 - ties)) / (n * (n - 1.0)) if n > 1 else 0.0
    var = na * nb / 12.0 * ((n + 1.0) - tie_term)
    if var <= 0:  # every value equal: no ordering to detect
        z, p = 0.0, 1.0
    else:
        dev = abs(u_b - mu) - 0.5  # continuity correction toward the mean
        p = float(min(1.0, 2.0 * norm_sf(dev / math.sqrt(var))))
        z = math.copysign(max(dev, 0.0), u_b - mu) / math.sqrt(var)
    return MannWhitneyResult(n_a=int(na), n_b=int(nb), u_b=u_b, z=z, p_value=p,
                             common_language_effect=u_b / (na * nb), median_a=float(np.median(a)),
                             median_b=float(np.median(b)))
