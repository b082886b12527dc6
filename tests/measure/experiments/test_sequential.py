"""mSPRT: the mixture likelihood ratio against numerical integration, and error rates under daily peeking."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from siyu.core.errors import SiyuError
from siyu.measure.experiments import (
    CumulativeStats,
    always_valid_p_values,
    confidence_sequence,
    log_likelihood_ratio,
    msprt,
)

DAYS, PER_DAY, ALPHA = 30, 200, 0.05


def _proportion_peeks(rng: np.random.Generator, p_a: float, p_b: float) -> tuple[CumulativeStats, np.ndarray]:
    n = PER_DAY * np.arange(1, DAYS + 1)
    ca, cb = rng.binomial(PER_DAY, p_a, DAYS).cumsum(), rng.binomial(PER_DAY, p_b, DAYS).cumsum()
    pooled = (ca + cb) / (2 * n)
    z = (cb - ca) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    naive_p = 2 * stats.norm.sf(np.abs(z))  # the fixed-horizon z-test, wrongly read every day
    return CumulativeStats.from_proportions(ca, n, cb, n), naive_p


def test_likelihood_ratio_equals_the_mixture_integral() -> None:
    """Lambda = int N(theta_hat; theta, V) / N(theta_hat; theta0, V) dN(theta; theta0, tau^2)."""
    s = CumulativeStats(n_a=np.array([500.0, 1200.0]), mean_a=np.array([10.0, 10.2]), var_a=np.array([30.0, 33.0]),
                        n_b=np.array([480.0, 1190.0]), mean_b=np.array([10.6, 10.9]), var_b=np.array([36.0, 35.0]))
    tau2, theta0 = 0.25, 0.1
    llr = log_likelihood_ratio(s, tau2=tau2, theta0=theta0)
    for k in range(2):
        v = s.var_a[k] / s.n_a[k] + s.var_b[k] / s.n_b[k]
        d = s.mean_b[k] - s.mean_a[k]
        sd = np.sqrt(v)
        lam, _ = integrate.quad(lambda t, d=d, sd=sd: stats.norm.pdf(d, t, sd) / stats.norm.pdf(d, theta0, sd)
                                * stats.norm.pdf(t, theta0, np.sqrt(tau2)), -20, 20, epsabs=1e-13, limit=200)
        assert llr[k] == pytest.approx(np.log(lam), rel=1e-9)


def test_p_values_are_the_running_minimum_and_dual_to_the_interval() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        s, _ = _proportion_peeks(rng, 0.10, 0.115)
        r = msprt(s, alpha=ALPHA)
        assert np.all(np.diff(r.p_values) <= 0) and np.all((r.p_values > 0) & (r.p_values <= 1))
        np.testing.assert_allclose(r.p_values, np.minimum.accumulate(np.minimum(1, np.exp(-r.log_likelihood_ratio))))
        assert np.all(np.diff(r.ci_low) >= 0) and np.all(np.diff(r.ci_high) <= 0)
        # rejecting H0: diff = 0 means 0 has left the confidence sequence
        rejected = r.p_values < ALPHA
        assert np.all((r.ci_low[rejected] > 0) | (r.ci_high[rejected] < 0))
        if r.stopped_at is not None:
            assert r.p_values[r.stopped_at] < ALPHA and (r.stopped_at == 0 or r.p_values[r.stopped_at - 1] >= ALPHA)


def test_aa_false_positive_rate_when_peeking_daily() -> None:
    rng = np.random.default_rng(2024)
    runs = 2000
    av = naive = 0
    for _ in range(runs):
        s, naive_p = _proportion_peeks(rng, 0.10, 0.10)
        av += msprt(s, alpha=ALPHA).stopped_at is not None
        naive += bool(np.any(naive_p < ALPHA))
    # Monte Carlo sd of a 5% rate over 2000 runs is 0.49%; allow 2 sd of slack above alpha
    assert av / runs <= ALPHA + 0.01
    # the same data read with a fixed-horizon z-test every day: far above alpha (about 0.25 at 30 peeks)
    assert naive / runs > 0.15


def test_aa_false_positive_rate_for_skewed_revenue() -> None:
    rng = np.random.default_rng(99)
    runs = 1000
    hits = 0
    for _ in range(runs):
        ya = rng.lognormal(3.0, 1.0, (DAYS, PER_DAY)) * (rng.random((DAYS, PER_DAY)) < 0.3)
        yb = rng.lognormal(3.0, 1.0, (DAYS, PER_DAY)) * (rng.random((DAYS, PER_DAY)) < 0.3)
        s = CumulativeStats.from_daily_totals(np.full(DAYS, PER_DAY), ya.sum(1), (ya**2).sum(1),
                                              np.full(DAYS, PER_DAY), yb.sum(1), (yb**2).sum(1))
        hits += bool(np.any(always_valid_p_values(s) < ALPHA))
    assert hits / runs <= ALPHA + 0.014  # 2 Monte Carlo sd over 1000 runs


def test_confidence_sequence_covers_the_true_lift_at_every_peek() -> None:
    rng = np.random.default_rng(5)
    runs, missed, stopped = 1000, 0, 0
    for _ in range(runs):
        s, _ = _proportion_peeks(rng, 0.10, 0.13)
        low, high = confidence_sequence(s, alpha=ALPHA)
        missed += bool(np.any((low > 0.03) | (high < 0.03)))
        stopped += msprt(s, alpha=ALPHA).stopped_at is not None
    assert missed / runs <= ALPHA + 0.014
    # a 3-point lift on a 10% rate with 6,000 units an arm is found most of the time
    assert stopped / runs > 0.7


def test_daily_totals_accumulate_like_raw_data() -> None:
    rng = np.random.default_rng(1)
    ya, yb = rng.gamma(2.0, 30.0, (5, 40)), rng.gamma(2.0, 31.0, (5, 50))
    s = CumulativeStats.from_daily_totals(np.full(5, 40), ya.sum(1), (ya**2).sum(1),
                                          np.full(5, 50), yb.sum(1), (yb**2).sum(1))
    for k in range(5):
        a, b = ya[: k + 1].ravel(), yb[: k + 1].ravel()
        assert s.n_a[k] == a.size and s.mean_b[k] == pytest.approx(b.mean(), rel=1e-12)
        assert s.var_a[k] == pytest.approx(a.var(ddof=1), rel=1e-9)
        assert s.var_b[k] == pytest.approx(b.var(ddof=1), rel=1e-9)


def test_tau_choice_and_inputs() -> None:
    s = CumulativeStats.from_proportions([10, 25], [100, 200], [15, 40], [100, 200])
    r = msprt(s, tau2=0.01)
    np.testing.assert_allclose(r.tau2, [0.01, 0.01])
    default = msprt(s)
    np.testing.assert_allclose(default.tau2, 0.01 * (s.var_a + s.var_b) / 2)
    # no conversions yet in either arm: no evidence either way
    empty = CumulativeStats.from_proportions([0, 3], [50, 100], [0, 9], [50, 100])
    assert always_valid_p_values(empty)[0] == 1.0
    with pytest.raises(SiyuError, match="never decreasing"):
        CumulativeStats(np.array([10.0, 5.0]), np.zeros(2), np.ones(2), np.array([10.0, 20.0]), np.zeros(2), np.ones(2))
    with pytest.raises(SiyuError, match="one value per peek"):
        CumulativeStats(np.array([10.0]), np.zeros(2), np.ones(2), np.array([10.0, 20.0]), np.zeros(2), np.ones(2))
    with pytest.raises(SiyuError, match="tau2"):
        msprt(s, tau2=-1.0)
