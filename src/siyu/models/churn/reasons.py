"""Per-person top reasons (风险原因): the features that push one person's score up the most.

LightGBM's ``pred_contrib`` gives each person's SHAP values (TreeSHAP: the feature contributions sum to
the log-odds score; Lundberg et al. 2020). The reasons are the ``k`` features with the largest *positive*
contribution, each said in Chinese and English so the ops team can act, e.g. ``近7天互动下降 / interactions
fell in the last 7 days`` or ``已12天未互动 / no interaction for 12 days``. Whether a value reads as "few"
or "many" compares it with the feature's mean on the training split; a missing value (never ordered, no
messages delivered) is said as "none". A person with fewer than ``k`` positive contributions gets nulls.
"""

from __future__ import annotations

import math

import numpy as np

from siyu.models.churn.features import FEATURES


def _fmt(v: float) -> str:
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.2f}"


def phrase(feature: str, value: float, mean: float) -> str:
    """``"<zh> / <en>"`` for one feature value, low or high against the training mean."""
    f = FEATURES[feature]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{f.zh}: 无记录 / {f.en}: none"
    zh, en = f.high if value > mean else f.low
    text = _fmt(value)
    return f"{zh.format(value=text)} / {en.format(value=text)}"


def top_reasons(contrib: np.ndarray, x: np.ndarray, names: list[str], means: dict[str, float],
                k: int = 3) -> list[list[str | None]]:
    """Per row, the phrases of the ``k`` largest positive contributions (``contrib`` without its bias column)."""
    n_features = len(names)
    c = contrib[:, :n_features]
    order = np.argsort(-c, axis=1, kind="mergesort")[:, :k]
    mean_vec = [means.get(name, 0.0) for name in names]
    out: list[list[str | None]] = []
    for i in range(c.shape[0]):
        row: list[str | None] = []
        for j in order[i].tolist():
            if c[i, j] > 0:
                row.append(phrase(names[j], float(x[i, j]), mean_vec[j]))
        out.append(row + [None] * (k - len(row)))
    return out
