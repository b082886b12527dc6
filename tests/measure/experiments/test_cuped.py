"""CUPED: theta against least squares, variance reduction ~ rho^2 on planted data, unbiased over seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from siyu.core.errors import SiyuError
from siyu.measure.experiments import cuped, cuped_theta

EFFECT = 0.5


def _experiment(rng: np.random.Generator, rho: float,
                n: int = 4000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pre-period X and in-test Y with corr(X, Y) = rho within an arm; treatment adds EFFECT to Y."""
    x = rng.normal(50.0, 10.0, 2 * n)
    noise = rng.normal(0.0, 10.0, 2 * n)
    y = 100.0 + rho * (x - 50.0) + np.sqrt(1.0 - rho**2) * noise
    y[n:] += EFFECT
    return y[:n], y[n:], x[:n], x[n:]


def test_theta_equals_least_squares_slope_and_welch_on_adjusted_values() -> None:
    rng = np.random.default_rng(1)
    ya, yb, xa, xb = _experiment(rng, 0.7)
    r = cuped(ya, yb, xa, xb)
    y, x = np.concatenate([ya, yb]), np.concatenate([xa, xb])
    fit = stats.linregress(x, y)
    assert r.theta == pytest.approx(fit.slope, rel=1e-9)
    assert cuped_theta(y, x) == pytest.approx(fit.slope, rel=1e-9)
    assert r.correlation == pytest.approx(fit.rvalue, rel=1e-9)
    ref = stats.ttest_ind(yb - fit.slope * (xb - x.mean()), ya - fit.slope * (xa - x.mean()), equal_var=False)
    assert r.adjusted.t == pytest.approx(ref.statistic, rel=1e-9)
    assert r.adjusted.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval()
    assert (r.adjusted.ci_low, r.adjusted.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert r.unadjusted.t == pytest.approx(stats.ttest_ind(yb, ya, equal_var=False).statistic, rel=1e-9)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8, 0.95])
def test_variance_reduction_is_about_rho_squared(rho: float) -> None:
    rng = np.random.default_rng(int(rho * 100) + 3)
    r = cuped(*_experiment(rng, rho, n=20_000))
    # sampling error of r^2 at n = 40k is below 0.01 for every rho here
    assert r.variance_reduction == pytest.approx(rho**2, abs=0.015)


def test_unbiased_and_tighter_over_seeds() -> None:
    rng = np.random.default_rng(42)
    rho, runs = 0.8, 300
    adj, raw = np.empty(runs), np.empty(runs)
    for i in range(runs):
        r = cuped(*_experiment(rng, rho, n=2000))
        adj[i], raw[i] = r.adjusted.difference, r.unadjusted.difference
    # mean within 4 standard errors of the planted effect
    assert abs(adj.mean() - EFFECT) < 4 * adj.std(ddof=1) / np.sqrt(runs)
    # spread shrinks by sqrt(1 - rho^2) = 0.6; the sd ratio over 300 runs is within about +-0.06
    assert adj.std(ddof=1) / raw.std(ddof=1) == pytest.approx(np.sqrt(1 - rho**2), abs=0.08)


def test_bad_inputs() -> None:
    with pytest.raises(SiyuError, match="constant"):
        cuped([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    with pytest.raises(SiyuError, match="align") as err:
        cuped([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [1.0, 2.0], [1.0, 2.0, 3.0])
    assert err.value.input_name == "control_pre"
