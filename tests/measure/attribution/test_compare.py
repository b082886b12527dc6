"""Models side by side, and the hold-out check of predictive accuracy (scipy only as the reference)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from siyu.core.errors import SiyuError
from siyu.measure.attribution import (
    DEFAULT_MODELS,
    Journeys,
    Linear,
    Markov,
    build_model,
    compare_models,
    holdout_validation,
    journey_scores,
    log_loss,
    per_touch_credit,
    roc_auc,
    split_journeys,
)
from tests.measure.attribution.support import random_paths, touches_table


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return touches_table(random_paths(np.random.default_rng(21), 300, "ABCDE", 5, p_convert=0.3))


def test_compare_lays_every_model_side_by_side(table: pa.Table) -> None:
    wide = compare_models(table)
    assert wide.column_names[0] == "channel" and wide.num_rows == 5
    assert wide.column_names[1:] == [f"{m}_{k}" for m in DEFAULT_MODELS for k in ("conversions", "value", "share")]
    for name in DEFAULT_MODELS:
        result = build_model(name).fit(table)
        np.testing.assert_allclose(wide.column(f"{name}_conversions").to_numpy(), result.conversions)
        np.testing.assert_allclose(wide.column(f"{name}_value").to_numpy(), result.value)
        assert wide.column(f"{name}_share").to_numpy().sum() == pytest.approx(1.0)


def test_compare_with_labels(table: pa.Table) -> None:
    wide = compare_models(table, {"markov_o2": Markov(order=2), "linear": Linear()})
    assert wide.column_names == ["channel", "markov_o2_conversions", "markov_o2_value", "markov_o2_share",
                                 "linear_conversions", "linear_value", "linear_share"]
    with pytest.raises(SiyuError, match="appears twice"):
        compare_models(table, [Markov(), Markov(order=2)])


def test_roc_auc_is_the_mann_whitney_probability() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    score = np.round(rng.normal(size=500) + y, 1)  # rounded: many ties
    u = stats.mannwhitneyu(score[y], score[~y]).statistic
    assert roc_auc(y, score) == pytest.approx(u / (y.sum() * (~y).sum()))
    assert np.isnan(roc_auc(np.ones(3, dtype=bool), np.arange(3.0)))


def test_log_loss_against_the_bernoulli_likelihood() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(200) < 0.4
    p = rng.uniform(0.01, 0.99, 200)
    assert log_loss(y, p) == pytest.approx(-stats.bernoulli.logpmf(y, p).mean())
    # clipped: a certain miss costs -log(1e-6), not infinity
    assert log_loss(np.array([True]), np.array([0.0])) == pytest.approx(-np.log(1e-6))


def test_per_touch_credit_and_scores_by_hand() -> None:
    # linear on A B → conv, A → null, B → conv: A gets 1/2, B 3/2; each has 2 touches → r_A 1/4, r_B 3/4
    train = Journeys.from_table(touches_table([("AB", True), ("A", False), ("B", True)]))
    rate = per_touch_credit(Linear().fit(train), train)
    np.testing.assert_allclose(rate, [0.25, 0.75])
    held = Journeys.from_table(touches_table([("AAB", False), ("B", True)]))
    np.testing.assert_allclose(journey_scores(rate, held), [1.25, 0.75])


def test_holdout_validation_by_hand(table: pa.Table) -> None:
    report = holdout_validation(table, [Markov()], holdout_fraction=0.4, seed=3).to_pydict()
    assert report["model"] == ["markov", "linear"]  # linear joins as the reference
    assert report["auc_vs_linear"][1] == 0.0
    journeys = Journeys.from_table(table)
    train, held = split_journeys(journeys, 0.4, 3)
    assert report["n_train"][0] + report["n_holdout"][0] == journeys.n_journeys == 300
    # the linear row, recomputed with dicts: per-touch credit, summed over each held-out journey's touches
    credit: dict[str, float] = defaultdict(float)
    touches: dict[str, int] = defaultdict(int)
    for i in range(train.n_journeys):
        path = [train.channels[c] for c in train.channel[train.offsets[i]:train.offsets[i + 1]]]
        for c in path:
            touches[c] += 1
            credit[c] += float(train.converted[i]) / len(path)
    scores = []
    for i in range(held.n_journeys):
        path = [held.channels[c] for c in held.channel[held.offsets[i]:held.offsets[i + 1]]]
        scores.append(sum(credit[c] / touches[c] if touches[c] else 0.0 for c in path))
    s, y = np.array(scores), held.converted
    u = stats.mannwhitneyu(s[y], s[~y]).statistic
    assert report["auc"][1] == pytest.approx(u / (y.sum() * (~y).sum()))
    assert report["log_loss"][1] == pytest.approx(-stats.bernoulli.logpmf(y, 1 - np.exp(-s)).mean())
    assert report["holdout_conversions"][0] == int(y.sum())
    # seeded: the same seed gives the same report, another seed another split
    assert holdout_validation(table, [Markov()], holdout_fraction=0.4, seed=3).to_pydict() == report
    assert holdout_validation(table, [Markov()], holdout_fraction=0.4, seed=4).to_pydict()["n_train"] != \
        report["n_train"]


def test_split_refuses_bad_fractions_and_tiny_inputs(table: pa.Table) -> None:
    journeys = Journeys.from_table(table)
    with pytest.raises(SiyuError, match="holdout_fraction"):
        split_journeys(journeys, 1.0, 0)
    with pytest.raises(SiyuError) as err:
        split_journeys(Journeys.from_table(touches_table([("A", True)])), 0.5, 0)
    assert err.value.code == "too_few_journeys"
