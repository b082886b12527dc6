"""Test helpers for the CLV models: the CDNOW data shipped with lifetimes, and exact BG/NBD / MBG/NBD simulation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def cdnow(with_monetary: bool = False) -> pd.DataFrame:
    """The CDNOW summary (2,357 customers, 39 weeks of calibration) that Fader, Hardie & Lee (2005) fit.

    Read from the copy the ``lifetimes`` package ships; columns frequency, recency, T (weeks) and, with
    ``with_monetary``, monetary (mean repeat spend, dollars).
    """
    import lifetimes

    folder = Path(lifetimes.__file__).parent / "datasets"
    if not with_monetary:
        return pd.read_csv(folder / "cdnow_customers_summary.csv")
    raw = pd.read_csv(folder / "cdnow_customers_summary_with_transactions.csv")
    return raw.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary"})


def simulate(n: int, r: float, alpha: float, a: float, b: float, *, seed: int, modified: bool = False,
             t_range: tuple[float, float] = (120.0, 360.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact draws of (x, t_x, T) from BG/NBD (or MBG/NBD with ``modified``), observation lengths uniform in t_range.

    While alive, purchases are Poisson(λ); the customer dies after the j-th repeat purchase with the
    geometric law of p (MBG/NBD: also right after the first purchase). Given N Poisson points in (0, T],
    the x-th is the x-th order statistic of N uniforms: T · Beta(x, N − x + 1).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(*t_range, n)
    n_points = rng.poisson(lam * T)
    repeats_before_death = rng.geometric(p) - (1 if modified else 0)
    x = np.minimum(n_points, repeats_before_death)
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(n_points - x + 1, 1)), 0.0)
    return x.astype(float), t_x, T
