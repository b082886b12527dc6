"""Bayesian read-out of an A/B test (贝叶斯AB测试): chance to beat control, expected loss, credible intervals.

Conversion rates use the beta-binomial model: a Beta(a0, b0) prior (Beta(1, 1), uniform, by default)
and Binomial data give each arm a Beta(a0 + conversions, b0 + non-conversions) posterior.

- P(B > A) in closed form, Evan Miller (2015), "Formulas for Bayesian A/B Testing"
  (https://www.evanmiller.org/bayesian-ab-testing.html)::

      P(pB > pA) = sum_{i=0}^{aB-1} B(aA+i, bA+bB) / ((bB+i) B(1+i, bB) B(aA, bA))

  summed in log space (log-beta) for stability. It needs a whole-number parameter, and its
  nearly-cancelling log-beta terms lose digits as counts grow, so beyond small counts (or with a
  non-integer prior) the same probability comes from Gauss–Legendre quadrature on panels cut at
  the posteriors' quantiles, accurate to about 1e-13 at any size.
- Expected loss (期望损失) of choosing an arm, Chris Stucchio (2015), "Bayesian A/B Testing at VWO",
  via the size-biasing identity x Beta(x; a, b) = a/(a+b) Beta(x; a+1, b).
- Equal-tailed credible intervals (可信区间) from the inverse regularised incomplete beta function.

Means (ARPU, 客单价) use the normal approximation: with a flat prior each arm's mean is
N(sample mean, s^2 / n) a posteriori (Gelman et al., *Bayesian Data Analysis*, 3rd ed., §2.5, §4.1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from siyu.core.errors import SiyuError
from siyu.measure.experiments._base import (
    ExperimentResult,
    FloatArray,
    as_sample,
    check_alpha,
    check_counts,
    check_positive,
    norm_pdf,
    norm_ppf,
    norm_sf,
)

_MAX_TERMS = 5_000_000  # memory bound of one vectorised closed-form sum
_CLOSED_FORM_MAX = 1_000.0  # auto: closed form only while its rounding stays below ~1e-12
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(24)
# panel edges in probability, from 1e-15 to the median; used on both halves of a distribution
_GRID = np.array([1e-15, 1e-13, 1e-11, 1e-9, 1e-7, 1e-5, 1e-4, 1e-3, 0.005, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5])


def beta_credible_interval(alpha: float, beta: float, level: float = 0.95) -> tuple[float, float]:
    """Equal-tailed interval of Beta(alpha, beta) holding ``level`` of the probability."""
    tail = (1.0 - check_alpha(level, "credible_level")) / 2.0
    return float(special.betaincinv(alpha, beta, tail)), float(special.betaincinv(alpha, beta, 1.0 - tail))


def _is_whole(v: float) -> bool:
    return v == math.floor(v)


def _miller_sum(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X > Y), X ~ Beta(a1, b1), Y ~ Beta(a2, b2), for whole-number a1 (Evan Miller's sum, log space)."""
    i = np.arange(int(a1), dtype=np.float64)
    log_terms = (special.betaln(a2 + i, b1 + b2) - np.log(b1 + i) - special.betaln(1.0 + i, b1)
                 - special.betaln(a2, b2))
    return float(np.exp(special.logsumexp(log_terms)))


def _panels(cuts: FloatArray, g: Callable[[FloatArray], FloatArray]) -> float:
    """Composite Gauss–Legendre of g over the panels between sorted unique ``cuts``."""
    lo, hi = cuts[:-1], cuts[1:]
    half = (hi - lo) / 2.0
    t = (lo + half)[:, None] + half[:, None] * _NODES[None, :]
    return float(np.sum(half[:, None] * _WEIGHTS[None, :] * g(t)))


def _cdf_difference(d: float, ax: float, bx: float, ay: float, by: float) -> float:
    """P(Y - X <= d) for X ~ Beta(ax, bx), Y ~ Beta(ay, by), i.e. E_X[F_Y(X + d)], by quadrature.

    The integral runs over X's probability u, which removes the density (and its singular ends when
    a shape is below 1) from the integrand. The lower half u < 1/2 works with x itself; the upper half
    with z = 1 - x through the mirrored Beta(bx, ax), because doubles cannot resolve x within 1e-16 of
    1 where U- and J-shaped posteriors keep mass. Panels are cut at fixed probabilities and where
    F_Y(x + d) changes fast (Y's quantiles and the clip at 0 and 1), so the integrand is smooth in
    each panel. The outer 1e-15 of probability at each end is left out (the inverse is unreliable there).
    """
    grid = _GRID
    y_q = special.betaincinv(ay, by, _GRID)  # Y's lower quantiles...
    y_c = special.betaincinv(by, ay, _GRID)  # ...and 1 - (Y's upper quantiles), kept exact near 1
    x_points = np.concatenate([y_q - d, 1.0 - y_c - d, [-d, 1.0 - d]])
    z_points = np.concatenate([1.0 - y_q + d, y_c + d, [d, 1.0 + d]])
    u_cuts = np.clip(special.betainc(ax, bx, np.clip(x_points, 0.0, 1.0)), grid[0], 0.5)
    v_cuts = np.clip(special.betainc(bx, ax, np.clip(z_points, 0.0, 1.0)), grid[0], 0.5)

    def lower(u: FloatArray) -> FloatArray:
        x = special.betaincinv(ax, bx, u)
        return np.asarray(special.betainc(ay, by, np.clip(x + d, 0.0, 1.0)))

    def upper(v: FloatArray) -> FloatArray:  # F_Y(1 - z + d) = 1 - I_{z - d}(by, ay)
        z = special.betaincinv(bx, ax, v)
        return np.asarray(special.betaincc(by, ay, np.clip(z - d, 0.0, 1.0)))

    return (_panels(np.unique(np.concatenate([grid, u_cuts])), lower)
            + _panels(np.unique(np.concatenate([grid, v_cuts])), upper))


