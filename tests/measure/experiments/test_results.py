"""Every result is frozen and turns into plain JSON for the CLI, API and reports."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import siyu.measure.experiments as ex


def _results() -> list[ex.ExperimentResult]:
    rng = np.random.default_rng(0)
    a, b = rng.gamma(2.0, 10.0, 200), rng.gamma(2.0, 11.0, 200)
    buy_a, buy_b = (rng.random(200) < 0.2).astype(float), (rng.random(200) < 0.25).astype(float)
    peeks = ex.CumulativeStats.from_proportions([5, 12], [50, 100], [8, 19], [50, 100])
    seg = np.where(rng.random(400) < 0.5, "new", "active")
    return [
        ex.sample_ratio_mismatch([100, 98], [1, 1]),
        ex.two_proportion_ztest(10, 100, 15, 100),
        ex.welch_ttest(a, b),
        ex.mann_whitney(a, b),
        ex.cuped(a, b, a * 0.5 + rng.normal(0, 1, 200), b * 0.5 + rng.normal(0, 1, 200)),
        ex.compare_variants({"control": {"buy": buy_a}, "coupon": {"buy": buy_b}}, "control", {"buy": "proportion"}),
        ex.beta_binomial(10, 100, 15, 100),
        ex.normal_means(a, b),
        ex.msprt(peeks),
        ex.sample_size_proportions(0.1, 0.12),
        ex.mde_means(10.0, 500),
        ex.segment_uplift(np.repeat(["control", "treatment"], 200), seg, np.concatenate([buy_a, buy_b])),
    ]


def test_results_are_frozen_and_serialise_to_json() -> None:
    for result in _results():
        assert dataclasses.is_dataclass(result)
        first = dataclasses.fields(result)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(result, first, None)
        data = result.to_dict()
        text = json.dumps(data, allow_nan=False)  # strict JSON: NaN/inf became None
        assert isinstance(json.loads(text), dict)


def test_undefined_numbers_become_none() -> None:
    data = ex.two_proportion_ztest(0, 100, 3, 100).to_dict()
    assert data["relative_lift"] is None and data["relative_ci_low"] is None
    assert data["difference"] == pytest.approx(0.03)
    peeks = ex.CumulativeStats.from_proportions([0, 2], [10, 20], [0, 3], [10, 20])
    assert ex.msprt(peeks).to_dict()["ci_low"][0] is None


def test_public_names_exist() -> None:
    assert sorted(ex.__all__) == sorted(set(ex.__all__))
    for name in ex.__all__:
        assert hasattr(ex, name), name
