"""Calibrators against independent references: isotonic against scikit-learn's IsotonicRegression, Platt
against statsmodels' logistic regression (plain and on Platt's smoothed targets), and recovery of a
planted calibration curve."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.isotonic import IsotonicRegression

from siyu.core.errors import SiyuError
from siyu.models.churn.calibration import Calibrator, choose_calibrator, fit_isotonic, fit_platt
from siyu.models.churn.metrics import brier


def _scores(seed: int, n: int = 3000, a: float = 1.3, b: float = -1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = np.round(rng.normal(0, 1.5, n), 2)  # rounded: tied scores
    y = (rng.random(n) < 1 / (1 + np.exp(-(a * s + b)))).astype(int)
    return s, y


@pytest.mark.parametrize("seed", range(4))
def test_isotonic_matches_sklearn(seed: int) -> None:
    s, y = _scores(seed)
    cal = fit_isotonic(s, y)
    ref = IsotonicRegression(out_of_bounds="clip").fit(s, y)
    grid = np.r_[np.linspace(s.min() - 1, s.max() + 1, 777), s[:200]]
    np.testing.assert_allclose(cal(grid), ref.predict(grid), atol=1e-12)
    assert len(cal.x) < len(np.unique(s))  # the constant stretches are stored by their ends only


@pytest.mark.parametrize("seed", range(4))
def test_platt_matches_statsmodels(seed: int) -> None:
    s, y = _scores(seed)
    x = sm.add_constant(s)
    plain = fit_platt(s, y, smooth=False)
    ref = sm.Logit(y, x).fit(disp=0).params
    assert (plain.b, plain.a) == pytest.approx(tuple(ref), abs=1e-6)
    smoothed = fit_platt(s, y)
    n_pos, n_neg = y.sum(), len(y) - y.sum()
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    ref_s = sm.GLM(t, x, family=sm.families.Binomial()).fit().params  # fractional targets: the same likelihood
    assert (smoothed.b, smoothed.a) == pytest.approx(tuple(ref_s), abs=1e-6)


def test_platt_recovers_the_planted_curve() -> None:
    s, y = _scores(42, n=40_000, a=0.8, b=0.5)
    cal = fit_platt(s, y)
    assert cal.a == pytest.approx(0.8, abs=0.05) and cal.b == pytest.approx(0.5, abs=0.05)


def test_choose_calibrator_keeps_the_lower_brier() -> None:
    # a step-shaped truth: isotonic fits it, a logistic curve cannot
    rng = np.random.default_rng(1)
    s = rng.uniform(-3, 3, 20_000)
    y = (rng.random(len(s)) < np.where(s > 1, 0.9, 0.05)).astype(int)
    cal, briers = choose_calibrator(s[:10_000], y[:10_000], s[10_000:], y[10_000:])
    assert cal.method == "isotonic" and briers["isotonic"] < briers["platt"]
    assert briers["isotonic"] == pytest.approx(brier(y[10_000:], cal(s[10_000:])))
    s2, y2 = _scores(2, n=20_000)  # a logistic truth: Platt wins
    cal2, briers2 = choose_calibrator(s2[:10_000], y2[:10_000], s2[10_000:], y2[10_000:])
    assert cal2.method == "platt" and briers2["platt"] <= briers2["isotonic"]


def test_calibrators_round_trip_through_a_dict() -> None:
    s, y = _scores(3)
    for cal in (fit_platt(s, y), fit_isotonic(s, y)):
        back = Calibrator.from_dict(cal.to_dict())
        np.testing.assert_array_equal(back(s), cal(s))
    with pytest.raises(SiyuError):
        Calibrator.from_dict({"method": "beta"})
    with pytest.raises(SiyuError):
        fit_platt(np.array([1.0]), np.array([1]))
