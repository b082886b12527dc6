"""Deterministic variant assignment (分流) by salted hash, and the sample ratio mismatch check (SRM).

A unit's bucket is ``SHA-256("salt:experiment:unit_id")`` read as a big-endian 64-bit integer modulo
10,000, so the same unit always lands in the same variant of the same experiment, while different
experiments (or salts) shuffle units independently. The holdout group (对照留存组) takes the lowest
buckets first; the rest are split among the variants in proportion to their weights.

The SRM check is Pearson's chi-square goodness of fit of the observed counts to the planned weights
(Fabijan et al. 2019, "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments", KDD).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from siyu.core.errors import SiyuError
from siyu.measure.experiments._base import ExperimentResult, check_alpha

BUCKETS = 10_000
HOLDOUT = "holdout"


def _check_key(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise SiyuError(f"{name} must be a non-empty string, got {value!r}", code="bad_assignment_key",
                        input_name=name)
    if ":" in value:
        # "a:b" + "c" and "a" + "b:c" would hash alike; forbid the separator so keys stay unambiguous.
        raise SiyuError(f"{name} must not contain ':' (it separates salt, experiment and unit id), got {value!r}",
                        code="bad_assignment_key", input_name=name)
    return value


def buckets(unit_ids: Iterable[object], experiment: str, salt: str) -> npt.NDArray[np.int64]:
    """Bucket in [0, 10000) of each unit: SHA-256 of ``salt:experiment:unit_id``, first 8 bytes, mod 10,000."""
    prefix = hashlib.sha256(f"{_check_key(salt, 'salt')}:{_check_key(experiment, 'experiment')}:".encode())
    copy = prefix.copy
    parts: list[bytes] = []
    append = parts.append
    for uid in unit_ids:
        h = copy()
        h.update(str(uid).encode())
        append(h.digest()[:8])
    if not parts:
        return np.zeros(0, dtype=np.int64)
    words = np.frombuffer(b"".join(parts), dtype=">u8")
    return (words % np.uint64(BUCKETS)).astype(np.int64)


def _bucket_edges(variants: Mapping[str, float], holdout: float) -> tuple[list[str], npt.NDArray[np.int64]]:
    if not variants:
        raise SiyuError("variants must name at least one variant with its weight", code="bad_variants",
                        input_name="variants")
    names = list(variants)
    weights = np.asarray([float(variants[n]) for n in names], dtype=np.float64)
    if HOLDOUT in names:
        raise SiyuError(f"'{HOLDOUT}' is reserved for the holdout group; rename that variant",
                        code="bad_variants", input_name="variants")
    if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise SiyuError(f"variant weights must be positive numbers, got {dict(variants)!r}", code="bad_variants",
                        input_name="variants")
    h = float(holdout)
    if not 0.0 <= h < 1.0:
        raise SiyuError(f"holdout must be a share in [0, 1), got {holdout!r}", code="bad_holdout",
                        input_name="holdout")
    start = round(h * BUCKETS)
    cum = np.cumsum(weights) / weights.sum()
    edges = start + np.rint(cum * (BUCKETS - start)).astype(np.int64)
    edges[-1] = BUCKETS
    if np.any(np.diff(np.concatenate([[start], edges])) <= 0):
        raise SiyuError(f"a variant weight is below the 1/{BUCKETS} bucket resolution: {dict(variants)!r}",
                        code="bad_variants", input_name="variants")
    return [HOLDOUT, *names], np.concatenate([[start], edges])


def assign(unit_ids: Iterable[object], experiment: str, salt: str, variants: Mapping[str, float],
           holdout: float = 0.0) -> npt.NDArray[np.str_]:
    """Variant name of each unit, deterministic in (salt, experiment, unit id).

    ``variants`` maps name → weight (weights are normalised); ``holdout`` is the share carved out first
    and named ``"holdout"``. Example::

        assign(["u1", "u2"], "spring_coupon", "s1", {"control": 1, "treatment": 1}, holdout=0.1)
    """
    labels, edges = _bucket_edges(variants, holdout)
    b = buckets(unit_ids, experiment, salt)
    # edges[0] = first non-holdout bucket; side="right" sends bucket == edge to the next variant.
    idx = np.searchsorted(edges, b, side="right")
    return np.asarray(labels, dtype=np.str_)[idx]


@dataclass(frozen=True)
class SRMResult(ExperimentResult):
    """Sample ratio mismatch (样本比例失衡) check: chi-square goodness of fit to the planned split."""

    names: tuple[str, ...]
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    df: int
    p_value: float
    threshold: float
    mismatch: bool


def sample_ratio_mismatch(observed_counts: npt.ArrayLike | Mapping[str, int],
                          expected_weights: npt.ArrayLike | Mapping[str, float],
                          threshold: float = 0.001) -> SRMResult:
    """Chi-square test that units split as planned; ``mismatch`` when p < ``threshold`` (default 0.001).

    A mismatch means the assignment or the logging is broken, and the experiment's effects cannot be
    trusted until it is explained. Counts and weights may be sequences in the same order, or mappings
    keyed by variant name.
    """
    threshold = check_alpha(threshold, "threshold")
    if isinstance(observed_counts, Mapping):
        names = tuple(str(k) for k in observed_counts)
        obs = np.asarray([observed_counts[k] for k in observed_counts], dtype=np.float64)
        if isinstance(expected_weights, Mapping):
            if set(expected_weights) != set(observed_counts):
                raise SiyuError(f"expected_weights names {sorted(expected_weights)} differ from observed "
                                f"names {sorted(observed_counts)}", code="bad_srm_input",
                                input_name="expected_weights")
            w = np.asarray([expected_weights[k] for k in observed_counts], dtype=np.float64)
        else:
            w = np.asarray(expected_weights, dtype=np.float64)
    else:
        obs = np.asarray(observed_counts, dtype=np.float64)
        if isinstance(expected_weights, Mapping):
            names = tuple(str(k) for k in expected_weights)
            w = np.asarray(list(expected_weights.values()), dtype=np.float64)
        else:
            names = tuple(f"variant_{i}" for i in range(obs.size))
            w = np.asarray(expected_weights, dtype=np.float64)
    if obs.ndim != 1 or obs.size < 2 or obs.shape != w.shape:
        raise SiyuError(f"need the same number (>= 2) of observed counts and weights, got {obs.size} and {w.size}",
                        code="bad_srm_input", input_name="observed_counts")
    if not np.all(np.isfinite(obs)) or np.any(obs < 0) or np.any(obs != np.round(obs)):
        raise SiyuError(f"observed counts must be non-negative whole numbers, got {obs.tolist()!r}",
                        code="bad_srm_input", input_name="observed_counts")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise SiyuError(f"expected weights must be positive, got {w.tolist()!r}", code="bad_srm_input",
                        input_name="expected_weights")
    total = obs.sum()
    if total <= 0:
        raise SiyuError("observed counts are all zero", code="bad_srm_input", input_name="observed_counts")
    expected = total * w / w.sum()
    chi2 = float(np.sum((obs - expected) ** 2 / expected))
    df = obs.size - 1
    p = float(special.chdtrc(df, chi2))
    return SRMResult(names=names, observed=tuple(int(v) for v in obs), expected=tuple(float(v) for v in expected),
                     chi2=chi2, df=df, p_value=p, threshold=threshold, mismatch=bool(p < threshold))


def assignment_shares(assigned: npt.ArrayLike) -> dict[str, float]:
    """Share of units in each variant, e.g. to compare with the planned weights."""
    labels, counts = np.unique(np.asarray(assigned), return_counts=True)
    total = counts.sum()
    return {str(k): float(c) / total if total else math.nan for k, c in zip(labels, counts, strict=True)}
