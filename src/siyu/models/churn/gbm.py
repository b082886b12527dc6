"""The gradient-boosted trees (梯度提升树) behind each warning model: LightGBM, seeded and deterministic.

- Early stopping on the *stop* half of the validation split (AUC, 50 rounds of patience), never on test.
- Deterministic: ``deterministic=True`` with ``force_col_wise=True`` (LightGBM's documented recipe for
  stable results), one thread by default and fixed seeds, so the same data gives the same trees.
- Class imbalance (类别不平衡): positives are weighted by n₋/n₊ of the training split (``scale_pos_weight``),
  so rare outcomes (a purchase within 7 days) still shape the trees; the weighting distorts probabilities,
  which the calibrator (:mod:`siyu.models.churn.calibration`) puts right.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

from siyu.core.errors import SiyuError

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "auc",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "seed": 7,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 1,
    "verbose": -1,
}
MAX_ROUNDS = 1000
PATIENCE = 50


def fit_booster(x_train: np.ndarray, y_train: np.ndarray, x_stop: np.ndarray, y_stop: np.ndarray,
                feature_names: list[str], params: dict[str, Any] | None = None,
                max_rounds: int = MAX_ROUNDS, patience: int = PATIENCE) -> tuple[lgb.Booster, dict[str, Any]]:
    """Train with early stopping on ``(x_stop, y_stop)``; returns the booster (cut at its best round) and
    the hyper-parameters used (with ``scale_pos_weight``, ``num_boost_round`` and ``best_iteration``)."""
    y_train = np.asarray(y_train)
    n_pos = int(y_train.sum())
    n_neg = len(y_train) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise SiyuError(f"the training split has {n_pos} positives and {n_neg} negatives; it needs both",
                        code="one_class", input_name="train")
    if len(np.unique(y_stop)) < 2:
        raise SiyuError("the validation split needs both positives and negatives for early stopping",
                        code="one_class", input_name="validation")
    used = {**DEFAULT_PARAMS, **(params or {})}
    used.setdefault("scale_pos_weight", n_neg / n_pos)
    train = lgb.Dataset(x_train, y_train, feature_name=feature_names, free_raw_data=True)
    stop = lgb.Dataset(x_stop, np.asarray(y_stop), reference=train)
    booster = lgb.train(used, train, num_boost_round=max_rounds, valid_sets=[stop], valid_names=["stop"],
                        callbacks=[lgb.early_stopping(patience, verbose=False)])
    best = booster.best_iteration or booster.current_iteration()
    # keep only the trees up to the best round: what is saved and loaded is exactly what was evaluated
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    return booster, {**used, "num_boost_round": max_rounds, "early_stopping_rounds": patience,
                     "best_iteration": best}


def raw_score(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    """The booster's log-odds score (before calibration)."""
    return np.asarray(booster.predict(x, raw_score=True), dtype=np.float64)


def contributions(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    """Per-row SHAP values (TreeSHAP, Lundberg et al. 2020) in log-odds: one column per feature, then the bias."""
    return np.asarray(booster.predict(x, pred_contrib=True), dtype=np.float64)
