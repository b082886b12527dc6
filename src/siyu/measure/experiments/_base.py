"""Shared pieces of the experiment statistics: result base class, input checks, distribution helpers.

Only numpy and ``scipy.special`` are used here, so that the tests can hold every statistic against
scipy.stats / statsmodels as an independent reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from siyu.core.errors import SiyuError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ExperimentResult:
    """Base of every result: a frozen dataclass that turns itself into plain JSON-ready Python."""

    def to_dict(self) -> dict[str, Any]:
        """Fields as plain Python (floats, ints, lists, nested dicts) for the CLI, API and reports.

        NaN and infinite numbers (an undefined ratio, an interval not bounded yet) become ``None``,
        so the result is strict JSON.
        """
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(value: Any) -> Any:
    if isinstance(value, ExperimentResult):
        return value.to_dict()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


# --- input checks ---------------------------------------------------------------------------------


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """A significance level (or tail probability) strictly between 0 and 1."""
    a = float(alpha)
    if not 0.0 < a < 1.0:
        raise SiyuError(f"{name} must be strictly between 0 and 1, got {alpha!r}", code="bad_alpha",
                        input_name=name)
    return a


def as_sample(values: npt.ArrayLike, name: str, *, min_size: int = 2) -> FloatArray:
    """A 1-D float sample of finite numbers with at least ``min_size`` values."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise SiyuError(f"{name} must be a 1-D array of numbers, got shape {x.shape}", code="bad_sample",
                        input_name=name)
    if x.size < min_size:
        raise SiyuError(f"{name} needs at least {min_size} values, got {x.size}", code="sample_too_small",
                        input_name=name)
    if not np.all(np.isfinite(x)):
        raise SiyuError(f"{name} contains NaN or infinite values", code="bad_sample", input_name=name)
    return x


def check_counts(successes: float, trials: float, name: str) -> tuple[float, float]:
    """Conversions and units of one arm: 0 <= successes <= trials, trials > 0, whole numbers."""
    x, n = float(successes), float(trials)
    if not (math.isfinite(x) and math.isfinite(n)) or x != round(x) or n != round(n):
        raise SiyuError(f"{name}: conversions and units must be whole numbers, got {successes!r}/{trials!r}",
                        code="bad_counts", input_name=name)
    if n <= 0 or x < 0 or x > n:
        raise SiyuError(f"{name}: need 0 <= conversions <= units and units > 0, got {x:g}/{n:g}",
                        code="bad_counts", input_name=name)
    return x, n


def check_positive(value: float, name: str) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise SiyuError(f"{name} must be a positive finite number, got {value!r}", code="bad_parameter",
                        input_name=name)
    return v


def binary_sample(values: npt.ArrayLike, name: str) -> tuple[float, float]:
    """Conversions and units from a 0/1 (or boolean) per-unit outcome array."""
    x = as_sample(values, name, min_size=1)
    if not np.all((x == 0.0) | (x == 1.0)):
        raise SiyuError(f"{name} must hold only 0/1 (converted or not) values", code="bad_sample",
                        input_name=name)
    return float(x.sum()), float(x.size)


# --- distributions (scipy.special only) -----------------------------------------------------------


def norm_sf(z: Any) -> Any:
    """Upper tail of the standard normal, accurate far in the tail (ndtr(-z))."""
    return special.ndtr(-np.asarray(z, dtype=np.float64))


def norm_ppf(p: float) -> float:
    return float(special.ndtri(p))


def norm_pdf(z: Any) -> Any:
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def two_sided_normal_p(z: float) -> float:
    """Two-sided p-value of a standard-normal statistic, capped at 1."""
    return float(min(1.0, 2.0 * norm_sf(abs(z))))


def two_sided_t_p(t: float, df: float) -> float:
    return float(min(1.0, 2.0 * special.stdtr(df, -abs(t))))


def t_ppf(p: float, df: float) -> float:
    return float(special.stdtrit(df, p))
