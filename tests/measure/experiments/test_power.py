"""Power and sample size against statsmodels.stats.power (like with like) and by simulation.

Tolerances: the power functions themselves are compared to 1e-9. Solved sizes are compared with
statsmodels' own root finder to rel 1e-6 and solved effects to rel 1e-4 (its tolerances, not ours);
each solution is also checked exactly by feeding it back into statsmodels' power function (1e-9).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from siyu.core.errors import SiyuError
from siyu.measure.experiments import (
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
    two_proportion_ztest,
)

SOLVER = 1e-6  # statsmodels' solve_power tolerance for sample sizes
# for effect sizes its solver stops early: e.g. at nobs1=5000 its h gives power 0.79997, not 0.8, so
# solved effects are held to rel 1e-4 and checked exactly through statsmodels' power function instead
SOLVER_EFFECT = 1e-4


@pytest.mark.parametrize(("pa", "pb", "ratio", "alpha", "power"),
                         [(0.05, 0.06, 1.0, 0.05, 0.8), (0.2, 0.17, 2.0, 0.01, 0.9), (0.5, 0.53, 0.5, 0.1, 0.8)])
def test_arcsine_proportions_match_statsmodels(pa: float, pb: float, ratio: float, alpha: float, power: float) -> None:
    h = proportion_effectsize(pb, pa)  # Cohen's h = 2 asin(sqrt(pb)) - 2 asin(sqrt(pa))
    r = sample_size_proportions(pa, pb, alpha=alpha, power=power, ratio=ratio, method="arcsine")
    ref = NormalIndPower().solve_power(abs(h), alpha=alpha, power=power, ratio=ratio)
    assert r.n_control_exact == pytest.approx(ref, rel=SOLVER)
    assert NormalIndPower().power(abs(h), r.n_control_exact, alpha, ratio=ratio) == pytest.approx(power, abs=1e-9)
    assert r.n_control == math.ceil(ref) and r.n_treatment == math.ceil(ref * ratio)
    assert r.power >= power
    n = 1234.0
    assert power_proportions(pa, pb, n, alpha, ratio, method="arcsine") == pytest.approx(
        NormalIndPower().power(abs(h), n, alpha, ratio=ratio), rel=1e-9)
    m = mde_proportions(pa, 5000, alpha, power, ratio, method="arcsine")
    ref_h = NormalIndPower().solve_power(None, nobs1=5000, alpha=alpha, power=power, ratio=ratio)
    assert m.standardized_effect == pytest.approx(ref_h, rel=SOLVER_EFFECT)
    assert NormalIndPower().power(m.standardized_effect, 5000, alpha, ratio=ratio) == pytest.approx(power, abs=1e-9)


@pytest.mark.parametrize("test", ["t", "z"])
@pytest.mark.parametrize(("diff", "sd", "ratio", "alpha", "power"),
                         [(0.3, 2.0, 1.0, 0.05, 0.8), (5.0, 80.0, 0.5, 0.05, 0.9), (1.0, 1.5, 3.0, 0.01, 0.8)])
def test_means_match_statsmodels(test: str, diff: float, sd: float, ratio: float, alpha: float, power: float) -> None:
    ref_cls = TTestIndPower() if test == "t" else NormalIndPower()
    d = diff / sd
    r = sample_size_means(diff, sd, alpha=alpha, power=power, ratio=ratio, test=test)  # type: ignore[arg-type]
    ref = ref_cls.solve_power(d, alpha=alpha, power=power, ratio=ratio)
    assert r.n_control_exact == pytest.approx(ref, rel=SOLVER)
    assert ref_cls.power(d, r.n_control_exact, alpha, ratio=ratio) == pytest.approx(power, abs=1e-9)
    assert power_means(diff, sd, 77.0, alpha, ratio, test=test) == pytest.approx(  # type: ignore[arg-type]
        ref_cls.power(d, 77.0, alpha, ratio=ratio), rel=1e-9)
    m = mde_means(sd, 300, alpha, power, ratio, test=test)  # type: ignore[arg-type]
    assert m.standardized_effect == pytest.approx(
        ref_cls.solve_power(None, nobs1=300, alpha=alpha, power=power, ratio=ratio), rel=SOLVER_EFFECT)
    assert ref_cls.power(m.effect / sd, 300, alpha, ratio=ratio) == pytest.approx(power, abs=1e-9)


def test_pooled_sample_size_against_fleiss_closed_form() -> None:
    """Fleiss, Levin & Paik (2003) eq. 4.14 without continuity correction, equal arms: it drops the
    far tail, so it can differ from the exact solution by at most a fraction of a unit."""
    for pa, pb in [(0.05, 0.06), (0.10, 0.12), (0.30, 0.25), (0.02, 0.03)]:
        za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
        pbar = (pa + pb) / 2
        root = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(pa * (1 - pa) + pb * (1 - pb))
        n = root**2 / (pb - pa) ** 2
        r = sample_size_proportions(pa, pb)
        assert r.n_control_exact == pytest.approx(n, abs=0.5)
        assert r.n_control_exact <= n  # the far tail only adds power


def test_pooled_power_by_simulating_the_ztest() -> None:
    rng = np.random.default_rng(17)
    r = sample_size_proportions(0.10, 0.12)
    runs = 2000
    xa = rng.binomial(r.n_control, 0.10, runs)
    xb = rng.binomial(r.n_treatment, 0.12, runs)
    hits = sum(two_proportion_ztest(int(a), r.n_control, int(b), r.n_treatment).p_value < 0.05
               for a, b in zip(xa, xb, strict=True))
    # Monte Carlo sd of 0.8 over 2000 runs is 0.9%
    assert hits / runs == pytest.approx(r.power, abs=0.03)
    m = mde_proportions(0.10, r.n_control_exact)
    assert m.effect == pytest.approx(0.02, rel=1e-6)


def test_bad_power_inputs() -> None:
    with pytest.raises(SiyuError, match="no effect"):
        sample_size_proportions(0.1, 0.1)
    with pytest.raises(SiyuError, match="strictly between 0 and 1"):
        sample_size_proportions(0.0, 0.1)
    with pytest.raises(SiyuError, match="non-zero"):
        sample_size_means(0.0, 1.0)
    with pytest.raises(SiyuError, match="too small"):
        sample_size_means(1e-9, 1e3)
    with pytest.raises(SiyuError, match="pooled"):
        power_proportions(0.1, 0.2, 100, method="exact")  # type: ignore[arg-type]
