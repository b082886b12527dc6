"""Interval coverage on simulated experiments planted the way siyu's synthetic world plants its A/B lift.

Each person has a heterogeneous baseline conversion p0 ~ Beta(a, b); a treated person converts with
p0 + min(lift, 1 - p0) (src/siyu/synth/purchases.py). The target is the true average lift
E[min(lift, 1 - p0)], worked out here by quadrature, not by the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from siyu.measure.experiments import two_proportion_ztest, welch_ttest

A0, B0 = 0.5, 0.5  # U-shaped baselines: many persons near 1, so min(lift, 1 - p0) often binds
LIFT = 0.15
RUNS, UNITS = 400, 3000


def _true_average_lift() -> float:
    value, _ = integrate.quad(lambda p: min(LIFT, 1.0 - p) * stats.beta.pdf(p, A0, B0), 0.0, 1.0,
                              points=[1.0 - LIFT], epsabs=1e-13)
    return float(value)


def _simulate(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    p0 = rng.beta(A0, B0, UNITS)
    treated = rng.random(UNITS) < 0.5
    p = p0 + np.where(treated, np.minimum(LIFT, 1.0 - p0), 0.0)
    converted = rng.random(UNITS) < p
    return converted[~treated], converted[treated]


def test_planted_lift_is_not_trivial() -> None:
    true = _true_average_lift()
    assert 0.11 < true < LIFT - 0.02  # the cap at 1 - p0 matters (true is about 0.125)


@pytest.mark.parametrize("test", ["ztest", "welch"])
def test_95_interval_covers_true_average_lift(test: str) -> None:
    rng = np.random.default_rng(20240601)
    true = _true_average_lift()
    covered = 0
    for _ in range(RUNS):
        a, b = _simulate(rng)
        if test == "ztest":
            r = two_proportion_ztest(int(a.sum()), a.size, int(b.sum()), b.size)
            low, high = r.ci_low, r.ci_high
        else:
            w = welch_ttest(a.astype(float), b.astype(float))
            low, high = w.ci_low, w.ci_high
        covered += low <= true <= high
    # binomial sd of the coverage over 400 runs is 1.1%; [0.92, 0.98] is about 2.7 sd each side
    assert 0.92 <= covered / RUNS <= 0.98


def test_coverage_check_can_fail() -> None:
    """The same harness with the interval centred on the capped-less lift misses badly."""
    rng = np.random.default_rng(20240601)
    covered = 0
    for _ in range(RUNS):
        a, b = _simulate(rng)
        r = two_proportion_ztest(int(a.sum()), a.size, int(b.sum()), b.size)
        covered += r.ci_low <= LIFT <= r.ci_high
    assert covered / RUNS < 0.92
