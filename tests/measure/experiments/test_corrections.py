"""Bonferroni, Holm and BH against statsmodels.multipletests; the variants × metrics family helper."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from siyu.core.errors import SiyuError
from siyu.measure.experiments import (
    adjust_p_values,
    benjamini_hochberg,
    bonferroni,
    compare_variants,
    holm,
    two_proportion_ztest_samples,
    welch_ttest,
)

SM_NAME = {"bonferroni": "bonferroni", "holm": "holm", "bh": "fdr_bh"}
p_lists = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=40)


@given(p_lists, st.sampled_from(["bonferroni", "holm", "bh"]))
@settings(max_examples=150, deadline=None)
def test_adjusted_p_values_match_statsmodels(p: list[float], method: str) -> None:
    ours = adjust_p_values(p, method)  # type: ignore[arg-type]
    reject, ref, _, _ = multipletests(p, alpha=0.05, method=SM_NAME[method])
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-15)
    assert ((ours <= 0.05) == reject).all()


@given(p_lists)
@settings(max_examples=200, deadline=None)
def test_corrections_are_ordered_and_monotone(p: list[float]) -> None:
    raw = np.asarray(p)
    b, h, q = bonferroni(raw), holm(raw), benjamini_hochberg(raw)
    # never below the raw p-value, and Bonferroni >= Holm >= BH
    assert np.all(q >= raw - 1e-15) and np.all(h >= q - 1e-15) and np.all(b >= h - 1e-15)
    # adjusted p-values keep the order of the raw ones
    order = np.argsort(raw, kind="mergesort")
    for adj in (b, h, q):
        assert np.all(np.diff(adj[order]) >= -1e-15)
        assert np.all((adj >= 0) & (adj <= 1))


def test_bad_method_and_p_values() -> None:
    with pytest.raises(SiyuError, match="unknown correction"):
        adjust_p_values([0.1], "sidak")  # type: ignore[arg-type]
    with pytest.raises(SiyuError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])


def test_family_of_variants_and_metrics() -> None:
    rng = np.random.default_rng(10)
    n = 4000
    samples = {}
    for name, lift, uplift_rev in [("control", 0.0, 0.0), ("coupon_5", 0.0, 0.0), ("coupon_10", 0.03, 8.0)]:
        bought = (rng.random(n) < 0.10 + lift).astype(float)
        revenue = bought * rng.lognormal(4.0, 0.8, n) + bought * uplift_rev
        samples[name] = {"buy": bought, "revenue": revenue, "revenue_rank": revenue}
    metrics = {"buy": "proportion", "revenue": "mean", "revenue_rank": "rank"}
    fam = compare_variants(samples, "control", metrics, method="holm")  # type: ignore[arg-type]
    assert len(fam.comparisons) == 6
    raw = [c.p_value for c in fam.comparisons]
    np.testing.assert_allclose([c.adjusted_p_value for c in fam.comparisons],
                               multipletests(raw, method="holm")[1], rtol=1e-12)
    buy = fam.get("coupon_10", "buy")
    ref = two_proportion_ztest_samples(samples["control"]["buy"], samples["coupon_10"]["buy"])
    assert buy.p_value == ref.p_value and buy.effect == ref.difference
    rev = fam.get("coupon_10", "revenue")
    assert rev.p_value == welch_ttest(samples["control"]["revenue"], samples["coupon_10"]["revenue"]).p_value
    rank = fam.get("coupon_10", "revenue_rank")
    ref_u = stats.mannwhitneyu(samples["coupon_10"]["revenue"], samples["control"]["revenue"], method="asymptotic")
    assert rank.p_value == pytest.approx(ref_u.pvalue, rel=1e-9)
    assert buy.rejected and rank.rejected
    # coupon_5 has no effect; with this seed none of its raw p-values is small (the rate is tested below)
    assert not any(c.rejected for c in fam.comparisons if c.variant == "coupon_5")
    with pytest.raises(SiyuError, match="no comparison"):
        fam.get("coupon_5", "clicks")


def test_family_error_rate_is_controlled_under_the_null() -> None:
    """A/A/A/A test with 3 variants × 3 metrics: Holm keeps P(any false winner) <= 5%, raw tests do not."""
    rng = np.random.default_rng(10)
    runs, n = 300, 500
    any_raw = any_holm = 0
    for _ in range(runs):
        samples = {v: {"buy": (rng.random(n) < 0.2).astype(float), "aov": rng.gamma(2.0, 50.0, n),
                       "visits": rng.poisson(3.0, n).astype(float)} for v in ("control", "a", "b", "c")}
        fam = compare_variants(samples, "control", {"buy": "proportion", "aov": "mean", "visits": "mean"})
        any_raw += any(c.p_value <= 0.05 for c in fam.comparisons)
        any_holm += any(c.rejected for c in fam.comparisons)
    # 9 correlated tests: raw FWER is around 0.3; Holm's is <= 0.05 (+ 2.5 sd of 300 runs = 0.032)
    assert any_raw / runs > 0.15
    assert any_holm / runs <= 0.082


def test_family_input_errors() -> None:
    with pytest.raises(SiyuError, match="control variant"):
        compare_variants({"a": {"m": [1.0, 2.0]}}, "control", {"m": "mean"})
    with pytest.raises(SiyuError, match="unknown kind"):
        compare_variants({"control": {"m": [1.0, 2.0]}, "a": {"m": [1.0, 3.0]}}, "control",
                         {"m": "median"})  # type: ignore[dict-item]
    with pytest.raises(SiyuError, match="no data"):
        compare_variants({"control": {"m": [1.0, 2.0]}, "a": {"x": [1.0, 3.0]}}, "control", {"m": "mean"})
