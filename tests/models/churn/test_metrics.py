"""Evaluation metrics against scikit-learn (the independent reference) and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from siyu.core.errors import SiyuError
from siyu.models.churn.metrics import (
    average_precision,
    best_f1_threshold,
    brier,
    confusion_at,
    evaluate,
    lift_top_decile,
    reliability_curve,
    roc_auc,
)


def _data(seed: int, n: int = 2000, ties: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    s = rng.normal(y * 0.8, 1.0)
    if ties:
        s = np.round(s, 1)  # many tied scores, as a recency rule in days has
    return y, s


@pytest.mark.parametrize("seed", range(6))
def test_ranking_metrics_match_sklearn(seed: int) -> None:
    y, s = _data(seed, ties=seed % 2 == 0)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_threshold_metrics_brier_and_reliability_match_sklearn(seed: int) -> None:
    y, s = _data(seed)
    p = 1 / (1 + np.exp(-s))
    p[:5] = [0.1, 0.2, 0.5, 0.0, 1.0]  # values exactly on bin edges
    for t in (0.3, 0.5, float(np.quantile(p, 0.9))):
        got = confusion_at(y, p, t)
        pr, rc, f1, _ = precision_recall_fscore_support(y, p >= t, average="binary", zero_division=0)
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((pr, rc, f1), abs=1e-12)
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-15)
    rows = reliability_curve(y, p, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose([r["observed_rate"] for r in rows], prob_true, atol=1e-12)
    np.testing.assert_allclose([r["mean_predicted"] for r in rows], prob_pred, atol=1e-12)
    assert sum(r["count"] for r in rows) == len(y)


def test_best_f1_threshold_is_the_brute_force_best() -> None:
    y, s = _data(9, n=600)
    p = np.round(1 / (1 + np.exp(-s)), 2)
    t = best_f1_threshold(y, p)
    best = max(f1_score(y, p >= c) for c in np.unique(p))
    assert f1_score(y, p >= t) == pytest.approx(best, abs=1e-12)
    assert all(f1_score(y, p >= c) < best - 1e-12 for c in np.unique(p) if c > t)  # the highest of the best


def test_lift_hand_worked_with_ties_at_the_cut() -> None:
    # 20 people, base rate 4/20 = 0.2; the top 10% is 2 people. Scores: one 9 (positive), then three tied
    # at 5 (one positive) — one of the three is in the top 2: expected positives 1 + 1/3.
    y = np.array([1, 1, 0, 0] + [0] * 14 + [1, 1])
    s = np.array([9, 5, 5, 5] + [1] * 14 + [0, 0], dtype=float)
    assert lift_top_decile(y, s) == pytest.approx((1 + 1 / 3) / 2 / 0.2)
    no_ties = np.arange(20, 0, -1, dtype=float)  # ranks the first two people (both positive) on top
    assert lift_top_decile(y, no_ties) == pytest.approx(1.0 / 0.2)


def test_lift_equals_the_mean_over_random_tie_breaks() -> None:
    y, s = _data(4, n=500)
    rng = np.random.default_rng(0)
    k = 50
    sims = [y[np.lexsort((rng.random(len(s)), -s))[:k]].mean() / y.mean() for _ in range(4000)]
    assert lift_top_decile(y, s) == pytest.approx(np.mean(sims), rel=0.01)


def test_evaluate_and_bad_inputs() -> None:
    y, s = _data(1)
    p = 1 / (1 + np.exp(-s))
    out = evaluate(y, s, p, 0.5)
    assert out["auc"] == pytest.approx(roc_auc_score(y, s)) and out["n"] == len(y)
    with pytest.raises(SiyuError) as err:
        roc_auc(np.zeros(5), np.arange(5.0))
    assert err.value.code == "one_class"
    with pytest.raises(SiyuError):
        brier(np.array([0, 1]), np.array([0.2, np.nan]))
    with pytest.raises(SiyuError):
        brier(np.array([0, 2]), np.array([0.2, 0.3]))
