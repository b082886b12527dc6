"""Maximum likelihood for the CLV models: identical customers pooled, log-parameters, L-BFGS-B from
several starting points, standard errors from the Hessian.

Customers with the same summary (``x``, ``t_x``, ``T`` in whole days, say) contribute the same
log-likelihood, so they are pooled into one row with a weight: a million customers over two years
become a few hundred thousand rows. The optimiser works on ``log θ`` (every parameter is positive)
with the analytic gradient; the Hessian of the total log-likelihood in ``θ`` is taken by central
differences of that gradient, and its inverse gives the standard errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from siyu.core.errors import SiyuError

LogLik = Callable[..., tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Fit:
    """The estimate, its standard errors and how the search went."""

    params: dict[str, float]
    std_errors: dict[str, float]
    log_likelihood: float
    n: int
    converged: bool
    iterations: int
    #: log-likelihood reached from each starting point (the best is kept)
    starts: list[dict[str, float]] = field(default_factory=list)


def pool(columns: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows of ``columns`` and how many customers each stands for."""
    stacked = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return [unique[:, j] for j in range(unique.shape[1])], counts.astype(np.float64)


def fit_mle(loglik: LogLik, names: Sequence[str], data: Sequence[np.ndarray], starts: Sequence[Sequence[float]],
            *, weights: np.ndarray | None = None, bounds: tuple[float, float] = (1e-6, 1e6),
            max_iter: int = 500, fallback: Sequence[Sequence[float]] = ()) -> Fit:
    """Maximise ``Σ weights · loglik(θ, *data)`` over positive ``θ``; the best of ``starts`` wins. The
    ``fallback`` starts are tried only when none of ``starts`` converged inside the bounds."""
    w = np.ones(len(data[0])) if weights is None else np.asarray(weights, dtype=np.float64)
    n = float(w.sum())
    if n == 0:
        raise SiyuError("no customers to fit", code="no_data")
    lo, hi = np.log(bounds[0]), np.log(bounds[1])

    def objective(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.exp(log_theta)
        ll, grad = loglik(*theta, *data)
        # element-wise products, not BLAS: a handful of parameters gains nothing from threads
        total = float(np.sum(w * ll))
        if not np.isfinite(total):
            return 1e300, np.zeros_like(log_theta)
        # mean negative log-likelihood keeps the scale independent of the number of customers
        return -total / n, -np.sum(grad * w, axis=1) * theta / n

    with threadpool_limits(limits=1, user_api="blas"):  # L-BFGS-B's tiny BLAS calls stall on busy threads
        best, tried = _search(objective, names, starts, fallback, lo, hi, max_iter, n)
    theta = np.exp(best.x)
    hess = _hessian(loglik, theta, data, w)
    std = _std_errors(hess)
    return Fit(params=dict(zip(names, theta.tolist(), strict=True)),
               std_errors=dict(zip(names, std.tolist(), strict=True)),
               log_likelihood=-float(best.fun) * n, n=int(n), converged=bool(best.success),
               iterations=int(best.nit), starts=tried)


def _search(objective: Callable[[np.ndarray], tuple[float, np.ndarray]], names: Sequence[str],
            starts: Sequence[Sequence[float]], fallback: Sequence[Sequence[float]], lo: float, hi: float,
            max_iter: int, n: float) -> tuple[Any, list[dict[str, float]]]:
    best: Any = None
    tried: list[dict[str, float]] = []

    def good(res: Any) -> bool:
        return bool(res.success) and bool(np.all((res.x > lo + 1e-3) & (res.x < hi - 1e-3)))

    for group in (starts, fallback):
        if best is not None and good(best):
            break
        for start in group:
            x0 = np.clip(np.log(np.asarray(start, dtype=np.float64)), lo, hi)
            res = minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=[(lo, hi)] * len(x0),
                           options={"maxiter": max_iter, "ftol": 1e-13, "gtol": 1e-9})
            tried.append({**dict(zip(names, np.exp(res.x).tolist(), strict=True)), "log_likelihood": -res.fun * n})
            if best is None or res.fun < best.fun:
                best = res
    return best, tried


def _hessian(loglik: LogLik, theta: np.ndarray, data: Sequence[np.ndarray], w: np.ndarray) -> np.ndarray:
    """Hessian of the total log-likelihood in θ, by central differences of the analytic gradient."""
    k = len(theta)
    hess = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(abs(theta[j]), 1e-3)
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] = max(down[j] - h, theta[j] * 1e-3)
        g_up = np.sum(loglik(*up, *data)[1] * w, axis=1)
        g_down = np.sum(loglik(*down, *data)[1] * w, axis=1)
        hess[:, j] = (g_up - g_down) / (up[j] - down[j])
    return (hess + hess.T) / 2


def _std_errors(hess: np.ndarray) -> np.ndarray:
    """√diag((−H)⁻¹); NaN where the information matrix is not positive definite."""
    info = -hess
    try:
        np.linalg.cholesky(info)
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.full(len(hess), np.nan)
    return np.sqrt(np.clip(np.diag(cov), 0, None))


def save_fit(folder: Path, model: str, params: dict[str, float], std_errors: dict[str, float],
             metrics: dict[str, float]) -> None:
    """Write a fitted model's numbers as ``folder/model.json`` (JSON, no pickle)."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"model": model, "params": params, "std_errors": std_errors, "metrics": metrics}
    (folder / "model.json").write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")


def load_fit(folder: Path, model: str) -> dict[str, dict[str, float]]:
    """``params``, ``std_errors`` and ``metrics`` of a :func:`save_fit` folder holding ``model``."""
    doc = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    if doc.get("model") != model:
        raise SiyuError(f"{folder} holds a {doc.get('model')!r} model, not {model!r}", code="bad_model_file")
    return {k: doc[k] for k in ("params", "std_errors", "metrics")}
