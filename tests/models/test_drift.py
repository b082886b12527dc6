"""Population stability index: a hand-worked case, and its behaviour on planted shifts."""

from __future__ import annotations

import numpy as np
import pytest

from siyu.core.errors import SiyuError
from siyu.models.drift import drift_report, psi, reference_bins


def test_psi_by_hand() -> None:
    reference = {"edges": [0.0], "shares": [0.5, 0.5, 0.0]}  # half below 0, half above, none missing
    today = np.array([-1.0, -2.0, -3.0, 1.0])  # three quarters below
    # (0.75 − 0.5)·ln(0.75/0.5) + (0.25 − 0.5)·ln(0.25/0.5); the empty missing bin adds 0
    assert psi(reference, today) == pytest.approx(0.25 * np.log(1.5) + 0.25 * np.log(2), rel=1e-12)


def test_reference_bins_are_training_deciles_with_a_missing_bin() -> None:
    values = np.append(np.arange(1000, dtype=float), [np.nan] * 10)
    ref = reference_bins(values)
    assert len(ref["edges"]) == 9 and len(ref["shares"]) == 11
    assert ref["shares"][-1] == pytest.approx(10 / 1010)
    assert sum(ref["shares"]) == pytest.approx(1.0)
    ties = reference_bins(np.array([0.0] * 90 + [1.0] * 10))
    assert ties["edges"] == [0.0, 1.0] or len(ties["edges"]) <= 2  # tied deciles merge


def test_same_population_is_stable_and_a_shift_is_not() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, 50_000)
    ref = reference_bins(train)
    assert psi(ref, rng.normal(0, 1, 50_000)) < 0.01
    # a one-standard-deviation shift: the symmetric KL divergence of the two normals is 1; deciles catch most
    shifted = psi(ref, rng.normal(1, 1, 50_000))
    assert 0.5 < shifted < 1.0
    report = drift_report({"x": ref, "y": ref}, {"x": rng.normal(0, 1, 5000), "y": rng.normal(1, 1, 5000)})
    assert report["worst"] == "y" and report["stale"] and report["psi"]["x"] < 0.05
    with pytest.raises(SiyuError):
        drift_report({"x": ref}, {"z": train})
