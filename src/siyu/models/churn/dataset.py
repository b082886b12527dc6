"""Snapshots and time-based splits (时间切分): which as-of dates train, validate and test a warning model.

The rule, for horizon N days, data end E and a grid step of ``step_days``:

1. **Test** (测试): the latest labelled date T = E − N (its label window ``(T, E]`` is the last one observed).
2. The grid: T, T − step, T − 2·step, … down to the first date ≥ data start + ``warmup_days``.
3. **Validation** (验证): the latest ``validation_snapshots`` grid dates V with V + N ≤ T, so every
   validation label window ends on or before the test date and never overlaps the test window ``(T, T+N]``.
4. **Train** (训练): the grid dates D with D + N ≤ V₀ (the first validation date), so every training label
   window ``(D, D+N]`` ends on or before V₀ and never overlaps a validation label window ``(V, V+N]``.

A person appears once per snapshot. Early stopping and the calibrators use the validation snapshots, split
by person: a stable hash of ``one_id`` sends half to *stop* (early stopping, choosing the calibrator) and
half to *calibrate* (fitting it). The test date is touched only by the final evaluation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from siyu.core.errors import SiyuError
from siyu.models.churn.features import FEATURE_NAMES, snapshot_features
from siyu.models.churn.labels import attach_labels
from siyu.models.churn.spec import Outcome
from siyu.warehouse.engine import Engine

Split = Literal["train", "validation", "test"]


@dataclass(frozen=True)
class SplitPlan:
    """The as-of dates of each split and the data range they came from."""

    horizon_days: int
    train: tuple[date, ...]
    validation: tuple[date, ...]
    test: date
    data_start: date
    data_end: date

    def split_of(self, day: date) -> Split:
        if day == self.test:
            return "test"
        if day in self.validation:
            return "validation"
        if day in self.train:
            return "train"
        raise SiyuError(f"{day} is not a snapshot of this plan", code="not_a_snapshot", input_name="as_of")

    @property
    def dates(self) -> tuple[date, ...]:
        return (*self.train, *self.validation, self.test)

    def to_dict(self) -> dict[str, Any]:
        return {"horizon_days": self.horizon_days, "train": [d.isoformat() for d in self.train],
                "validation": [d.isoformat() for d in self.validation], "test": self.test.isoformat(),
                "data_start": self.data_start.isoformat(), "data_end": self.data_end.isoformat()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SplitPlan:
        day = date.fromisoformat
        return cls(int(d["horizon_days"]), tuple(day(v) for v in d["train"]), tuple(day(v) for v in d["validation"]),
                   day(d["test"]), day(d["data_start"]), day(d["data_end"]))


def plan_splits(data_start: date, data_end: date, horizon_days: int, step_days: int = 7, warmup_days: int = 28,
                validation_snapshots: int = 1) -> SplitPlan:
    """The snapshot dates of each split by the rule in the module doc."""
    if step_days < 1 or warmup_days < 0 or validation_snapshots < 1:
        raise SiyuError("step_days and validation_snapshots must be at least 1 and warmup_days at least 0",
                        code="bad_split_plan", input_name="step_days")
    n = timedelta(days=horizon_days)
    test = data_end - n
    first = data_start + timedelta(days=warmup_days)
    grid = []
    day = test
    while day >= first:
        grid.append(day)
        day -= timedelta(days=step_days)
    validation = sorted(d for d in grid if d + n <= test)[-validation_snapshots:]
    train = sorted(d for d in grid if validation and d + n <= validation[0])
    if not train:
        need = warmup_days + 2 * horizon_days + horizon_days + 1
        raise SiyuError(f"the data ({data_start} to {data_end}) is too short for {horizon_days}-day labels with "
                        f"{warmup_days} warm-up days: train, validation and test need about {need} days",
                        code="too_little_history", input_name="horizon_days")
    return SplitPlan(horizon_days, tuple(train), tuple(validation), test, data_start, data_end)


def calibration_half(one_ids: pd.Series) -> np.ndarray:
    """True for the persons whose validation rows fit the calibrator (a stable hash of one_id, about half)."""
    return np.fromiter((hashlib.blake2b(str(x).encode(), digest_size=1).digest()[0] & 1 == 1 for x in one_ids),
                       dtype=bool, count=len(one_ids))


def build_dataset(engine: Engine, outcome: Outcome, plan: SplitPlan) -> pd.DataFrame:
    """Features and labels of every snapshot of ``plan``: ``one_id, as_of, split, <features>, label``.

    Only the outcome's population (active in the ``population_days`` before each date) is kept.
    """
    feats = snapshot_features(engine, plan.dates, outcome.population_days).to_pandas()
    if feats.empty:
        raise SiyuError("no person is in the population on any snapshot date", code="empty_population",
                        input_name="population_days")
    data = attach_labels(engine, outcome, feats, plan.data_end)
    data.insert(2, "split", [plan.split_of(d) for d in data["as_of"]])
    return data


def feature_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The model's input matrix (float64, NaN for missing) in :data:`FEATURE_NAMES` order."""
    return frame.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64, na_value=np.nan)
