"""Evaluation of a warning model (模型评估): ranking, decisions at a threshold, calibration.

- **AUC** (ROC 曲线下面积): the probability that a random positive scores above a random negative, ties
  counting one half — the Mann–Whitney U statistic divided by n₊·n₋ (Hanley & McNeil 1982).
- **PR-AUC** (average precision): Σₖ (Rₖ − Rₖ₋₁)·Pₖ over the distinct score thresholds from the top, the
  step-wise area under the precision–recall curve (as in scikit-learn's ``average_precision_score``).
- **Precision / recall / F1** at a threshold t: a person is flagged when probability ≥ t; precision
  0 when nobody is flagged. The default t maximises F1 on the validation split.
- **Lift in the top decile** (前10%提升度): the positive rate among the 10% highest scores over the base
  rate. Scores tied across the cut-off count in proportion (the expected value of a random tie-break).
- **Brier score**: mean (p − y)² (Brier 1950); lower is better; a constant base rate scores rate·(1 − rate).
- **Reliability curve** (校准曲线): ten equal-width probability bins; per non-empty bin the count, mean
  predicted probability and observed rate (the binning of scikit-learn's ``calibration_curve``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from siyu.core.errors import SiyuError


def _check(y: np.ndarray, s: np.ndarray, name: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int8)
    s = np.asarray(s, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise SiyuError(f"labels and {name} must be 1-D of the same length, got {y.shape} and {s.shape}",
                        code="bad_evaluation_input", input_name=name)
    if np.isnan(s).any():
        raise SiyuError(f"{name} contain NaN", code="bad_evaluation_input", input_name=name)
    if not np.isin(y, (0, 1)).all():
        raise SiyuError("labels must be 0 or 1", code="bad_evaluation_input", input_name="labels")
    return y, s


def _midranks(s: np.ndarray) -> np.ndarray:
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0  # ranks a+1..b, averaged
    return ranks


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U / n₊n₋, ties one half)."""
    y, s = _check(y, s)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise SiyuError("AUC needs both positives and negatives", code="one_class", input_name="labels")
    r = _midranks(s)
    return float((r[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """PR-AUC as average precision: Σ (Rₖ − Rₖ₋₁) Pₖ over distinct thresholds, highest first."""
    y, s = _check(y, s)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise SiyuError("PR-AUC needs at least one positive", code="one_class", input_name="labels")
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    last = np.r_[ss[1:] != ss[:-1], True]  # the last row of each tied group closes a threshold
    tp = np.cumsum(ys)[last]
    k = (np.arange(1, len(ys) + 1))[last]
    precision, recall = tp / k, tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def confusion_at(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall and F1 when everyone with p ≥ threshold is flagged."""
    y, p = _check(y, p, "probabilities")
    flagged = p >= threshold
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"threshold": float(threshold), "precision": precision, "recall": recall, "f1": f1,
            "flagged_share": float(flagged.mean())}


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold (one of the probabilities) with the highest F1; the highest such one on ties."""
    y, p = _check(y, p, "probabilities")
    n_pos = int(y.sum())
    if n_pos == 0:
        raise SiyuError("choosing a threshold needs at least one positive", code="one_class", input_name="labels")
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    last = np.r_[ps[1:] != ps[:-1], True]
    tp = np.cumsum(ys)[last]
    k = np.arange(1, len(ys) + 1)[last]
    f1 = 2 * tp / (k + n_pos)  # 2PR/(P+R) = 2tp / (flagged + positives)
    return float(ps[last][int(np.argmax(f1))])


def lift_top_decile(y: np.ndarray, s: np.ndarray, share: float = 0.1) -> float:
    """Positive rate among the top ``share`` of scores over the base rate (ties at the cut count in proportion)."""
    y, s = _check(y, s)
    base = y.mean()
    if base == 0:
        raise SiyuError("lift needs at least one positive", code="one_class", input_name="labels")
    k = share * len(y)
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order].astype(np.float64), s[order]
    cut = ss[min(len(ss) - 1, max(0, math.ceil(k) - 1))]
    above = ss > cut
    tied = ss == cut
    n_above = int(above.sum())
    hits = ys[above].sum() + (k - n_above) * ys[tied].mean()
    return float(hits / k / base)


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared difference between probability and outcome (Brier 1950)."""
    y, p = _check(y, p, "probabilities")
    return float(np.mean((p - y) ** 2))


def reliability_curve(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> list[dict[str, float]]:
    """Per non-empty equal-width bin of probability: its edges, count, mean predicted and observed rate."""
    y, p = _check(y, p, "probabilities")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], p)  # what calibration_curve does: a value on an inner edge goes left
    rows = []
    for b in range(n_bins):
        sel = ids == b
        n = int(sel.sum())
        if n:
            rows.append({"bin_low": float(edges[b]), "bin_high": float(edges[b + 1]), "count": n,
                         "mean_predicted": float(p[sel].mean()), "observed_rate": float(y[sel].mean())})
    return rows


def evaluate(y: np.ndarray, score: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, Any]:
    """Every metric of the module doc: ranking metrics on ``score``, the rest on ``probability``."""
    y = np.asarray(y).astype(np.int8)
    out: dict[str, Any] = {"n": len(y), "base_rate": float(y.mean()), "auc": roc_auc(y, score),
                           "pr_auc": average_precision(y, score), "lift_top_decile": lift_top_decile(y, score),
                           "brier": brier(y, probability)}
    out.update(confusion_at(y, probability, threshold))
    out["reliability"] = reliability_curve(y, probability)
    return out
