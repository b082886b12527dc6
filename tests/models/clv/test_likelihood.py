"""The log-likelihoods equal the published formulas evaluated directly (50-digit arithmetic), and the
analytic gradients equal numerical derivatives."""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime

from siyu.models.clv.likelihood import bgnbd_loglik, gamma_gamma_loglik, mbgnbd_loglik

mp.mp.dps = 50

# hand-picked points: no repeat purchase, a typical customer, a heavy buyer long gone quiet, recency = T
POINTS = [(0, 0.0, 38.86), (2, 30.43, 38.86), (60, 5.0, 400.0), (7, 52.0, 52.0), (1, 0.5, 0.5)]
THETAS = [(0.243, 4.414, 0.793, 2.426), (0.7, 40.0, 1.0, 4.0), (3.5, 0.8, 12.0, 0.6)]


def _beta(x: mp.mpf, y: mp.mpf) -> mp.mpf:
    return mp.gamma(x) * mp.gamma(y) / mp.gamma(x + y)


def bgnbd_published(r: float, alpha: float, a: float, b: float, x: int, t_x: float, T: float) -> mp.mpf:
    """Fader, Hardie & Lee (2005) eq. 6, as printed."""
    r, alpha, a, b, t_x, T = map(mp.mpf, (r, alpha, a, b, t_x, T))
    common = mp.gamma(r + x) * alpha**r / mp.gamma(r)
    lik = _beta(a, b + x) / _beta(a, b) * common / (alpha + T) ** (r + x)
    if x > 0:
        lik += _beta(a + 1, b + x - 1) / _beta(a, b) * common / (alpha + t_x) ** (r + x)
    return mp.log(lik)


def mbgnbd_published(r: float, alpha: float, a: float, b: float, x: int, t_x: float, T: float) -> mp.mpf:
    """Batislam, Denizel & Filiztekin (2007): both terms present for every x (death possible at time 0)."""
    r, alpha, a, b, t_x, T = map(mp.mpf, (r, alpha, a, b, t_x, T))
    common = mp.gamma(r + x) * alpha**r / mp.gamma(r)
    lik = (_beta(a, b + x + 1) / _beta(a, b) * common / (alpha + T) ** (r + x)
           + _beta(a + 1, b + x) / _beta(a, b) * common / (alpha + t_x) ** (r + x))
    return mp.log(lik)


def gamma_gamma_published(p: float, q: float, gamma: float, x: int, m: float) -> mp.mpf:
    """Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", eq. 3."""
    p, q, gamma, m = map(mp.mpf, (p, q, gamma, m))
    px = p * x
    lik = (mp.gamma(px + q) / (mp.gamma(px) * mp.gamma(q)) * gamma**q * m ** (px - 1) * mp.mpf(x) ** px
           / (gamma + x * m) ** (px + q))
    return mp.log(lik)


@pytest.mark.parametrize("theta", THETAS)
@pytest.mark.parametrize(("ours", "published"), [(bgnbd_loglik, bgnbd_published), (mbgnbd_loglik, mbgnbd_published)])
def test_purchase_loglik_equals_the_published_formula(theta: tuple[float, ...], ours: Any, published: Any) -> None:
    x, t_x, T = (np.array(v, dtype=float) for v in zip(*POINTS, strict=True))
    got, _ = ours(*theta, x, t_x, T)
    for i, (xi, ti, Ti) in enumerate(POINTS):
        want = float(published(*theta, xi, ti, Ti))
        assert got[i] == pytest.approx(want, rel=1e-12, abs=1e-10), (theta, POINTS[i])


@pytest.mark.parametrize("theta", [(6.25, 3.74, 15.44), (6.0, 4.0, 100.0), (0.8, 1.5, 3.0)])
def test_gamma_gamma_loglik_equals_the_published_formula(theta: tuple[float, float, float]) -> None:
    cases = [(1, 22.35), (2, 11.77), (14, 240.0), (40, 3.5)]
    x, m = (np.array(v, dtype=float) for v in zip(*cases, strict=True))
    got, _ = gamma_gamma_loglik(*theta, x, m)
    for i, (xi, mi) in enumerate(cases):
        assert got[i] == pytest.approx(float(gamma_gamma_published(*theta, xi, mi)), rel=1e-12, abs=1e-10)


def test_huge_histories_stay_finite() -> None:
    """A customer with 5,000 purchases: the terms underflow in plain arithmetic, not in logs."""
    ll, grad = bgnbd_loglik(0.7, 40.0, 1.0, 4.0, np.array([5000.0]), np.array([10.0]), np.array([3000.0]))
    assert np.isfinite(ll).all() and np.isfinite(grad).all()
    assert float(ll[0]) == pytest.approx(float(bgnbd_published(0.7, 40.0, 1.0, 4.0, 5000, 10.0, 3000.0)), rel=1e-10)


positive = st.floats(min_value=0.05, max_value=20.0)


@settings(max_examples=60, deadline=None)
@given(r=positive, alpha=positive, a=positive, b=positive, x=st.integers(0, 40), frac=st.floats(0.0, 1.0),
       T=st.floats(1.0, 500.0), modified=st.booleans())
def test_purchase_gradients_equal_numerical_derivatives(r: float, alpha: float, a: float, b: float, x: int,
                                                        frac: float, T: float, modified: bool) -> None:
    loglik = mbgnbd_loglik if modified else bgnbd_loglik
    data = (np.array([float(x)]), np.array([frac * T if x else 0.0]), np.array([T]))
    theta = np.array([r, alpha, a, b])
    _, grad = loglik(*theta, *data)
    numeric = approx_fprime(theta, lambda th: float(loglik(*th, *data)[0][0]), 1e-7 * theta)
    np.testing.assert_allclose(grad[:, 0], numeric, rtol=2e-4, atol=2e-5)


@settings(max_examples=60, deadline=None)
@given(p=positive, q=positive, gamma=st.floats(0.5, 500.0), x=st.integers(1, 50), m=st.floats(0.5, 2000.0))
def test_gamma_gamma_gradient_equals_numerical_derivative(p: float, q: float, gamma: float, x: int, m: float) -> None:
    data = (np.array([float(x)]), np.array([m]))
    theta = np.array([p, q, gamma])
    _, grad = gamma_gamma_loglik(*theta, *data)
    numeric = approx_fprime(theta, lambda th: float(gamma_gamma_loglik(*th, *data)[0][0]), 1e-7 * theta)
    np.testing.assert_allclose(grad[:, 0], numeric, rtol=2e-4, atol=2e-5)
