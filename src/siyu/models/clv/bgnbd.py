"""BG/NBD and MBG/NBD: how many purchases a customer will make, and whether they are still "alive".

Both models: while alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each
purchase they drop out for good with probability p ~ Beta(a, b). BG/NBD lets them drop out only after
a *repeat* purchase; MBG/NBD also right after the first, so one-time buyers can be dead (BG/NBD calls
every customer with no repeat purchase alive). Formulas: Fader, Hardie & Lee (2005) eq. 10 and 11;
Batislam, Denizel & Filiztekin (2007).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from scipy.special import hyp2f1

from siyu.core.errors import SiyuError
from siyu.models.clv.likelihood import bgnbd_loglik, mbgnbd_loglik
from siyu.models.clv.mle import Fit, fit_mle, load_fit, pool, save_fit

PARAMS = ("r", "alpha", "a", "b")


def _check_summary(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    if not (len(x) == len(t_x) == len(T)):
        raise SiyuError("frequency, recency and T must have the same length", code="bad_summary")
    if len(x) == 0:
        raise SiyuError("no customers to fit", code="no_data")
    bad = (x < 0) | (t_x < 0) | (t_x > T) | ((x == 0) & (t_x != 0)) | ~np.isfinite(x + t_x + T)
    if bad.any():
        raise SiyuError(f"{int(bad.sum())} customers have an impossible summary (need 0 ≤ recency ≤ T, recency 0 "
                        "when frequency is 0)", code="bad_summary")


@dataclass
class _PurchaseModel:
    """Shared fitting, saving and the parts of prediction both models have in the same form."""

    params: dict[str, float] = field(default_factory=dict)
    std_errors: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    fit_result: Fit | None = None

    name: ClassVar[str] = ""
    _loglik: ClassVar[Any] = None

    def fit(self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, *,
            starts: list[tuple[float, ...]] | None = None) -> Self:
        """Maximum likelihood; customers with equal summaries are pooled. By default one moment-based start,
        and two spread-out ones only if it does not converge inside the bounds; ``starts`` tries each given one."""
        x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        _check_summary(x, t_x, big_t)
        (px, pt, pT), weights = pool([x, t_x, big_t])
        guesses = default_starts(x, big_t)
        fit = fit_mle(type(self)._loglik, PARAMS, [px, pt, pT], starts or guesses[:1], weights=weights,
                      fallback=[] if starts else guesses[1:])
        self.params, self.std_errors, self.fit_result = fit.params, fit.std_errors, fit
        self.metrics = {"log_likelihood": fit.log_likelihood, "customers": float(fit.n),
                        "mean_log_likelihood": fit.log_likelihood / fit.n, "converged": float(fit.converged)}
        return self

    def log_likelihood(self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters."""
        ll, _ = type(self)._loglik(*self._theta(), np.asarray(frequency, float), np.asarray(recency, float),
                                   np.asarray(T, float))
        return np.asarray(ll)

    def _theta(self) -> tuple[float, float, float, float]:
        if not self.params:
            raise SiyuError(f"{self.name} is not fitted", code="not_fitted")
        p = self.params
        return p["r"], p["alpha"], p["a"], p["b"]

    def _theta_for_expectations(self) -> tuple[float, float, float, float]:
        """The expectations divide by a − 1; at a = 1 exactly they are 0/0 with a finite limit, taken
        at a = 1 + 1e-7 (relative error ~1e-9)."""
        r, alpha, a, b = self._theta()
        return r, alpha, (a if abs(a - 1) > 1e-7 else 1 + 1e-7), b

    def save(self, folder: Path) -> None:
        save_fit(folder, self.name, self.params, self.std_errors, self.metrics)

    @classmethod
    def load(cls, folder: Path) -> Self:
        fit = load_fit(folder, cls.name)
        return cls(params=fit["params"], std_errors=fit["std_errors"], metrics=fit["metrics"])


class BetaGeo(_PurchaseModel):
    """BG/NBD (Fader, Hardie & Lee 2005)."""

    name: ClassVar[str] = "bg_nbd"
    _loglik: ClassVar[Any] = staticmethod(bgnbd_loglik)

    def probability_alive(self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(alive | x, t_x, T), eq. 11: 1 for customers with no repeat purchase."""
        r, alpha, a, b = self._theta()
        x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        has = x > 0
        log_odds = np.log(a) - np.log(np.where(has, b + x - 1, 1.0)) + (r + x) * (np.log(alpha + big_t)
                                                                                 - np.log(alpha + t_x))
        return np.where(has, 1.0 / (1.0 + np.exp(np.minimum(log_odds, 700.0))), 1.0)

    def expected_purchases(self, t: float, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        """E[purchases in the next ``t`` days | x, t_x, T], eq. 10."""
        r, alpha, a, b = self._theta_for_expectations()
        x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        z = t / (alpha + big_t + t)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
        tail = np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + t))) * hyp
        return (a + b + x - 1) / (a - 1) * (1 - tail) * self.probability_alive(x, t_x, big_t)

    def expected_purchases_new(self, t: float | np.ndarray) -> np.ndarray:
        """E[repeat purchases within ``t`` days of the first] for a new customer, eq. 9."""
        r, alpha, a, b = self._theta_for_expectations()
        t = np.asarray(t, dtype=np.float64)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))


class ModifiedBetaGeo(_PurchaseModel):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007)."""

    name: ClassVar[str] = "mbg_nbd"
    _loglik: ClassVar[Any] = staticmethod(mbgnbd_loglik)

    def probability_alive(self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._theta()
        x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        log_odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        return 1.0 / (1.0 + np.exp(np.minimum(log_odds, 700.0)))

    def expected_purchases(self, t: float, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._theta_for_expectations()
        x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        z = t / (alpha + big_t + t)
        hyp = hyp2f1(r + x, b + x + 1, a + b + x, z)
        tail = np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + t))) * hyp
        return (a + b + x) / (a - 1) * (1 - tail) * self.probability_alive(x, t_x, big_t)

    def expected_purchases_new(self, t: float | np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._theta_for_expectations()
        t = np.asarray(t, dtype=np.float64)
        return b / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b + 1, a + b - 1, t / (alpha + t)))


def default_starts(x: np.ndarray, T: np.ndarray) -> list[tuple[float, ...]]:
    """A moment-based start (mean rate ≈ r/α) and two spread-out ones: the fit keeps the best."""
    rate = max(float(x.sum() / max(T.sum(), 1e-9)), 1e-4)
    return [(1.0, 1.0 / rate, 1.0, 3.0), (0.3, 0.3 / rate, 0.5, 1.0), (3.0, 3.0 / rate, 3.0, 10.0)]