def prob_beta_greater(alpha_x: float, beta_x: float, alpha_y: float, beta_y: float,
                      method: Literal["auto", "closed_form", "quadrature"] = "auto") -> float:
    """P(X > Y) for independent X ~ Beta(alpha_x, beta_x), Y ~ Beta(alpha_y, beta_y).

    ``closed_form`` is Evan Miller's sum on whichever parameter is a whole number with the fewest
    terms (by symmetry P(X > Y) = 1 - P(Y > X) = P(1-Y > 1-X)). Its log-beta terms are huge numbers
    that nearly cancel, so its absolute error grows with the counts (up to about 1e-12 while the
    parameters add up to 1,000, 1e-9 at a million). ``quadrature`` (Gauss–Legendre on quantile
    panels) stays near 1e-13 at any size. ``auto`` takes the closed form up to that total of 1,000.
    """
    ax, bx, ay, by = (check_positive(v, n) for v, n in
                      ((alpha_x, "alpha_x"), (beta_x, "beta_x"), (alpha_y, "alpha_y"), (beta_y, "beta_y")))
    if method not in ("auto", "closed_form", "quadrature"):
        raise SiyuError(f"method must be auto, closed_form or quadrature, got {method!r}", code="bad_parameter",
                        input_name="method")
    options: list[tuple[float, Callable[[], float]]] = []
    if method != "quadrature" and (method == "closed_form" or ax + bx + ay + by <= _CLOSED_FORM_MAX):
        if _is_whole(ax):
            options.append((ax, lambda: _miller_sum(ax, bx, ay, by)))
        if _is_whole(ay):
            options.append((ay, lambda: 1.0 - _miller_sum(ay, by, ax, bx)))
        if _is_whole(by):
            options.append((by, lambda: _miller_sum(by, ay, bx, ax)))
        if _is_whole(bx):
            options.append((bx, lambda: 1.0 - _miller_sum(bx, ax, by, ay)))
        options = [o for o in options if o[0] <= _MAX_TERMS]
        if method == "closed_form" and not options:
            raise SiyuError("the closed form needs a whole-number parameter (up to 5,000,000)",
                            code="bad_parameter", input_name="method")
    # quadrature: P(Y - X <= 0) = P(X > Y)
    value = min(options, key=lambda o: o[0])[1]() if options else _cdf_difference(0.0, ax, bx, ay, by)
    return float(min(1.0, max(0.0, value)))


def _diff_quantile(q: float, aa: float, ba: float, ab: float, bb: float) -> float:
    """The q-quantile of pB - pA: root of its CDF, bracketed near the normal approximation when possible."""
    def gap(d: float) -> float:
        return _cdf_difference(d, aa, ba, ab, bb) - q

    var = aa * ba / ((aa + ba) ** 2 * (aa + ba + 1.0)) + ab * bb / ((ab + bb) ** 2 * (ab + bb + 1.0))
    guess = ab / (ab + bb) - aa / (aa + ba) + norm_ppf(q) * math.sqrt(var)
    lo, hi = max(-1.0, guess - 2.0 * math.sqrt(var)), min(1.0, guess + 2.0 * math.sqrt(var))
    if not (gap(lo) < 0.0 < gap(hi)):
        lo, hi = -1.0, 1.0
    return float(optimize.brentq(gap, lo, hi, xtol=1e-13, rtol=1e-13))


@dataclass(frozen=True)
class BetaBinomialResult(ExperimentResult):
    """Posterior comparison of two conversion rates (转化率)."""

    prior_alpha: float
    prior_beta: float
    posterior_a: tuple[float, float]  # Beta(alpha, beta) of control
    posterior_b: tuple[float, float]
    mean_a: float
    mean_b: float
    interval_a: tuple[float, float]
    interval_b: tuple[float, float]
    difference: float  # posterior mean of pB - pA
    difference_interval: tuple[float, float]  # equal-tailed, exact quantiles of pB - pA
    prob_b_beats_a: float
    expected_loss_a: float  # E[max(pB - pA, 0)]: rate given up by keeping control
    expected_loss_b: float  # E[max(pA - pB, 0)]: rate given up by shipping treatment
    credible_level: float


