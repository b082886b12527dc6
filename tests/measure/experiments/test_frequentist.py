"""z-test, Welch and Mann–Whitney against statsmodels/scipy on the same inputs (to 1e-9)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from siyu.core.errors import SiyuError
from siyu.measure.experiments import (
    mann_whitney,
    two_proportion_ztest,
    two_proportion_ztest_samples,
    welch_ttest,
    welch_ttest_from_stats,
)

REL = 1e-9


def _close(a: float, b: float, rel: float = REL) -> None:
    assert a == pytest.approx(b, rel=rel, abs=1e-15)


counts = st.integers(min_value=2, max_value=200_000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n)))


@given(counts, counts, st.sampled_from([0.01, 0.05, 0.1]))
@settings(max_examples=300, deadline=None)
def test_ztest_matches_statsmodels(a: tuple[int, int], b: tuple[int, int], alpha: float) -> None:
    (xa, na), (xb, nb) = a, b
    assume(0 < xa + xb < na + nb)  # statsmodels divides by zero when the pooled rate is 0 or 1
    r = two_proportion_ztest(xa, na, xb, nb, alpha=alpha)
    z, p = proportions_ztest([xb, xa], [nb, na])
    _close(r.z, z)
    _close(r.p_value, p)
    low, high = confint_proportions_2indep(xb, nb, xa, na, method="wald", compare="diff", alpha=alpha)
    _close(r.ci_low, low)
    _close(r.ci_high, high)
    if xa > 0 and xb > 0:
        rl, rh = confint_proportions_2indep(xb, nb, xa, na, method="log", compare="ratio", alpha=alpha)
        _close(r.relative_ci_low + 1.0, rl)
        _close(r.relative_ci_high + 1.0, rh)
        _close(r.relative_lift + 1.0, (xb / nb) / (xa / na))


def test_ztest_from_samples_equals_counts() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random(1000) < 0.1, rng.random(1200) < 0.13
    assert two_proportion_ztest_samples(a, b) == two_proportion_ztest(int(a.sum()), 1000, int(b.sum()), 1200)
    with pytest.raises(SiyuError, match="0/1"):
        two_proportion_ztest_samples([0, 1, 2], [0, 1])


def test_ztest_degenerate_and_bad_counts() -> None:
    r = two_proportion_ztest(0, 100, 0, 120)
    assert r.z == 0 and r.p_value == 1.0 and r.ci_low == 0 and r.ci_high == 0
    assert np.isnan(r.relative_lift)
    with pytest.raises(SiyuError) as err:
        two_proportion_ztest(11, 10, 1, 10)
    assert err.value.code == "bad_counts" and err.value.input_name == "control"


samples = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=2, max_size=60)


@pytest.mark.filterwarnings("ignore:Precision loss occurred")  # scipy's note on nearly-constant samples
@given(samples, samples, st.sampled_from([0.01, 0.05, 0.2]))
@settings(max_examples=300, deadline=None)
def test_welch_matches_scipy(a: list[float], b: list[float], alpha: float) -> None:
    xa, xb = np.asarray(a), np.asarray(b)
    assume(xa.var(ddof=1) / max(1.0, xa.mean() ** 2) > 1e-12 or xb.var(ddof=1) / max(1.0, xb.mean() ** 2) > 1e-12)
    r = welch_ttest(xa, xb, alpha=alpha)
    ref = stats.ttest_ind(xb, xa, equal_var=False)
    ci = ref.confidence_interval(confidence_level=1 - alpha)
    _close(r.t, ref.statistic)
    _close(r.p_value, ref.pvalue)
    _close(r.df, ref.df)
    # the interval ends are differences of nearly equal numbers; scale the tolerance by the interval
    tol = REL * max(1.0, abs(ci.low), abs(ci.high))
    assert abs(r.ci_low - ci.low) <= tol and abs(r.ci_high - ci.high) <= tol


def test_welch_on_skewed_revenue_and_from_stats() -> None:
    rng = np.random.default_rng(5)
    a = rng.lognormal(3.0, 1.2, 3000) * (rng.random(3000) < 0.2)
    b = rng.lognormal(3.1, 1.2, 2500) * (rng.random(2500) < 0.22)
    r = welch_ttest(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False)
    _close(r.t, ref.statistic)
    _close(r.p_value, ref.pvalue)
    s = welch_ttest_from_stats(a.mean(), a.var(ddof=1), a.size, b.mean(), b.var(ddof=1), b.size)
    assert s == r
    with pytest.raises(SiyuError, match="zero variance"):
        welch_ttest([1.0, 1.0], [2.0, 2.0])


@given(st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=40),
       st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=40))
@settings(max_examples=300, deadline=None)
def test_mann_whitney_matches_scipy_with_heavy_ties(a: list[int], b: list[int]) -> None:
    assume(len(set(a + b)) > 1)
    r = mann_whitney(a, b)
    ref = stats.mannwhitneyu(b, a, method="asymptotic", use_continuity=True, alternative="two-sided")
    _close(r.u_b, ref.statistic)
    _close(r.p_value, ref.pvalue)
    _close(r.common_language_effect, ref.statistic / (len(a) * len(b)))


def test_mann_whitney_on_zero_inflated_revenue() -> None:
    rng = np.random.default_rng(8)
    a = np.round(rng.lognormal(4.0, 1.0, 4000) * (rng.random(4000) < 0.1), 2)
    b = np.round(rng.lognormal(4.0, 1.0, 4100) * (rng.random(4100) < 0.12), 2)
    r = mann_whitney(a, b)
    ref = stats.mannwhitneyu(b, a, method="asymptotic", use_continuity=True)
    _close(r.u_b, ref.statistic)
    _close(r.p_value, ref.pvalue)
    # common-language effect size by brute force over all pairs
    diff = np.subtract.outer(b, a)
    _close(r.common_language_effect, (diff > 0).mean() + 0.5 * (diff == 0).mean())
    assert r.common_language_effect > 0.5 and r.z > 0


def test_mann_whitney_all_equal_values() -> None:
    r = mann_whitney([0.0] * 5, [0.0] * 7)
    assert r.p_value == 1.0 and r.common_language_effect == 0.5
