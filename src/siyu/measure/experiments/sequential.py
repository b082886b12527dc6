"""Always-valid inference for teams that look at results every day (连续监测 / 随时查看).

A fixed-horizon p-value is valid only at the one sample size planned in advance; checking it daily
and stopping at the first p < 0.05 makes false winners far more often than 5%. The mixture
sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis & Walsh, "Peeking at A/B Tests"
(KDD 2017) and "Always Valid Inference: Continuous Monitoring of A/B Tests" (Operations Research 70,
2022), gives p-values and confidence sequences that stay valid however often they are checked.

With ``theta_hat`` = mean_B - mean_A and its variance ``V = var_A/n_A + var_B/n_B`` at a peek, and a
normal mixing distribution N(theta0, tau^2) over the effect, the mixture likelihood ratio is (their
eq. for the normal two-stream case, allowing unequal arms)::

    Lambda = sqrt(V / (V + tau^2)) * exp( tau^2 (theta_hat - theta0)^2 / (2 V (V + tau^2)) )

The always-valid p-value is the running minimum of ``min(1, 1/Lambda)``; the confidence sequence is the
running intersection of ``{theta0 : Lambda(theta0) < 1/alpha}``. Proportions use the normal
approximation with the Bernoulli variance p(1 - p), and the variances are plug-in estimates, as in the
paper.

The mixing variance tau^2 sets which effect sizes the test is quickest to detect. Default: tau =
0.1 standard deviations of the metric (``effect_scale=0.1``, so tau^2 = 0.01 (var_A + var_B)/2 at each
peek), a "small" standardised effect, typical of marketing campaigns. Pass ``tau2`` to fix it in the
metric's own units, chosen before the test starts (e.g. from the spread of past experiments' effects).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from siyu.core.errors import SiyuError
from siyu.measure.experiments._base import ExperimentResult, FloatArray, check_alpha, check_positive

DEFAULT_EFFECT_SCALE = 0.1


def _peek_array(values: npt.ArrayLike, name: str) -> FloatArray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise SiyuError(f"{name} must be a non-empty 1-D array with one value per peek, got shape {x.shape}",
                        code="bad_peeks", input_name=name)
    if not np.all(np.isfinite(x)):
        raise SiyuError(f"{name} contains NaN or infinite values", code="bad_peeks", input_name=name)
    return x


@dataclass(frozen=True)
class CumulativeStats:
    """Per-arm statistics accumulated up to each peek (one entry a peek, e.g. one a day)."""

    n_a: FloatArray
    mean_a: FloatArray
    var_a: FloatArray  # per-unit variance of the metric in arm A (ddof=1 or the Bernoulli p(1-p))
    n_b: FloatArray
    mean_b: FloatArray
    var_b: FloatArray

    def __post_init__(self) -> None:
        arrays = {f: _peek_array(getattr(self, f), f) for f in ("n_a", "mean_a", "var_a", "n_b", "mean_b", "var_b")}
        sizes = {a.size for a in arrays.values()}
        if len(sizes) != 1:
            raise SiyuError(f"every array needs one value per peek; got lengths {sorted(sizes)}", code="bad_peeks",
                            input_name="n_a")
        for name in ("n_a", "n_b"):
            n = arrays[name]
            if np.any(n < 1) or np.any(np.diff(n) < 0):
                raise SiyuError(f"{name} must be cumulative unit counts: >= 1 and never decreasing",
                                code="bad_peeks", input_name=name)
        for name in ("var_a", "var_b"):
            if np.any(arrays[name] < 0):
                raise SiyuError(f"{name} must be >= 0", code="bad_peeks", input_name=name)
        for name, arr in arrays.items():
            object.__setattr__(self, name, arr)

    @classmethod
    def from_proportions(cls, conversions_a: npt.ArrayLike, n_a: npt.ArrayLike, conversions_b: npt.ArrayLike,
                         n_b: npt.ArrayLike) -> CumulativeStats:
        """From cumulative conversions and units of each arm at each peek (normal approximation)."""
        xa, na = _peek_array(conversions_a, "conversions_a"), _peek_array(n_a, "n_a")
        xb, nb = _peek_array(conversions_b, "conversions_b"), _peek_array(n_b, "n_b")
        if xa.shape != na.shape or xb.shape != nb.shape:
            raise SiyuError("conversions and units need one value per peek each", code="bad_peeks",
                            input_name="conversions_a")
        if np.any(na < 1) or np.any(nb < 1) or np.any((xa < 0) | (xa > na)) or np.any((xb < 0) | (xb > nb)):
            raise SiyuError("need 0 <= conversions <= units and units >= 1 at every peek", code="bad_peeks",
                            input_name="conversions_a")
        pa, pb = xa / na, xb / nb
        return cls(na, pa, pa * (1.0 - pa), nb, pb, pb * (1.0 - pb))

    @classmethod
    def from_daily_totals(cls, count_a: npt.ArrayLike, sum_a: npt.ArrayLike, sum_sq_a: npt.ArrayLike,
                          count_b: npt.ArrayLike, sum_b: npt.ArrayLike, sum_sq_b: npt.ArrayLike) -> CumulativeStats:
        """From each day's own totals (units, sum and sum of squares of the metric), accumulated here.

        This is what a daily warehouse aggregate gives; the running mean and variance (ddof=1) follow.
        """
        out = []
        for n, s, ss, arm in ((count_a, sum_a, sum_sq_a, "a"), (count_b, sum_b, sum_sq_b, "b")):
            cn = np.cumsum(_peek_array(n, f"count_{arm}"))
            cs = np.cumsum(_peek_array(s, f"sum_{arm}"))
            css = np.cumsum(_peek_array(ss, f"sum_sq_{arm}"))
            if cn.shape != cs.shape or cn.shape != css.shape:
                raise SiyuError(f"arm {arm}: counts, sums and sums of squares need one value per day",
                                code="bad_peeks", input_name=f"count_{arm}")
            if np.any(cn < 1):
                raise SiyuError(f"arm {arm} has no units at the first peek; start peeking once both arms have data",
                                code="bad_peeks", input_name=f"count_{arm}")
            mean = cs / cn
            var = np.where(cn > 1, np.maximum(css - cn * mean**2, 0.0) / np.maximum(cn - 1.0, 1.0), 0.0)
            out.append((cn, mean, var))
        (na, ma, va), (nb, mb, vb) = out
        return cls(na, ma, va, nb, mb, vb)


@dataclass(frozen=True)
class SequentialResult(ExperimentResult):
    """mSPRT at every peek: always-valid p-values and confidence sequence of mean_B - mean_A."""

    alpha: float
    theta0: float
    tau2: FloatArray  # mixing variance used at each peek
    difference: FloatArray  # theta_hat at each peek
    log_likelihood_ratio: FloatArray  # log Lambda at each peek
    p_values: FloatArray  # always-valid, non-increasing
    ci_low: FloatArray  # always-valid confidence sequence (running intersection)
    ci_high: FloatArray
    stopped_at: int | None  # first peek (0-based) with p < alpha, or None


def _tau2(stats: CumulativeStats, tau2: float | None, effect_scale: float) -> FloatArray:
    if tau2 is not None:
        return np.full(stats.n_a.size, check_positive(tau2, "tau2"))
    scale = check_positive(effect_scale, "effect_scale")
    return np.asarray(scale**2 * (stats.var_a + stats.var_b) / 2.0, dtype=np.float64)


def _variance(stats: CumulativeStats) -> FloatArray:
    return np.asarray(stats.var_a / stats.n_a + stats.var_b / stats.n_b, dtype=np.float64)


def log_likelihood_ratio(stats: CumulativeStats, tau2: float | None = None,
                         effect_scale: float = DEFAULT_EFFECT_SCALE, theta0: float = 0.0) -> FloatArray:
    """log Lambda of the normal-mixture SPRT at each peek (0 where there is no variance yet)."""
    v, t2 = _variance(stats), _tau2(stats, tau2, effect_scale)
    ok = (v > 0) & (t2 > 0)
    v_, t2_ = np.where(ok, v, 1.0), np.where(ok, t2, 1.0)
    d = stats.mean_b - stats.mean_a - float(theta0)
    llr = 0.5 * np.log(v_ / (v_ + t2_)) + t2_ * d * d / (2.0 * v_ * (v_ + t2_))
    return np.asarray(np.where(ok, llr, 0.0), dtype=np.float64)


def always_valid_p_values(stats: CumulativeStats, tau2: float | None = None,
                          effect_scale: float = DEFAULT_EFFECT_SCALE, theta0: float = 0.0) -> FloatArray:
    """Always-valid p-values: p_n = min(p_{n-1}, 1 / Lambda_n), p_0 = 1; stop at any peek where p < alpha."""
    llr = log_likelihood_ratio(stats, tau2, effect_scale, theta0)
    return np.asarray(np.minimum.accumulate(np.exp(-np.maximum(llr, 0.0))), dtype=np.float64)


def confidence_sequence(stats: CumulativeStats, alpha: float = 0.05, tau2: float | None = None,
                        effect_scale: float = DEFAULT_EFFECT_SCALE) -> tuple[FloatArray, FloatArray]:
    """Always-valid (1 - alpha) interval of mean_B - mean_A at each peek: running intersection of
    ``theta_hat +- sqrt(2 V (V + tau^2) / tau^2 * (log(1/alpha) + log((V + tau^2) / V) / 2))``."""
    alpha = check_alpha(alpha)
    v, t2 = _variance(stats), _tau2(stats, tau2, effect_scale)
    d = stats.mean_b - stats.mean_a
    ok = (v > 0) & (t2 > 0)
    v_, t2_ = np.where(ok, v, 1.0), np.where(ok, t2, 1.0)
    half = np.sqrt(2.0 * v_ * (v_ + t2_) / t2_ * (math.log(1.0 / alpha) + 0.5 * np.log((v_ + t2_) / v_)))
    low = np.where(ok, d - half, -np.inf)
    high = np.where(ok, d + half, np.inf)
    return (np.asarray(np.maximum.accumulate(low), dtype=np.float64),
            np.asarray(np.minimum.accumulate(high), dtype=np.float64))


def msprt(stats: CumulativeStats, alpha: float = 0.05, tau2: float | None = None,
          effect_scale: float = DEFAULT_EFFECT_SCALE, theta0: float = 0.0) -> SequentialResult:
    """The full mSPRT read-out at every peek. Example::

        s = CumulativeStats.from_proportions(conv_a.cumsum(), n_a.cumsum(), conv_b.cumsum(), n_b.cumsum())
        msprt(s).stopped_at      # first day the result may be called, or None
    """
    alpha = check_alpha(alpha)
    llr = log_likelihood_ratio(stats, tau2, effect_scale, theta0)
    p = always_valid_p_values(stats, tau2, effect_scale, theta0)
    low, high = confidence_sequence(stats, alpha, tau2, effect_scale)
    hits = np.flatnonzero(p < alpha)
    return SequentialResult(alpha=alpha, theta0=float(theta0), tau2=_tau2(stats, tau2, effect_scale),
                            difference=np.asarray(stats.mean_b - stats.mean_a, dtype=np.float64),
                            log_likelihood_ratio=llr, p_values=p, ci_low=low, ci_high=high,
                            stopped_at=int(hits[0]) if hits.size else None)
