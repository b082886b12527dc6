"""Models side by side (模型对比), and the reports' hold-out check of predictive accuracy (预测准确度验证).

:func:`compare_models` fits every model on the same journeys and lays their credit out per channel.
:func:`holdout_validation` follows the source reports' idea — "validated against linear attribution by
predictive accuracy": journeys are split (seeded) into train and held-out; each model is fitted on train;
a channel's *per-touch credit* is ``r_c = conversions credited to c / touches of c`` (all train journeys,
converted or not); a held-out journey's score is ``s_j = Σ_{touches t of j} r_{channel(t)}`` (a channel
unseen in train scores 0). We report the ROC AUC of ``s`` for the held-out conversions (the
Mann–Whitney probability that a converted journey outscores a non-converted one, ties counting one
half) and the log loss of ``p_j = 1 - exp(-s_j)`` — the reading of ``r_c`` as an additive per-touch
hazard — clipped to ``[1e-6, 1 - 1e-6]``. The AUC ignores scale; the log loss only compares models
whose credit sums to the total conversions (not Markov with ``normalisation: raw``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from siyu.core.errors import SiyuError
from siyu.measure.attribution.base import Attribution, AttributionModel
from siyu.measure.attribution.paths import BoolArray, FloatArray, Journeys, as_journeys, weighted_count
from siyu.measure.attribution.registry import build_model
from siyu.measure.attribution.rules import Linear

#: The models compared by default, each under its own name with its default config.
DEFAULT_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "u_shape", "w_shape", "markov", "shapley",
                  "composite")
PROBABILITY_CLIP = 1e-6


Models = Mapping[str, AttributionModel] | Sequence[AttributionModel] | None


def _labelled(models: Models) -> dict[str, AttributionModel]:
    if models is None:
        return {name: build_model(name) for name in DEFAULT_MODELS}
    if isinstance(models, Mapping):
        return dict(models)
    labelled: dict[str, AttributionModel] = {}
    for model in models:
        if model.lookup_name in labelled:
            raise SiyuError(f"model {model.lookup_name!r} appears twice; pass a mapping label → model",
                            code="duplicate_model", input_name="models")
        labelled[model.lookup_name] = model
    return labelled


def compare_models(touches: pa.Table | Journeys, models: Models = None) -> pa.Table:
    """One row per channel; for each model label ``m``: ``m_conversions``, ``m_value``, ``m_share``.

    ``m_share`` is the channel's share of the conversions model ``m`` credited. ``models`` is a mapping
    label → model, a list of models (labelled by name) or None for :data:`DEFAULT_MODELS`.
    """
    journeys = as_journeys(touches)
    cols: dict[str, pa.Array] = {"channel": pa.array(journeys.channels, pa.string())}
    for label, model in _labelled(models).items():
        result = model.fit(journeys)
        cols[f"{label}_conversions"] = pa.array(result.conversions, pa.float64())
        cols[f"{label}_value"] = pa.array(result.value, pa.float64())
        cols[f"{label}_share"] = pa.array(result.share("conversions"), pa.float64())
    return pa.table(cols)


def per_touch_credit(result: Attribution, journeys: Journeys) -> FloatArray:
    """``r_c`` = conversions credited to channel ``c`` / touches of ``c`` in ``journeys`` (0 if untouched)."""
    touches = weighted_count(journeys.channel, None, len(journeys.channels))
    return np.divide(result.conversions, touches, out=np.zeros_like(touches), where=touches > 0)


def journey_scores(rate: FloatArray, journeys: Journeys) -> FloatArray:
    """``s_j`` = the sum over journey ``j``'s touches of its channel's per-touch credit ``rate``."""
    return weighted_count(journeys.journey_of_touch, rate[journeys.channel], journeys.n_journeys)


def roc_auc(converted: BoolArray, score: FloatArray) -> float:
    """ROC AUC by the Mann–Whitney U statistic with average ranks for ties (NaN without both classes)."""
    y = np.asarray(converted, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranked = np.asarray(score)[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], len(ranked)]
    average = (starts + ends + 1) / 2.0  # 1-based average rank of each tie group
    ranks = np.empty(len(ranked))
    ranks[order] = np.repeat(average, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def log_loss(converted: BoolArray, probability: FloatArray) -> float:
    """Mean binary cross-entropy, probabilities clipped to ``[1e-6, 1 - 1e-6]``."""
    y = np.asarray(converted, dtype=np.float64)
    p = np.clip(probability, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))) if len(y) else float("nan")


def split_journeys(journeys: Journeys, holdout_fraction: float, seed: int) -> tuple[Journeys, Journeys]:
    """Seeded split into (train, held-out): each journey is held out with probability ``holdout_fraction``."""
    if not 0 < holdout_fraction < 1:
        raise SiyuError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}",
                        code="bad_holdout_fraction", input_name="holdout_fraction")
    held = np.random.default_rng(seed).random(journeys.n_journeys) < holdout_fraction
    if held.all() or not held.any():
        raise SiyuError(f"{journeys.n_journeys} journeys are too few to split", code="too_few_journeys",
                        input_name="touches")
    return journeys.subset(~held), journeys.subset(held)


def holdout_validation(touches: pa.Table | Journeys, models: Models = None, *, holdout_fraction: float = 0.3,
                       seed: int = 0) -> pa.Table:
    """Predictive accuracy of each model's credit on held-out journeys (see the module doc for the score).

    One row per model label: ``model, auc, log_loss, auc_vs_linear`` (AUC minus linear attribution's),
    ``n_train, n_holdout, holdout_conversions``. Linear attribution is added as the reference when absent.
    """
    train, held = split_journeys(as_journeys(touches), holdout_fraction, seed)
    labelled = _labelled(models)
    if not any(isinstance(m, Linear) for m in labelled.values()):
        labelled["linear"] = Linear()
    rows: dict[str, tuple[float, float]] = {}
    for label, model in labelled.items():
        scores = journey_scores(per_touch_credit(model.fit(train), train), held)
        rows[label] = (roc_auc(held.converted, scores), log_loss(held.converted, -np.expm1(-scores)))
    linear_auc = next(rows[label][0] for label, m in labelled.items() if isinstance(m, Linear))
    labels = list(rows)
    return pa.table({
        "model": pa.array(labels, pa.string()),
        "auc": pa.array([rows[k][0] for k in labels], pa.float64()),
        "log_loss": pa.array([rows[k][1] for k in labels], pa.float64()),
        "auc_vs_linear": pa.array([rows[k][0] - linear_auc for k in labels], pa.float64()),
        "n_train": pa.array([train.n_journeys] * len(labels), pa.int64()),
        "n_holdout": pa.array([held.n_journeys] * len(labels), pa.int64()),
        "holdout_conversions": pa.array([int(held.converted.sum())] * len(labels), pa.int64()),
    })
