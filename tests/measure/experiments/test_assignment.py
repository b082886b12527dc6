"""Assignment by salted hash and the SRM check, against scipy.stats.chisquare and planted splits."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from siyu.core.errors import SiyuError
from siyu.measure.experiments import (
    BUCKETS,
    HOLDOUT,
    assign,
    assignment_shares,
    buckets,
    sample_ratio_mismatch,
)

AB = {"control": 1.0, "treatment": 1.0}


def test_bucket_is_sha256_of_salt_experiment_unit() -> None:
    digest = hashlib.sha256(b"s1:spring_coupon:u42").digest()
    expected = int.from_bytes(digest[:8], "big") % BUCKETS
    assert buckets(["u42"], "spring_coupon", "s1").tolist() == [expected]


def test_assignment_is_stable_across_calls_and_input_order() -> None:
    ids = [f"u{i}" for i in range(5000)]
    first = assign(ids, "exp", "salt", AB, holdout=0.1)
    again = assign(ids, "exp", "salt", AB, holdout=0.1)
    shuffled = list(reversed(ids))
    assert (first == again).all()
    assert (assign(shuffled, "exp", "salt", AB, holdout=0.1)[::-1] == first).all()
    # ints and their string form are the same unit
    assert (assign(range(100), "exp", "salt", AB) == assign([str(i) for i in range(100)], "exp", "salt", AB)).all()


def test_experiments_and_salts_shuffle_units_independently() -> None:
    ids = np.arange(20_000)
    a = assign(ids, "exp1", "salt", AB) == "treatment"
    b = assign(ids, "exp2", "salt", AB) == "treatment"
    c = assign(ids, "exp1", "other", AB) == "treatment"
    # independent halves overlap on about a quarter of units (sd of the share ~ 0.003)
    assert abs((a & b).mean() - 0.25) < 0.015
    assert abs((a & c).mean() - 0.25) < 0.015


def test_shares_follow_weights_and_holdout() -> None:
    ids = np.arange(200_000)
    labels = assign(ids, "exp", "salt", {"control": 2, "coupon_5": 1, "coupon_10": 1}, holdout=0.2)
    shares = assignment_shares(labels)
    expected = {HOLDOUT: 0.2, "control": 0.4, "coupon_5": 0.2, "coupon_10": 0.2}
    assert set(shares) == set(expected)
    for name, share in expected.items():
        # binomial sd at n=200k is at most 0.0011; 5 sd
        assert abs(shares[name] - share) < 0.0056, name
    srm = sample_ratio_mismatch({k: int((labels == k).sum()) for k in expected}, expected)
    assert not srm.mismatch


def test_holdout_takes_the_lowest_buckets_and_grows_monotonically() -> None:
    ids = np.arange(50_000)
    b = buckets(ids, "exp", "salt")
    small = assign(ids, "exp", "salt", AB, holdout=0.05)
    large = assign(ids, "exp", "salt", AB, holdout=0.1)
    assert ((small == HOLDOUT) == (b < 500)).all()
    assert np.all(large[small == HOLDOUT] == HOLDOUT)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(SiyuError, match="reserved") as err:
        assign(["u1"], "exp", "salt", {"holdout": 1.0})
    assert err.value.input_name == "variants"
    with pytest.raises(SiyuError, match="':'"):
        assign(["u1"], "a:b", "salt", AB)
    with pytest.raises(SiyuError, match="holdout"):
        assign(["u1"], "exp", "salt", AB, holdout=1.0)
    with pytest.raises(SiyuError, match="positive"):
        assign(["u1"], "exp", "salt", {"a": 1.0, "b": 0.0})


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=2, max_size=6),
       st.lists(st.floats(min_value=0.05, max_value=10.0), min_size=6, max_size=6))
@settings(max_examples=200, deadline=None)
def test_srm_chi_square_equals_scipy(counts: list[int], weights: list[float]) -> None:
    if sum(counts) == 0:
        return
    w = np.asarray(weights[: len(counts)])
    res = sample_ratio_mismatch(counts, w)
    ref = stats.chisquare(counts, f_exp=sum(counts) * w / w.sum())
    assert res.chi2 == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)
    assert res.df == len(counts) - 1


def test_srm_flags_planted_52_48_split_and_not_a_fair_one() -> None:
    rng = np.random.default_rng(7)
    ids = np.arange(100_000)
    fair = assign(ids, "exp", "salt", AB)
    fair_counts = {k: int((fair == k).sum()) for k in AB}
    assert not sample_ratio_mismatch(fair_counts, AB).mismatch
    # a logging bug drops 4 in 52 of control units' exposures: about 52/48 is what arrives
    planted = np.where(rng.random(ids.size) < 0.52, "treatment", "control")
    res = sample_ratio_mismatch({k: int((planted == k).sum()) for k in AB}, AB)
    assert res.mismatch and res.p_value < 1e-30


def test_srm_false_alarm_rate_on_fair_splits() -> None:
    rng = np.random.default_rng(11)
    n = 10_000
    p = [sample_ratio_mismatch([k, n - k], [1, 1], threshold=0.05).p_value for k in rng.binomial(n, 0.5, 2000)]
    # p-values of a fair split are close to uniform: 5% below 0.05 (sd 0.5%); the normal approx is fine here
    assert 0.035 < np.mean(np.asarray(p) < 0.05) < 0.065


def test_srm_mapping_names_must_match() -> None:
    with pytest.raises(SiyuError, match="differ"):
        sample_ratio_mismatch({"a": 10, "b": 12}, {"a": 1, "c": 1})
    res = sample_ratio_mismatch({"a": 10, "b": 12}, {"b": 1, "a": 3})
    assert res.names == ("a", "b")
    assert res.expected == pytest.approx((16.5, 5.5))
