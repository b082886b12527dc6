"""LightGBM training on planted data (the trees find the planted signal, deterministically) and the
per-person reasons (the planted driver is the top reason, said in zh and en)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from siyu.core.errors import SiyuError
from siyu.models.churn.features import FEATURE_NAMES
from siyu.models.churn.gbm import contributions, fit_booster, raw_score
from siyu.models.churn.reasons import phrase, top_reasons

NAMES = list(FEATURE_NAMES)
IDLE = NAMES.index("days_since_last_interaction")
RECENT = NAMES.index("interactions_7d")


def _planted(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Churn odds rise with idle days and fall with recent interactions; every other feature is noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(NAMES)))
    x[:, IDLE] = rng.integers(0, 30, n)
    x[:, RECENT] = rng.poisson(2.0, n)
    logit = -2.0 + 0.15 * x[:, IDLE] - 0.5 * x[:, RECENT]
    p = 1 / (1 + np.exp(-logit))
    return x, (rng.random(n) < p).astype(int), p


def test_trees_find_the_planted_signal_deterministically() -> None:
    x, y, _ = _planted(1, 12_000)
    xs, ys, _ = _planted(2, 4_000)
    xt, yt, p_true = _planted(3, 6_000)
    b1, used = fit_booster(x, y, xs, ys, NAMES)
    b2, _ = fit_booster(x, y, xs, ys, NAMES)
    assert b1.model_to_string() == b2.model_to_string()  # same data, same trees
    assert used["scale_pos_weight"] == pytest.approx((len(y) - y.sum()) / y.sum())
    assert 1 <= used["best_iteration"] < used["num_boost_round"]  # early stopping stopped it
    oracle = roc_auc_score(yt, p_true)
    assert roc_auc_score(yt, raw_score(b1, xt)) > oracle - 0.02
    gain = dict(zip(NAMES, b1.feature_importance("gain"), strict=True))
    top_two = sorted(gain, key=lambda k: -gain[k])[:2]
    assert set(top_two) == {"days_since_last_interaction", "interactions_7d"}
    # SHAP values add up to the score (TreeSHAP's local accuracy)
    c = contributions(b1, xt[:500])
    np.testing.assert_allclose(c.sum(axis=1), raw_score(b1, xt[:500]), atol=1e-9)


def test_the_planted_driver_is_the_top_reason() -> None:
    x, y, _ = _planted(4, 12_000)
    xs, ys, _ = _planted(5, 4_000)
    booster, _ = fit_booster(x, y, xs, ys, NAMES)
    means = dict(zip(NAMES, x.mean(axis=0).tolist(), strict=True))
    xt = x[:300].copy()
    xt[:, IDLE] = 29
    xt[:, RECENT] = 2  # about the mean: it neither raises nor lowers the risk much
    reasons = top_reasons(contributions(booster, xt), xt, NAMES, means)
    assert all(r[0] == "已29天未互动 / no interaction for 29 days" for r in reasons)
    quiet = xt.copy()
    quiet[:, IDLE] = 2
    quiet[:, RECENT] = 0  # now the lack of recent interactions drives the risk
    firsts = [r[0] for r in top_reasons(contributions(booster, quiet), quiet, NAMES, means)]
    assert sum(f == "近7天互动偏少(0) / few interactions in the last 7 days (0)" for f in firsts) >= 0.9 * len(firsts)


def test_reasons_pad_with_nulls_and_say_missing_values() -> None:
    contrib = np.array([[0.5, -0.1, 0.0, 0.0], [-0.2, -0.3, -0.1, 0.0]])
    x = np.array([[3.0, 1.0, np.nan], [1.0, 2.0, 3.0]])
    names = ["interactions_7d", "interactions_14d", "days_since_last_order"]
    got = top_reasons(contrib, x, names, {"interactions_7d": 1.0}, k=2)
    assert got == [["近7天互动偏多(3) / many interactions in the last 7 days (3)", None], [None, None]]
    assert phrase("days_since_last_order", float("nan"), 5.0) == "距上次下单天数: 无记录 / days since last order: none"
    assert phrase("push_response_rate_30d", 0.125, 0.3).startswith("近30天推送响应率偏低(0.12)")


def test_one_class_training_data_is_refused() -> None:
    x, _, _ = _planted(6, 200)
    with pytest.raises(SiyuError) as err:
        fit_booster(x, np.zeros(200), x, np.r_[np.zeros(100), np.ones(100)], NAMES)
    assert err.value.code == "one_class"
