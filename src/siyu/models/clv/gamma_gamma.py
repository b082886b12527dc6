"""Gamma-Gamma: how much a customer spends per purchase, shrunk toward the population mean.

A customer's order values are Gamma(p, ν) with ν ~ Gamma(q, γ) across customers, so their mean order
value E[Z] = pν⁻¹ varies around the population mean pγ/(q − 1). Given x repeat purchases averaging
m, the expected order value is the weighted mean (q − 1)/(px + q − 1) · pγ/(q − 1) + px/(px + q − 1) · m
(Fader, Hardie & Lee 2005; Fader & Hardie 2013, eq. 5). The model assumes spend does not depend on
how often someone buys; :meth:`GammaGamma.fit` reports that correlation so it can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

from siyu.core.errors import SiyuError
from siyu.models.clv.likelihood import gamma_gamma_loglik
from siyu.models.clv.mle import Fit, fit_mle, load_fit, save_fit

PARAMS = ("p", "q", "gamma")


@dataclass
class GammaGamma:
    params: dict[str, float] = field(default_factory=dict)
    std_errors: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    fit_result: Fit | None = None

    name = "gamma_gamma"

    def fit(self, frequency: np.ndarray, monetary: np.ndarray, *,
            starts: list[tuple[float, ...]] | None = None) -> Self:
        """Fit on repeat customers (frequency ≥ 1, monetary > 0); others are left out, and counted."""
        x, m = np.asarray(frequency, dtype=np.float64), np.asarray(monetary, dtype=np.float64)
        if len(x) != len(m):
            raise SiyuError("frequency and monetary must have the same length", code="bad_summary")
        keep = (x >= 1) & np.isfinite(m) & (m > 0)
        if keep.sum() < 10:
            raise SiyuError(f"Gamma-Gamma needs repeat customers with spend; found {int(keep.sum())}", code="no_data")
        x, m = x[keep], m[keep]
        mean = float(m.mean())
        guesses = [(5.0, 3.0, mean), (1.0, 1.0, mean), (2.0, 10.0, 10 * mean)]
        fit = fit_mle(gamma_gamma_loglik, PARAMS, [x, m], starts or guesses[:1], fallback=[] if starts else guesses[1:])
        self.params, self.std_errors, self.fit_result = fit.params, fit.std_errors, fit
        self.metrics = {"log_likelihood": fit.log_likelihood, "customers": float(fit.n),
                        "left_out": float(len(keep) - keep.sum()), "converged": float(fit.converged),
                        "frequency_monetary_correlation": float(np.corrcoef(x, m)[0, 1]) if len(x) > 2 else np.nan}
        return self

    def _theta(self) -> tuple[float, float, float]:
        if not self.params:
            raise SiyuError("gamma_gamma is not fitted", code="not_fitted")
        return self.params["p"], self.params["q"], self.params["gamma"]

    def population_mean(self) -> float:
        """Mean order value across customers, pγ/(q − 1) (infinite when q ≤ 1)."""
        p, q, gamma = self._theta()
        return p * gamma / (q - 1) if q > 1 else float("inf")

    def expected_order_value(self, frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
        """E[order value | x, m]; customers with no repeat purchase get the population mean."""
        p, q, gamma = self._theta()
        x = np.asarray(frequency, dtype=np.float64)
        m = np.nan_to_num(np.asarray(monetary, dtype=np.float64), nan=0.0)
        if q <= 1:
            raise SiyuError(f"fitted q = {q:.3f} ≤ 1: the mean order value does not exist", code="bad_fit")
        shrunk = p * (gamma + x * m) / (p * x + q - 1)
        return np.where(x >= 1, shrunk, self.population_mean())

    def log_likelihood(self, frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
        ll, _ = gamma_gamma_loglik(*self._theta(), np.asarray(frequency, float), np.asarray(monetary, float))
        return np.asarray(ll)

    def save(self, folder: Path) -> None:
        save_fit(folder, self.name, self.params, self.std_errors, self.metrics)

    @classmethod
    def load(cls, folder: Path) -> Self:
        fit = load_fit(folder, cls.name)
        return cls(params=fit["params"], std_errors=fit["std_errors"], metrics=fit["metrics"])
