"""Customer lifetime value (客户终身价值) over a horizon: expected purchases × expected order value, discounted.

CLV = Σ_{i=1..H} (E[X(30i)] − E[X(30(i−1))]) · E[order value] / (1 + d)^i over H months of 30 days,
with d the monthly rate equivalent to the annual discount rate (the source reports use 12% a year:
d = 1.12^(1/12) − 1 ≈ 0.949%). This is the discounted-cash-flow form lifetimes and the Fader–Hardie
notes use; the purchase model gives E[X(t)] given each person's history, Gamma-Gamma the order value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from siyu.core.errors import SiyuError
from siyu.models.clv.bgnbd import BetaGeo, ModifiedBetaGeo
from siyu.models.clv.gamma_gamma import GammaGamma

#: the source reports' annual discount rate
ANNUAL_DISCOUNT = 0.12
DAYS_PER_MONTH = 30.0
#: CLV bands in CNY (the default predictive tag's cut-offs): the first band whose minimum the value reaches
DEFAULT_BANDS: tuple[tuple[str, float], ...] = (("top", 3000.0), ("high", 1000.0), ("medium", 300.0), ("low", 0.0))


def monthly_rate(annual: float) -> float:
    if not 0 <= annual < 10:
        raise SiyuError(f"annual discount rate must be in [0, 10), got {annual}", code="bad_discount_rate")
    return float((1 + annual) ** (1 / 12) - 1)


def customer_lifetime_value(purchases: BetaGeo | ModifiedBetaGeo, spend: GammaGamma, frequency: np.ndarray,
                            recency: np.ndarray, T: np.ndarray, monetary: np.ndarray, *, months: int = 12,
                            annual_discount: float = ANNUAL_DISCOUNT) -> np.ndarray:
    """Discounted expected spend over the next ``months`` months, per customer (currency of ``monetary``)."""
    if not 1 <= months <= 120:
        raise SiyuError(f"horizon must be 1–120 months, got {months}", code="bad_horizon")
    d = monthly_rate(annual_discount)
    value = spend.expected_order_value(frequency, monetary)
    total = np.zeros(len(np.asarray(frequency)))
    before = np.zeros_like(total)
    for i in range(1, months + 1):
        upto = purchases.expected_purchases(DAYS_PER_MONTH * i, frequency, recency, T)
        total += (upto - before) * value / (1 + d) ** i
        before = upto
    return total


def clv_bands(values: np.ndarray, bands: Sequence[tuple[str, float]] = DEFAULT_BANDS) -> np.ndarray:
    """Band names by value: the first band (highest minimum first) whose minimum the value reaches."""
    mins = [m for _, m in bands]
    if mins != sorted(mins, reverse=True):
        raise SiyuError("CLV bands must be listed from the highest minimum down", code="bad_bands")
    out = np.full(len(values), None, dtype=object)
    for name, minimum in reversed(bands):
        out[np.asarray(values) >= minimum] = name
    return out
