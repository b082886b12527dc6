"""CLV: equal to lifetimes' discounted-cash-flow CLV on CDNOW; bands; horizon and discount checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from siyu.core.errors import SiyuError
from siyu.models.clv.bgnbd import BetaGeo
from siyu.models.clv.gamma_gamma import GammaGamma
from siyu.models.clv.value import clv_bands, customer_lifetime_value, monthly_rate
from tests.models.clv.support import cdnow


def test_clv_equals_lifetimes_on_cdnow() -> None:
    """CDNOW is in weeks; lifetimes' freq="W" steps 4.345 weeks a month, so compare in days: ×7."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    d = cdnow(with_monetary=True)
    x, t_x, T, m = d.frequency.values, d.recency.values * 7, d["T"].values * 7, d.monetary.values
    bg_ref = BetaGeoFitter().fit(x, t_x, T)
    rep = x > 0
    gg_ref = GammaGammaFitter().fit(x[rep], m[rep])
    bg = BetaGeo(params=dict(bg_ref.params_))
    gg = GammaGamma(params={"p": gg_ref.params_["p"], "q": gg_ref.params_["q"], "gamma": gg_ref.params_["v"]})
    ours = customer_lifetime_value(bg, gg, x[rep], t_x[rep], T[rep], m[rep], months=12, annual_discount=0.12)
    series = [pd.Series(v[rep]) for v in (x, t_x, T, m)]
    ref = gg_ref.customer_lifetime_value(bg_ref, *series, time=12,
                                         discount_rate=monthly_rate(0.12), freq="D")
    np.testing.assert_allclose(ours, np.asarray(ref), rtol=1e-9)
    assert ours.min() > 0


def test_monthly_rate_is_the_annual_rate_compounded() -> None:
    assert (1 + monthly_rate(0.12)) ** 12 == pytest.approx(1.12, rel=1e-12)
    assert monthly_rate(0.0) == 0.0
    with pytest.raises(SiyuError):
        monthly_rate(-0.1)


def test_discounting_and_horizon_behave() -> None:
    bg = BetaGeo(params={"r": 0.7, "alpha": 40.0, "a": 1.0, "b": 4.0})  # a = 1: the 0/0 limit is taken
    gg = GammaGamma(params={"p": 6.0, "q": 4.0, "gamma": 100.0})
    args = (np.array([3.0, 0.0]), np.array([80.0, 0.0]), np.array([120.0, 30.0]), np.array([210.0, np.nan]))
    undiscounted = customer_lifetime_value(bg, gg, *args, months=12, annual_discount=0.0)
    discounted = customer_lifetime_value(bg, gg, *args, months=12)
    longer = customer_lifetime_value(bg, gg, *args, months=24)
    assert (discounted < undiscounted).all() and (longer > discounted).all()
    # no discount: CLV = E[purchases in 360 days] × expected order value
    expected = bg.expected_purchases(360.0, *args[:3]) * gg.expected_order_value(args[0], args[3])
    np.testing.assert_allclose(undiscounted, expected, rtol=1e-12)
    with pytest.raises(SiyuError):
        customer_lifetime_value(bg, gg, *args, months=0)


def test_bands() -> None:
    got = clv_bands(np.array([5000.0, 3000.0, 2999.99, 300.0, 0.0, 12.0]))
    assert got.tolist() == ["top", "top", "high", "medium", "low", "low"]
    with pytest.raises(SiyuError):
        clv_bands(np.array([1.0]), [("low", 0.0), ("high", 100.0)])
