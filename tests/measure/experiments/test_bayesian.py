"""Bayesian read-out against scipy.integrate / scipy.stats computed independently in the test."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from siyu.core.errors import SiyuError
from siyu.measure.experiments import (
    beta_binomial,
    beta_credible_interval,
    normal_means,
    normal_means_from_stats,
    prob_beta_greater,
)

CASES = [  # conversions_a, n_a, conversions_b, n_b, prior_alpha, prior_beta
    (120, 2400, 156, 2410, 1.0, 1.0),
    (3, 10, 5, 12, 1.0, 1.0),
    (0, 50, 1, 60, 1.0, 1.0),
    (40, 1000, 38, 1000, 1.0, 1.0),
    (4000, 100_000, 4150, 100_000, 1.0, 1.0),
    (30, 400, 41, 380, 0.5, 0.5),  # Jeffreys prior: no whole-number parameter, quadrature path
    (7, 90, 2, 85, 2.3, 17.9),  # informative prior from past campaigns
]


def _panels(*dists: tuple[float, float]) -> list[float]:
    qs = [0.0, 1.0]
    for a, b in dists:
        qs += list(stats.beta.ppf([1e-14, 1e-8, 1e-4, 0.01, 0.1, 0.5, 0.9, 0.99, 1 - 1e-4, 1 - 1e-8, 1 - 1e-14], a, b))
    return sorted(set(q for q in qs if 0.0 <= q <= 1.0))


def _quad(f: Callable[[float], float], edges: list[float]) -> float:
    return sum(integrate.quad(f, lo, hi, epsabs=1e-15, epsrel=1e-13, limit=200)[0]
               for lo, hi in itertools.pairwise(edges))


def _ref_prob_b_beats_a(aa: float, ba: float, ab: float, bb: float) -> float:
    return _quad(lambda x: stats.beta.pdf(x, aa, ba) * stats.beta.sf(x, ab, bb), _panels((aa, ba), (ab, bb)))


def _ref_loss(aa: float, ba: float, ab: float, bb: float, nested: bool = False) -> float:
    """E[max(pA - pB, 0)] = int f_A(x) E[(x - pB)+] dx by quadrature, where the partial expectation
    E[(x - pB)+] = x F_B(x) - int_0^x y f_B(y) dy; the inner integral is the textbook identity
    m_B F_{Beta(aB+1, bB)}(x), or (``nested``) a second quadrature."""
    mean_b = ab / (ab + bb)

    def inner(x: float) -> float:
        if nested:
            part = integrate.quad(lambda y: y * stats.beta.pdf(y, ab, bb), 0.0, x, epsabs=1e-14, epsrel=1e-11)[0]
        else:
            part = mean_b * stats.beta.cdf(x, ab + 1.0, bb)
        return float(x * stats.beta.cdf(x, ab, bb) - part)

    return _quad(lambda x: stats.beta.pdf(x, aa, ba) * inner(x), _panels((aa, ba), (ab, bb)))


@pytest.mark.parametrize("case", CASES)
def test_prob_b_beats_a_against_numerical_integration(case: tuple[float, ...]) -> None:
    xa, na, xb, nb, a0, b0 = case
    r = beta_binomial(int(xa), int(na), int(xb), int(nb), prior_alpha=a0, prior_beta=b0)
    aa, ba, ab, bb = a0 + xa, b0 + na - xa, a0 + xb, b0 + nb - xb
    assert r.posterior_a == (aa, ba) and r.posterior_b == (ab, bb)
    assert r.prob_b_beats_a == pytest.approx(_ref_prob_b_beats_a(aa, ba, ab, bb), abs=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_expected_loss_against_numerical_integration(case: tuple[float, ...]) -> None:
    xa, na, xb, nb, a0, b0 = case
    r = beta_binomial(int(xa), int(na), int(xb), int(nb), prior_alpha=a0, prior_beta=b0)
    aa, ba, ab, bb = a0 + xa, b0 + na - xa, a0 + xb, b0 + nb - xb
    assert r.expected_loss_b == pytest.approx(_ref_loss(aa, ba, ab, bb), rel=1e-8, abs=1e-12)
    assert r.expected_loss_a == pytest.approx(_ref_loss(ab, bb, aa, ba), rel=1e-8, abs=1e-12)
    if na <= 20:  # the fully nested double integral is slow; one small case checks the identity above
        assert r.expected_loss_b == pytest.approx(_ref_loss(aa, ba, ab, bb, nested=True), rel=1e-7)
    # E[max(B-A,0)] - E[max(A-B,0)] = E[B - A]
    assert r.expected_loss_a - r.expected_loss_b == pytest.approx(r.mean_b - r.mean_a, abs=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_credible_intervals_equal_beta_ppf(case: tuple[float, ...]) -> None:
    xa, na, xb, nb, a0, b0 = case
    r = beta_binomial(int(xa), int(na), int(xb), int(nb), prior_alpha=a0, prior_beta=b0, credible_level=0.9)
    ref = stats.beta.ppf([0.05, 0.95], a0 + xb, b0 + nb - xb)
    np.testing.assert_allclose(r.interval_b, ref, rtol=1e-9)
    np.testing.assert_allclose(r.interval_a, stats.beta.ppf([0.05, 0.95], a0 + xa, b0 + na - xa), rtol=1e-9)
    assert beta_credible_interval(3.0, 9.0, 0.5) == pytest.approx(tuple(stats.beta.ppf([0.25, 0.75], 3, 9)),
                                                                  rel=1e-9)


@pytest.mark.parametrize("case", CASES[:4] + CASES[5:])
def test_difference_interval_has_the_stated_tails(case: tuple[float, ...]) -> None:
    xa, na, xb, nb, a0, b0 = case
    r = beta_binomial(int(xa), int(na), int(xb), int(nb), prior_alpha=a0, prior_beta=b0)
    aa, ba, ab, bb = a0 + xa, b0 + na - xa, a0 + xb, b0 + nb - xb
    for d, tail in zip(r.difference_interval, (0.025, 0.975), strict=True):
        edges = sorted(set(_panels((aa, ba)) + [min(1.0, max(0.0, e - d)) for e in _panels((ab, bb))]))
        def integrand(x: float, d: float = d) -> float:
            return float(stats.beta.pdf(x, aa, ba) * stats.beta.cdf(min(1.0, max(0.0, x + d)), ab, bb))

        cdf = _quad(integrand, edges)
        assert cdf == pytest.approx(tail, abs=1e-9)


whole = st.integers(min_value=1, max_value=250)  # totals up to 1,000, where auto uses the closed form
real = st.floats(min_value=0.2, max_value=400.0)


@given(whole, whole, whole, whole)
@settings(max_examples=200, deadline=None)
def test_prob_complement_and_methods_agree(ax: int, bx: int, ay: int, by: int) -> None:
    closed = prob_beta_greater(ax, bx, ay, by, method="closed_form")
    quad = prob_beta_greater(ax, bx, ay, by, method="quadrature")
    # the closed form's documented rounding at these sizes is about 1e-12
    assert closed == pytest.approx(quad, abs=3e-12)
    assert closed + prob_beta_greater(ay, by, ax, bx, method="closed_form") == pytest.approx(1.0, abs=3e-12)


@given(real, real, real, real)
@settings(max_examples=150, deadline=None)
def test_prob_complement_with_any_prior(ax: float, bx: float, ay: float, by: float) -> None:
    p = prob_beta_greater(ax, bx, ay, by)
    assert 0.0 <= p <= 1.0
    assert p + prob_beta_greater(ay, by, ax, bx) == pytest.approx(1.0, abs=1e-11)
    assert prob_beta_greater(ax, bx, ax, bx) == pytest.approx(0.5, abs=1e-11)


def test_singular_posteriors_against_monte_carlo() -> None:
    """Shapes below 1 (U- and J-shaped posteriors): the quadrature path against 4 million draws."""
    rng = np.random.default_rng(12)
    for ax, bx, ay, by in [(0.3, 0.4, 0.6, 0.25), (0.27, 16.6, 5.0, 29.8), (1.03, 0.56, 83.8, 0.63)]:
        p = prob_beta_greater(ax, bx, ay, by)
        mc = np.mean(rng.beta(ax, bx, 4_000_000) > rng.beta(ay, by, 4_000_000))
        assert abs(p - mc) < 5 * np.sqrt(mc * (1 - mc) / 4_000_000)
        assert p + prob_beta_greater(ay, by, ax, bx) == pytest.approx(1.0, abs=1e-12)


def test_more_conversions_win_and_bad_inputs() -> None:
    r = beta_binomial(120, 2400, 156, 2410)
    assert 0.98 < r.prob_b_beats_a < 0.99
    assert r.expected_loss_b < r.expected_loss_a
    assert r.difference_interval[0] < r.difference < r.difference_interval[1]
    with pytest.raises(SiyuError, match="prior_alpha"):
        beta_binomial(1, 10, 2, 10, prior_alpha=0.0)
    with pytest.raises(SiyuError, match="whole-number"):
        prob_beta_greater(0.5, 0.5, 0.5, 0.5, method="closed_form")


def test_normal_means_against_scipy() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.gamma(2.0, 60.0, 3000), rng.gamma(2.0, 63.0, 2800)
    r = normal_means(a, b, credible_level=0.9)
    sa, sb = a.std(ddof=1) / np.sqrt(a.size), b.std(ddof=1) / np.sqrt(b.size)
    d, s = b.mean() - a.mean(), np.hypot(sa, sb)
    assert r.prob_b_beats_a == pytest.approx(stats.norm.sf(0.0, d, s), rel=1e-9)
    np.testing.assert_allclose(r.interval_a, stats.norm.interval(0.9, a.mean(), sa), rtol=1e-9)
    np.testing.assert_allclose(r.difference_interval, stats.norm.interval(0.9, d, s), rtol=1e-9)
    lim = (d - 12 * s, d + 12 * s)
    loss_a = integrate.quad(lambda x: max(x, 0.0) * stats.norm.pdf(x, d, s), *lim, points=[0.0], epsabs=1e-13)[0]
    loss_b = integrate.quad(lambda x: max(-x, 0.0) * stats.norm.pdf(x, d, s), *lim, points=[0.0], epsabs=1e-13)[0]
    assert r.expected_loss_a == pytest.approx(loss_a, rel=1e-9)
    assert r.expected_loss_b == pytest.approx(loss_b, rel=1e-7, abs=1e-12)
    assert normal_means_from_stats(a.mean(), a.var(ddof=1), a.size, b.mean(), b.var(ddof=1), b.size, 0.9) == r
