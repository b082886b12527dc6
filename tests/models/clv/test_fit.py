"""Fitting: the published CDNOW estimates, the lifetimes library on the same data, stability from many
starting points, standard errors from an independent numerical Hessian, and parameter recovery that
improves as the data grows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from statsmodels.tools.numdiff import approx_hess

from siyu.core.errors import SiyuError
from siyu.models.clv.bgnbd import BetaGeo, ModifiedBetaGeo
from siyu.models.clv.gamma_gamma import GammaGamma
from tests.models.clv.support import cdnow, simulate


@pytest.fixture(scope="module")
def cd() -> Any:
    return cdnow()


@pytest.fixture(scope="module")
def bg(cd: Any) -> BetaGeo:
    return BetaGeo().fit(cd.frequency.values, cd.recency.values, cd["T"].values)


def test_bgnbd_matches_the_published_cdnow_estimates(bg: BetaGeo) -> None:
    """Fader, Hardie & Lee (2005), section 5: r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.4."""
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for k, v in published.items():
        assert bg.params[k] == pytest.approx(v, abs=6e-4), k
    assert bg.metrics["log_likelihood"] == pytest.approx(-9582.4, abs=0.05)


def test_gamma_gamma_matches_the_published_cdnow_estimates() -> None:
    """Fader & Hardie (2013), the 946 CDNOW repeat customers: p = 6.25, q = 3.74, γ = 15.44."""
    d = cdnow(with_monetary=True)
    gg = GammaGamma().fit(d.frequency.values, d.monetary.values)
    assert gg.metrics["customers"] == 946 and gg.metrics["left_out"] == 2357 - 946
    for k, v in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert gg.params[k] == pytest.approx(v, abs=0.01), k  # published to two decimals


def test_fits_and_predictions_equal_lifetimes(cd: Any, bg: BetaGeo) -> None:
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter

    x, t_x, T = cd.frequency.values, cd.recency.values, cd["T"].values
    ref = BetaGeoFitter().fit(x, t_x, T)
    for k in ("r", "alpha", "a", "b"):
        assert bg.params[k] == pytest.approx(ref.params_[k], rel=2e-5), k
    # predictions at the reference's own parameters, so only the formulas are compared
    same = BetaGeo(params=dict(ref.params_))
    np.testing.assert_allclose(same.expected_purchases(39.0, x, t_x, T),
                               ref.conditional_expected_number_of_purchases_up_to_time(39.0, x, t_x, T), rtol=1e-9)
    np.testing.assert_allclose(same.probability_alive(x, t_x, T), ref.conditional_probability_alive(x, t_x, T),
                               rtol=1e-9)
    np.testing.assert_allclose(same.expected_purchases_new(np.array([10.0, 39.0, 78.0])),
                               ref.expected_number_of_purchases_up_to_time(np.array([10.0, 39.0, 78.0])), rtol=1e-9)

    mref = ModifiedBetaGeoFitter().fit(x, t_x, T)
    mbg = ModifiedBetaGeo().fit(x, t_x, T)
    for k in ("r", "alpha", "a", "b"):
        assert mbg.params[k] == pytest.approx(mref.params_[k], rel=2e-4), k
    msame = ModifiedBetaGeo(params=dict(mref.params_))
    np.testing.assert_allclose(msame.expected_purchases(39.0, x, t_x, T),
                               mref.conditional_expected_number_of_purchases_up_to_time(39.0, x, t_x, T), rtol=1e-9)
    np.testing.assert_allclose(msame.probability_alive(x, t_x, T), mref.conditional_probability_alive(x, t_x, T),
                               rtol=1e-9)

    d = cdnow(with_monetary=True)
    rep = d[d.frequency > 0]
    gref = GammaGammaFitter().fit(rep.frequency.values, rep.monetary.values)
    gsame = GammaGamma(params={"p": gref.params_["p"], "q": gref.params_["q"], "gamma": gref.params_["v"]})
    np.testing.assert_allclose(gsame.expected_order_value(rep.frequency.values, rep.monetary.values),
                               gref.conditional_expected_average_profit(rep.frequency, rep.monetary).values, rtol=1e-12)


def test_the_fit_is_the_same_from_many_starting_points(cd: Any, bg: BetaGeo) -> None:
    rng = np.random.default_rng(0)
    starts = [tuple(np.exp(rng.uniform(np.log(0.05), np.log(20.0), 4))) for _ in range(8)]
    x, t_x, T = cd.frequency.values, cd.recency.values, cd["T"].values
    for start in starts:
        again = BetaGeo().fit(x, t_x, T, starts=[start])
        for k in bg.params:
            assert again.params[k] == pytest.approx(bg.params[k], rel=1e-4), (start, k)
    assert all(s["log_likelihood"] == pytest.approx(bg.metrics["log_likelihood"], abs=1e-6)
               for s in bg.fit_result.starts)  # type: ignore[union-attr]


def test_standard_errors_equal_an_independent_numerical_hessian(cd: Any, bg: BetaGeo) -> None:
    x, t_x, T = cd.frequency.values, cd.recency.values, cd["T"].values
    theta = np.array([bg.params[k] for k in ("r", "alpha", "a", "b")])
    names = ("r", "alpha", "a", "b")

    def total(th: np.ndarray) -> float:
        return float(BetaGeo(params=dict(zip(names, th, strict=True))).log_likelihood(x, t_x, T).sum())

    hess = approx_hess(theta, total)
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    for k, s in zip(("r", "alpha", "a", "b"), se, strict=True):
        assert bg.std_errors[k] == pytest.approx(s, rel=1e-3), k


TRUTH = {"r": 0.7, "alpha": 40.0, "a": 1.0, "b": 4.0}


def _fits(n: int, seeds: range, modified: bool) -> list[BetaGeo | ModifiedBetaGeo]:
    cls = ModifiedBetaGeo if modified else BetaGeo
    return [cls().fit(*simulate(n, **TRUTH, seed=seed, modified=modified)) for seed in seeds]


def _mean_relative_error(fits: list[BetaGeo | ModifiedBetaGeo]) -> float:
    return float(np.mean([abs(f.params[k] / v - 1) for f in fits for k, v in TRUTH.items()]))


@pytest.mark.parametrize("modified", [False, True])
def test_planted_parameters_are_recovered_better_with_more_customers(modified: bool) -> None:
    small, large = _fits(2_000, range(4), modified), _fits(64_000, range(4), modified)
    # sampling error falls like 1/√n (32× the data: ~5.7× smaller); a and b, barely identified in small
    # samples, make the small-sample error heavy-tailed, so at least 2× is required
    assert _mean_relative_error(large) < _mean_relative_error(small) / 2
    assert _mean_relative_error(large) < 0.05
    # and the large-sample errors are what the standard errors say: every |estimate − truth| < 3.5 SE
    for fit in large:
        z = {k: (fit.params[k] - v) / fit.std_errors[k] for k, v in TRUTH.items()}
        assert all(abs(v) < 3.5 for v in z.values()), z


def test_each_model_recovers_its_own_process_and_not_the_other() -> None:
    """MBG/NBD data: MBG/NBD recovers (a, b); BG/NBD, which cannot let one-time buyers die, does not."""
    truth = TRUTH
    x, t_x, T = simulate(100_000, **truth, seed=11, modified=True)
    mbg = ModifiedBetaGeo().fit(x, t_x, T)
    bgf = BetaGeo().fit(x, t_x, T)
    assert all(abs(mbg.params[k] / v - 1) < 0.1 for k, v in truth.items()), mbg.params
    assert mbg.metrics["log_likelihood"] > bgf.metrics["log_likelihood"] + 10


def test_impossible_summaries_are_refused() -> None:
    with pytest.raises(SiyuError) as exc:
        BetaGeo().fit(np.array([1.0, 0.0]), np.array([5.0, 1.0]), np.array([4.0, 3.0]))
    assert exc.value.code == "bad_summary" and "2 customers" in str(exc.value)
    with pytest.raises(SiyuError):
        BetaGeo().fit(np.array([]), np.array([]), np.array([]))
    with pytest.raises(SiyuError) as exc:
        GammaGamma().fit(np.array([0.0, 0.0]), np.array([np.nan, np.nan]))
    assert exc.value.code == "no_data"


def test_save_and_load_round_trip(tmp_path: Any, bg: BetaGeo) -> None:
    bg.save(tmp_path / "m")
    again = BetaGeo.load(tmp_path / "m")
    assert again.params == bg.params and again.std_errors == bg.std_errors
    with pytest.raises(SiyuError):
        ModifiedBetaGeo.load(tmp_path / "m")
