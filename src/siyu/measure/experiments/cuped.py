"""CUPED variance reduction (方差缩减) with a pre-period covariate.

Deng, Xu, Kohavi & Walker (2013), "Improving the Sensitivity of Online Controlled Experiments by
Utilizing Pre-Experiment Data", WSDM. Each unit's metric ``Y`` is adjusted by its pre-period value
``X`` (the same metric in the weeks before the test):

    Y_cuped = Y - theta * (X - mean(X)),    theta = cov(Y, X) / var(X)     (eq. 3–4 of the paper)

with theta from both arms pooled. Because assignment is random, X is balanced between arms, so the
difference of adjusted means estimates the same effect while its variance shrinks by the factor
``1 - rho^2`` (rho = corr(Y, X)). The adjusted values then go through Welch's t-test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from siyu.core.errors import SiyuError
from siyu.measure.experiments._base import ExperimentResult, as_sample
from siyu.measure.experiments.frequentist import WelchResult, welch_ttest


@dataclass(frozen=True)
class CupedResult(ExperimentResult):
    """CUPED-adjusted comparison, with the unadjusted one for reference."""

    theta: float
    correlation: float  # pooled corr(Y, X)
    variance_reduction: float  # 1 - var(adjusted difference) / var(unadjusted difference)
    adjusted: WelchResult
    unadjusted: WelchResult


def cuped_theta(metric: npt.ArrayLike, covariate: npt.ArrayLike) -> float:
    """theta = cov(Y, X) / var(X): the least-squares slope of the metric on its pre-period value."""
    y = as_sample(metric, "metric")
    x = as_sample(covariate, "covariate")
    if x.shape != y.shape:
        raise SiyuError(f"metric and covariate differ in length ({y.size} vs {x.size})", code="bad_sample",
                        input_name="covariate")
    xc = x - x.mean()
    sxx = float(xc @ xc)
    if sxx == 0:
        raise SiyuError("the pre-period covariate is constant, so it cannot explain any variance",
                        code="zero_variance", input_name="covariate")
    return float(xc @ (y - y.mean())) / sxx


def cuped(control: npt.ArrayLike, treatment: npt.ArrayLike, control_pre: npt.ArrayLike,
          treatment_pre: npt.ArrayLike, alpha: float = 0.05) -> CupedResult:
    """CUPED-adjusted Welch test of mean(treatment) - mean(control).

    ``control_pre``/``treatment_pre`` hold each unit's pre-period value, aligned with the metric
    arrays. Units without pre-period data need a value (e.g. 0) chosen before looking at results.
    """
    ya = as_sample(control, "control")
    yb = as_sample(treatment, "treatment")
    xa = as_sample(control_pre, "control_pre")
    xb = as_sample(treatment_pre, "treatment_pre")
    if xa.shape != ya.shape or xb.shape != yb.shape:
        raise SiyuError(f"pre-period arrays must align with the metric arrays: control {ya.size} vs "
                        f"{xa.size}, treatment {yb.size} vs {xb.size}", code="bad_sample",
                        input_name="control_pre" if xa.shape != ya.shape else "treatment_pre")
    y = np.concatenate([ya, yb])
    x = np.concatenate([xa, xb])
    theta = cuped_theta(y, x)
    x_mean = float(x.mean())
    yc, xc = y - y.mean(), x - x_mean
    denom = float(np.sqrt((xc @ xc) * (yc @ yc)))
    rho = float(xc @ yc) / denom if denom > 0 else 0.0
    adjusted = welch_ttest(ya - theta * (xa - x_mean), yb - theta * (xb - x_mean), alpha=alpha)
    unadjusted = welch_ttest(ya, yb, alpha=alpha)
    reduction = 1.0 - (adjusted.standard_error / unadjusted.standard_error) ** 2
    return CupedResult(theta=theta, correlation=rho, variance_reduction=reduction, adjusted=adjusted,
                       unadjusted=unadjusted)
