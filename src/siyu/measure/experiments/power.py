"""Power analysis (功效分析): sample size per arm (样本量), power, minimum detectable effect (MDE, 最小可检测效应).

All tests are two-sided. ``ratio`` is n_treatment / n_control (1 = equal arms).

Proportions (转化率):

- ``method="pooled"`` (default) matches ``two_proportion_ztest``: the critical value uses the pooled
  rate's standard error (true under H0), the spread under H1 uses each arm's own rate
  (Fleiss, Levin & Paik 2003, *Statistical Methods for Rates and Proportions*, §4.2; Chow, Shao &
  Wang 2008, *Sample Size Calculations in Clinical Research*, §4.2)::

      power = Phi((|d| - z sigma0) / sigma1) + Phi((-|d| - z sigma0) / sigma1)
      sigma0^2 = pbar (1 - pbar) (1/nA + 1/nB),  sigma1^2 = pA (1 - pA)/nA + pB (1 - pB)/nB

- ``method="arcsine"``: Cohen's effect size h = 2 asin(sqrt(pB)) - 2 asin(sqrt(pA)) on the
  variance-stabilised scale (Cohen 1988, *Statistical Power Analysis*, ch. 6), the convention of
  statsmodels' ``NormalIndPower`` with ``proportion_effectsize``.

Means: ``test="t"`` (default) uses the noncentral t with nA + nB - 2 degrees of freedom (Cohen 1988,
ch. 2), ``test="z"`` the normal approximation. Sample sizes are solved numerically (Brent's method)
on the exact power, both tails included, then rounded up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from scipy import optimize, special

from siyu.core.errors import SiyuError
from siyu.measure.experiments._base import ExperimentResult, check_alpha, check_positive, norm_ppf, norm_sf

ProportionMethod = Literal["pooled", "arcsine"]
MeansTest = Literal["t", "z"]
_MAX_N = 1e12


@dataclass(frozen=True)
class SampleSizeResult(ExperimentResult):
    """Units needed in each arm to detect ``effect`` with the target power."""

    n_control: int
    n_treatment: int
    n_total: int
    n_control_exact: float  # the continuous solution before rounding up
    power: float  # achieved power at the rounded sizes
    target_power: float
    alpha: float
    ratio: float
    effect: float  # absolute difference treatment - control
    method: str


@dataclass(frozen=True)
class MDEResult(ExperimentResult):
    """Smallest true effect detected with the target power at the given sample sizes."""

    effect: float  # absolute difference treatment - control (upward)
    relative_effect: float  # effect / control value (nan for means without a baseline)
    standardized_effect: float  # Cohen's d (means), h (arcsine) or effect / sqrt(p(1-p)) (pooled)
    n_control: float
    n_treatment: float
    power: float
    alpha: float
    method: str


def _check_rate(p: float, name: str) -> float:
    v = float(p)
    if not 0.0 < v < 1.0:
        raise SiyuError(f"{name} must be a rate strictly between 0 and 1, got {p!r}", code="bad_rate", input_name=name)
    return v


def _check_ratio(ratio: float) -> float:
    return check_positive(ratio, "ratio")


def _power_pooled(pa: float, pb: float, na: float, nb: float, alpha: float) -> float:
    pbar = (na * pa + nb * pb) / (na + nb)
    s0 = math.sqrt(pbar * (1.0 - pbar) * (1.0 / na + 1.0 / nb))
    s1 = math.sqrt(pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb)
    z, d = norm_ppf(1.0 - alpha / 2.0), abs(pb - pa)
    return float(norm_sf((z * s0 - d) / s1) + norm_sf((z * s0 + d) / s1))


def _power_normal(effect: float, na: float, nb: float, alpha: float) -> float:
    """Power of a two-sided z-test of a standardised effect (statsmodels' normal_power)."""
    shift = abs(effect) * math.sqrt(1.0 / (1.0 / na + 1.0 / nb))
    z = norm_ppf(1.0 - alpha / 2.0)
    return float(norm_sf(z - shift) + norm_sf(z + shift))


def _power_t(effect: float, na: float, nb: float, alpha: float) -> float:
    df = na + nb - 2.0
    nc = abs(effect) * math.sqrt(1.0 / (1.0 / na + 1.0 / nb))
    crit = float(special.stdtrit(df, 1.0 - alpha / 2.0))
    return float(1.0 - _nct_cdf(df, nc, crit) + _nct_cdf(df, nc, -crit))


def _nct_cdf(df: float, nc: float, t: float) -> float:
    value = float(special.nctdtr(df, nc, t))
    # nctdtr can return NaN deep in a tail (seen at df ~ 3e5, nc ~ 38); the normal limit is exact enough there
    return value if math.isfinite(value) else float(special.ndtr(t - nc))


def _arcsine_h(pa: float, pb: float) -> float:
    return 2.0 * math.asin(math.sqrt(pb)) - 2.0 * math.asin(math.sqrt(pa))


def _proportion_power_fn(pa: float, pb: float, alpha: float, method: str) -> Callable[[float, float], float]:
    if method == "pooled":
        return lambda na, nb: _power_pooled(pa, pb, na, nb, alpha)
    if method == "arcsine":
        h = _arcsine_h(pa, pb)
        return lambda na, nb: _power_normal(h, na, nb, alpha)
    raise SiyuError(f"method must be 'pooled' or 'arcsine', got {method!r}", code="bad_parameter", input_name="method")


def _means_power_fn(d: float, alpha: float, test: str) -> Callable[[float, float], float]:
    if test == "t":
        return lambda na, nb: _power_t(d, na, nb, alpha)
    if test == "z":
        return lambda na, nb: _power_normal(d, na, nb, alpha)
    raise SiyuError(f"test must be 't' or 'z', got {test!r}", code="bad_parameter", input_name="test")


def _solve_n(power_fn: Callable[[float, float], float], target: float, ratio: float, lower: float) -> float:
    def gap(n: float) -> float:
        return power_fn(n, n * ratio) - target

    if gap(lower) >= 0:
        return lower
    hi = 2.0 * lower
    while gap(hi) < 0:  # double up to a bracket, so the solver never evaluates absurd sizes
        lower, hi = hi, 2.0 * hi
        if hi > _MAX_N:
            raise SiyuError(f"the effect is too small to reach power {target:g} with up to {_MAX_N:.0e} units "
                            "an arm", code="effect_too_small", input_name="effect")
    return float(optimize.brentq(gap, lower, hi, xtol=1e-10, rtol=1e-13, maxiter=500))


def _sample_size(power_fn: Callable[[float, float], float], alpha: float, power: float, ratio: float,
                 effect: float, method: str, lower: float) -> SampleSizeResult:
    n = _solve_n(power_fn, power, ratio, lower)
    na, nb = math.ceil(n - 1e-9), math.ceil(n * ratio - 1e-9)
    return SampleSizeResult(n_control=na, n_treatment=nb, n_total=na + nb, n_control_exact=n,
                            power=power_fn(na, nb), target_power=power, alpha=alpha, ratio=ratio, effect=effect,
                            method=method)


def power_proportions(p_control: float, p_treatment: float, n_control: float, alpha: float = 0.05,
                      ratio: float = 1.0, method: ProportionMethod = "pooled") -> float:
    """Power of the two-sided two-proportion test with ``n_control`` and ``ratio * n_control`` units."""
    pa, pb = _check_rate(p_control, "p_control"), _check_rate(p_treatment, "p_treatment")
    na, r = check_positive(n_control, "n_control"), _check_ratio(ratio)
    return _proportion_power_fn(pa, pb, check_alpha(alpha), method)(na, na * r)


def sample_size_proportions(p_control: float, p_treatment: float, alpha: float = 0.05, power: float = 0.8,
                            ratio: float = 1.0, method: ProportionMethod = "pooled") -> SampleSizeResult:
    """Units per arm to detect a change of conversion rate from ``p_control`` to ``p_treatment``. Example::

        sample_size_proportions(0.05, 0.06).n_control    # about 8,160 a arm
    """
    pa, pb = _check_rate(p_control, "p_control"), _check_rate(p_treatment, "p_treatment")
    if pa == pb:
        raise SiyuError("p_treatment equals p_control: no effect to detect", code="effect_too_small",
                        input_name="p_treatment")
    alpha, power = check_alpha(alpha), check_alpha(power, "power")
    fn = _proportion_power_fn(pa, pb, alpha, method)
    return _sample_size(fn, alpha, power, _check_ratio(ratio), pb - pa, method, 1.0)


def mde_proportions(p_control: float, n_control: float, alpha: float = 0.05, power: float = 0.8,
                    ratio: float = 1.0, method: ProportionMethod = "pooled") -> MDEResult:
    """Smallest upward absolute lift of the conversion rate detected with ``power``."""
    pa, na = _check_rate(p_control, "p_control"), check_positive(n_control, "n_control")
    alpha, power, r = check_alpha(alpha), check_alpha(power, "power"), _check_ratio(ratio)

    def gap(lift: float) -> float:
        return _proportion_power_fn(pa, pa + lift, alpha, method)(na, na * r) - power

    top = (1.0 - pa) * (1.0 - 1e-12)
    if gap(top) < 0:
        raise SiyuError(f"even a lift to 100% is not detected with power {power:g} at {na:g} units",
                        code="sample_too_small", input_name="n_control")
    lift = float(optimize.brentq(gap, 1e-12, top, xtol=1e-15, rtol=1e-13, maxiter=500))
    std = _arcsine_h(pa, pa + lift) if method == "arcsine" else lift / math.sqrt(pa * (1.0 - pa))
    return MDEResult(effect=lift, relative_effect=lift / pa, standardized_effect=std, n_control=na,
                     n_treatment=na * r, power=power, alpha=alpha, method=method)


def power_means(difference: float, sd: float, n_control: float, alpha: float = 0.05, ratio: float = 1.0,
                test: MeansTest = "t") -> float:
    """Power of the two-sided two-sample test of a difference in means (common ``sd`` per unit)."""
    d = float(difference) / check_positive(sd, "sd")
    na, r = check_positive(n_control, "n_control"), _check_ratio(ratio)
    if test == "t" and na * (1.0 + r) <= 2.0:
        raise SiyuError("the t-test needs more than 2 units in total", code="sample_too_small", input_name="n_control")
    return _means_power_fn(d, check_alpha(alpha), test)(na, na * r)


def sample_size_means(difference: float, sd: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0,
                      test: MeansTest = "t") -> SampleSizeResult:
    """Units per arm to detect ``difference`` in means (e.g. ARPU) when units vary with ``sd``."""
    diff = float(difference)
    if not math.isfinite(diff) or diff == 0:
        raise SiyuError(f"difference must be a non-zero number, got {difference!r}", code="effect_too_small",
                        input_name="difference")
    d = diff / check_positive(sd, "sd")
    alpha, power, r = check_alpha(alpha), check_alpha(power, "power"), _check_ratio(ratio)
    fn = _means_power_fn(d, alpha, test)
    return _sample_size(fn, alpha, power, r, diff, test, 2.0)


def mde_means(sd: float, n_control: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0,
              test: MeansTest = "t") -> MDEResult:
    """Smallest difference in means detected with ``power`` (also as Cohen's d = effect / sd)."""
    s, na = check_positive(sd, "sd"), check_positive(n_control, "n_control")
    alpha, power, r = check_alpha(alpha), check_alpha(power, "power"), _check_ratio(ratio)
    if test == "t" and na * (1.0 + r) <= 2.0:
        raise SiyuError("the t-test needs more than 2 units in total", code="sample_too_small", input_name="n_control")

    def gap(d: float) -> float:
        return _means_power_fn(d, alpha, test)(na, na * r) - power

    hi = 1.0
    while gap(hi) < 0:
        hi *= 2.0
        if hi > 1e6:
            raise SiyuError("no effect reaches the target power at this sample size", code="sample_too_small",
                            input_name="n_control")
    d = float(optimize.brentq(gap, 1e-12, hi, xtol=1e-15, rtol=1e-13, maxiter=500))
    return MDEResult(effect=d * s, relative_effect=math.nan, standardized_effect=d, n_control=na,
                     n_treatment=na * r, power=power, alpha=alpha, method=test)
