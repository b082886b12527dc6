"""Probability calibration (概率校准): turn a ranking score into a probability that means what it says.

Two calibrators, both fitted on the calibration half of the validation split and compared by Brier score
on the other half; the lower wins:

- **Platt scaling**: p = σ(a·s + b), fitted by maximum likelihood on Platt's smoothed targets
  t₊ = (n₊ + 1)/(n₊ + 2), t₋ = 1/(n₋ + 2), which keep a separable calibration set from giving 0 and 1
  (Platt 1999, "Probabilistic outputs for support vector machines"; Lin, Lin & Weng 2007).
- **Isotonic regression**: the non-decreasing step function closest in squared error, by pool-adjacent-
  violators (Zadrozny & Elkan 2002); tied scores are pooled first, and between the fitted scores the
  probability is interpolated linearly, outside them clipped — as scikit-learn's ``IsotonicRegression``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from siyu.core.errors import SiyuError
from siyu.models.churn.metrics import brier


@dataclass(frozen=True)
class Calibrator:
    """A fitted calibrator: ``platt`` with (a, b) or ``isotonic`` with its knots (x ascending, y)."""

    method: str
    a: float = 0.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def __call__(self, score: np.ndarray) -> np.ndarray:
        s = np.asarray(score, dtype=np.float64)
        if self.method == "platt":
            return np.asarray(expit(self.a * s + self.b))
        if self.method == "isotonic":
            return np.interp(s, np.asarray(self.x), np.asarray(self.y))
        raise SiyuError(f"unknown calibrator {self.method!r}", code="bad_calibrator", input_name="method")

    def to_dict(self) -> dict[str, Any]:
        if self.method == "platt":
            return {"method": "platt", "a": self.a, "b": self.b}
        return {"method": self.method, "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        if d.get("method") == "platt":
            return cls("platt", a=float(d["a"]), b=float(d["b"]))
        if d.get("method") == "isotonic":
            return cls("isotonic", x=tuple(map(float, d["x"])), y=tuple(map(float, d["y"])))
        raise SiyuError(f"unknown calibrator {d.get('method')!r}", code="bad_calibrator", input_name="method")


def _inputs(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(score, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    if s.shape != t.shape or s.ndim != 1 or len(s) < 2:
        raise SiyuError("calibration needs at least two scores with one label each", code="bad_calibration_input",
                        input_name="score")
    if not np.isfinite(s).all():
        raise SiyuError("calibration scores must be finite", code="bad_calibration_input", input_name="score")
    return s, t


def fit_platt(score: np.ndarray, y: np.ndarray, smooth: bool = True) -> Calibrator:
    """Platt scaling by maximum likelihood (Newton-type, on the standardised score for conditioning)."""
    s, t = _inputs(score, y)
    if smooth:
        n_pos = t.sum()
        n_neg = len(t) - n_pos
        t = np.where(t > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    mu, sd = float(s.mean()), float(s.std()) or 1.0
    z = (s - mu) / sd

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        m = w[0] * z + w[1]
        nll = -np.sum(t * log_expit(m) + (1 - t) * log_expit(-m))
        g = expit(m) - t
        return float(nll), np.array([np.sum(g * z), np.sum(g)])

    res = minimize(loss, np.zeros(2), jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 1000})
    a_z, b_z = (float(v) for v in res.x)
    return Calibrator("platt", a=a_z / sd, b=b_z - a_z * mu / sd)


def fit_isotonic(score: np.ndarray, y: np.ndarray) -> Calibrator:
    """Non-decreasing isotonic fit by pool-adjacent-violators on the tie-pooled scores."""
    s, t = _inputs(score, y)
    xs, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=t) / counts
    # PAV: a stack of blocks (value, weight, length); merge while the last two are out of order
    vals: list[float] = []
    wts: list[float] = []
    lens: list[int] = []
    for v, w in zip(means.tolist(), counts.tolist(), strict=True):
        vals.append(v)
        wts.append(w)
        lens.append(1)
        while len(vals) > 1 and vals[-2] >= vals[-1]:
            w2 = wts[-2] + wts[-1]
            vals[-2] = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / w2
            wts[-2] = w2
            lens[-2] += lens[-1]
            del vals[-1], wts[-1], lens[-1]
    fitted = np.repeat(vals, lens)
    # keep only each block's first and last knot: the same interpolation, a smaller model file
    keep = np.r_[True, fitted[1:] != fitted[:-1]] | np.r_[fitted[1:] != fitted[:-1], True]
    return Calibrator("isotonic", x=tuple(xs[keep].tolist()), y=tuple(fitted[keep].tolist()))


def choose_calibrator(fit_score: np.ndarray, fit_y: np.ndarray, eval_score: np.ndarray,
                      eval_y: np.ndarray) -> tuple[Calibrator, dict[str, float]]:
    """Fit Platt and isotonic on one set; keep the one with the lower Brier score on the other."""
    candidates = {"platt": fit_platt(fit_score, fit_y), "isotonic": fit_isotonic(fit_score, fit_y)}
    scores = {name: brier(np.asarray(eval_y), c(eval_score)) for name, c in candidates.items()}
    best = min(scores, key=lambda k: (scores[k], k != "platt"))  # Platt on a tie: two numbers, smoother
    return candidates[best], scores
