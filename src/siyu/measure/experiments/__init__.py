"""A/B test statistics (AB测试) of effect tracking (效果追踪).

Inputs are numpy arrays or summary statistics; every result is a frozen dataclass with ``to_dict()``.
Treatment (B) is always compared with control (A) as B - A. See docs/experiments.md.

- ``assignment``: deterministic salted-hash assignment (分流), holdout group (对照留存组), SRM check
- ``frequentist``: two-proportion z-test, Welch's t-test, Mann–Whitney U
- ``cuped``: CUPED variance reduction with a pre-period covariate
- ``corrections``: Bonferroni, Holm, Benjamini–Hochberg; every variant × metric against control
- ``bayesian``: beta-binomial and normal-means posteriors, P(B > A), expected loss
- ``sequential``: mSPRT always-valid p-values and confidence sequences for daily peeking
- ``power``: sample size, power and minimum detectable effect
- ``uplift``: effect by segment with a heterogeneity test
"""

from __future__ import annotations

from siyu.measure.experiments._base import ExperimentResult
from siyu.measure.experiments.assignment import (
    BUCKETS,
    HOLDOUT,
    SRMResult,
    assign,
    assignment_shares,
    buckets,
    sample_ratio_mismatch,
)
from siyu.measure.experiments.bayesian import (
    BetaBinomialResult,
    NormalMeansResult,
    beta_binomial,
    beta_credible_interval,
    normal_means,
    normal_means_from_stats,
    prob_beta_greater,
)
from siyu.measure.experiments.corrections import (
    Comparison,
    FamilyResult,
    adjust_p_values,
    benjamini_hochberg,
    bonferroni,
    compare_variants,
    holm,
)
from siyu.measure.experiments.cuped import CupedResult, cuped, cuped_theta
from siyu.measure.experiments.frequentist import (
    MannWhitneyResult,
    ProportionTestResult,
    WelchResult,
    mann_whitney,
    two_proportion_ztest,
    two_proportion_ztest_samples,
    welch_ttest,
    welch_ttest_from_stats,
)
from siyu.measure.experiments.power import (
    MDEResult,
    SampleSizeResult,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
)
from siyu.measure.experiments.sequential import (
    DEFAULT_EFFECT_SCALE,
    CumulativeStats,
    SequentialResult,
    always_valid_p_values,
    confidence_sequence,
    log_likelihood_ratio,
    msprt,
)
from siyu.measure.experiments.uplift import (
    HeterogeneityTest,
    SegmentEffect,
    UpliftResult,
    cochran_q,
    segment_uplift,
)

__all__ = [
    "BUCKETS",
    "DEFAULT_EFFECT_SCALE",
    "HOLDOUT",
    "BetaBinomialResult",
    "Comparison",
    "CumulativeStats",
    "CupedResult",
    "ExperimentResult",
    "FamilyResult",
    "HeterogeneityTest",
    "MDEResult",
    "MannWhitneyResult",
    "NormalMeansResult",
    "ProportionTestResult",
    "SRMResult",
    "SampleSizeResult",
    "SegmentEffect",
    "SequentialResult",
    "UpliftResult",
    "WelchResult",
    "adjust_p_values",
    "always_valid_p_values",
    "assign",
    "assignment_shares",
    "benjamini_hochberg",
    "beta_binomial",
    "beta_credible_interval",
    "bonferroni",
    "buckets",
    "cochran_q",
    "compare_variants",
    "confidence_sequence",
    "cuped",
    "cuped_theta",
    "holm",
    "log_likelihood_ratio",
    "mann_whitney",
    "mde_means",
    "mde_proportions",
    "msprt",
    "normal_means",
    "normal_means_from_stats",
    "power_means",
    "power_proportions",
    "prob_beta_greater",
    "sample_ratio_mismatch",
    "sample_size_means",
    "sample_size_proportions",
    "segment_uplift",
    "two_proportion_ztest",
    "two_proportion_ztest_samples",
    "welch_ttest",
    "welch_ttest_from_stats",
]
