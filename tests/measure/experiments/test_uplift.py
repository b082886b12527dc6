"""Segment uplift: per-segment tests, Cochran's Q against statsmodels' meta-analysis, planted heterogeneity."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

from siyu.core.errors import SiyuError
from siyu.measure.experiments import cochran_q, segment_uplift, two_proportion_ztest_samples, welch_ttest

STAGES = np.array(["new", "active", "silent", "churned"])


def _world(rng: np.random.Generator, lifts: dict[str, float], n: int = 20_000) -> tuple[np.ndarray, ...]:
    base = {"new": 0.08, "active": 0.20, "silent": 0.04, "churned": 0.02}
    seg = STAGES[rng.integers(0, 4, n)]
    variant = np.where(rng.random(n) < 0.5, "treatment", "control")
    p = np.array([base[s] for s in seg]) + np.where(variant == "treatment", [lifts[s] for s in seg], 0.0)
    return variant, seg, (rng.random(n) < p).astype(float)


def test_segment_effects_equal_the_per_segment_tests() -> None:
    rng = np.random.default_rng(1)
    variant, seg, y = _world(rng, {"new": 0.02, "active": 0.02, "silent": 0.02, "churned": 0.02})
    r = segment_uplift(variant, seg, y)
    assert [e.segment for e in r.segments] == sorted(STAGES.tolist())
    for e in r.segments:
        here = seg == e.segment
        ref = two_proportion_ztest_samples(y[here & (variant == "control")], y[here & (variant == "treatment")])
        assert (e.effect, e.p_value, e.ci_low, e.ci_high) == (ref.difference, ref.p_value, ref.ci_low, ref.ci_high)
    np.testing.assert_allclose([e.adjusted_p_value for e in r.segments],
                               multipletests([e.p_value for e in r.segments], method="holm")[1], rtol=1e-12)
    overall = two_proportion_ztest_samples(y[variant == "control"], y[variant == "treatment"])
    assert r.overall.effect == overall.difference


def test_cochran_q_matches_statsmodels_meta_analysis() -> None:
    rng = np.random.default_rng(2)
    for _ in range(20):
        k = int(rng.integers(2, 8))
        eff, se = rng.normal(0.0, 0.05, k), rng.uniform(0.005, 0.05, k)
        ours = cochran_q(eff, se)
        ref = combine_effects(eff, se**2)
        hom = ref.test_homogeneity()
        assert ours.q == pytest.approx(ref.q, rel=1e-9)
        assert ours.p_value == pytest.approx(hom.pvalue, rel=1e-9, abs=1e-300)
        assert ours.pooled_effect == pytest.approx(ref.mean_effect_fe, rel=1e-9)
        assert ours.i_squared == pytest.approx(max(0.0, ref.i2), abs=1e-12)


def test_planted_heterogeneity_is_found_and_homogeneous_lift_is_not_flagged_too_often() -> None:
    rng = np.random.default_rng(3)
    variant, seg, y = _world(rng, {"new": 0.04, "active": 0.0, "silent": 0.03, "churned": 0.0}, n=40_000)
    r = segment_uplift(variant, seg, y)
    assert r.heterogeneity is not None and r.heterogeneity.p_value < 1e-4
    effects = {e.segment: e for e in r.segments}
    assert effects["new"].significant and not effects["active"].significant
    runs, flagged = 300, 0
    for _ in range(runs):
        variant, seg, y = _world(rng, dict.fromkeys(STAGES.tolist(), 0.015), n=8000)
        het = segment_uplift(variant, seg, y).heterogeneity
        assert het is not None
        flagged += het.p_value < 0.05
    # Monte Carlo sd of 5% over 300 runs is 1.3%
    assert 0.015 <= flagged / runs <= 0.09


def test_mean_outcomes_small_segments_and_errors() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    seg = np.where(rng.random(n) < 0.99, "gold", "diamond")  # about 30 diamond members, split in two arms
    variant = np.where(rng.random(n) < 0.5, "treatment", "control")
    y = rng.gamma(2.0, 50.0, n) + np.where(variant == "treatment", 5.0, 0.0)
    r = segment_uplift(variant, seg, y, kind="mean", min_units_per_arm=30)
    assert r.skipped_segments == ("diamond",) and [e.segment for e in r.segments] == ["gold"]
    assert r.heterogeneity is None
    gold = seg == "gold"
    ref = welch_ttest(y[gold & (variant == "control")], y[gold & (variant == "treatment")])
    assert r.segments[0].p_value == ref.p_value and r.segments[0].standard_error == ref.standard_error
    with pytest.raises(SiyuError, match="no units"):
        segment_uplift(variant, seg, y, treatment="coupon")
    with pytest.raises(SiyuError, match="equal length"):
        segment_uplift(variant[:-1], seg, y)