def beta_binomial(conversions_a: int, n_a: int, conversions_b: int, n_b: int, prior_alpha: float = 1.0,
                  prior_beta: float = 1.0, credible_level: float = 0.95) -> BetaBinomialResult:
    """Beta-binomial comparison of control A and treatment B. Example::

        beta_binomial(120, 2400, 156, 2410).prob_b_beats_a   # about 0.98
    """
    check_alpha(credible_level, "credible_level")
    a0, b0 = check_positive(prior_alpha, "prior_alpha"), check_positive(prior_beta, "prior_beta")
    xa, na = check_counts(conversions_a, n_a, "control")
    xb, nb = check_counts(conversions_b, n_b, "treatment")
    aa, ba, ab, bb = a0 + xa, b0 + na - xa, a0 + xb, b0 + nb - xb
    ma, mb = aa / (aa + ba), ab / (ab + bb)
    p_b = prob_beta_greater(ab, bb, aa, ba)
    # size-biasing: E[pA 1{pA > pB}] = E[pA] P(Beta(aA+1, bA) > pB), and likewise for pB
    loss_b = ma * prob_beta_greater(aa + 1.0, ba, ab, bb) - mb * prob_beta_greater(aa, ba, ab + 1.0, bb)
    loss_a = mb * prob_beta_greater(ab + 1.0, bb, aa, ba) - ma * prob_beta_greater(ab, bb, aa + 1.0, ba)
    tail = (1.0 - credible_level) / 2.0
    diff_interval = (_diff_quantile(tail, aa, ba, ab, bb), _diff_quantile(1.0 - tail, aa, ba, ab, bb))
    return BetaBinomialResult(
        prior_alpha=a0, prior_beta=b0, posterior_a=(aa, ba), posterior_b=(ab, bb), mean_a=ma, mean_b=mb,
        interval_a=beta_credible_interval(aa, ba, credible_level),
        interval_b=beta_credible_interval(ab, bb, credible_level), difference=mb - ma,
        difference_interval=diff_interval, prob_b_beats_a=p_b, expected_loss_a=max(0.0, loss_a),
        expected_loss_b=max(0.0, loss_b), credible_level=credible_level)


@dataclass(frozen=True)
class NormalMeansResult(ExperimentResult):
    """Posterior comparison of two means under the normal approximation (flat prior)."""

    mean_a: float
    mean_b: float
    sd_a: float  # posterior sd of the mean = standard error
    sd_b: float
    interval_a: tuple[float, float]
    interval_b: tuple[float, float]
    difference: float
    difference_interval: tuple[float, float]
    prob_b_beats_a: float
    expected_loss_a: float  # E[max(muB - muA, 0)]
    expected_loss_b: float  # E[max(muA - muB, 0)]
    credible_level: float


def normal_means_from_stats(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int,
                            credible_level: float = 0.95) -> NormalMeansResult:
    """Normal-approximation posterior of each arm's mean from summary statistics (variance ddof=1)."""
    level = check_alpha(credible_level, "credible_level")
    ma, mb = float(mean_a), float(mean_b)
    if not (math.isfinite(ma) and math.isfinite(mb)):
        raise SiyuError("means must be finite", code="bad_summary_stats", input_name="mean_a")
    sa = math.sqrt(check_positive(var_a, "var_a") / check_positive(n_a, "n_a"))
    sb = math.sqrt(check_positive(var_b, "var_b") / check_positive(n_b, "n_b"))
    z = norm_ppf(1.0 - (1.0 - level) / 2.0)
    delta, s = mb - ma, math.hypot(sa, sb)
    r = delta / s
    # D = muB - muA ~ N(delta, s^2): E[max(D, 0)] = s phi(r) + delta Phi(r); E[max(-D, 0)] = s phi(r) - delta Phi(-r)
    phi = float(norm_pdf(r))
    return NormalMeansResult(
        mean_a=ma, mean_b=mb, sd_a=sa, sd_b=sb, interval_a=(ma - z * sa, ma + z * sa),
        interval_b=(mb - z * sb, mb + z * sb), difference=delta, difference_interval=(delta - z * s, delta + z * s),
        prob_b_beats_a=float(norm_sf(-r)), expected_loss_a=s * phi + delta * float(norm_sf(-r)),
        expected_loss_b=s * phi - delta * float(norm_sf(r)), credible_level=level)


def normal_means(control: npt.ArrayLike, treatment: npt.ArrayLike, credible_level: float = 0.95) -> NormalMeansResult:
    """Normal-approximation posterior comparison of mean(treatment) and mean(control) from raw samples."""
    a = as_sample(control, "control")
    b = as_sample(treatment, "treatment")
    return normal_means_from_stats(float(a.mean()), float(a.var(ddof=1)), a.size, float(b.mean()),
                                   float(b.var(ddof=1)), b.size, credible_level=credible_level)
