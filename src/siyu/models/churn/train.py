"""Training a warning model from the lake (模型训练), with its baseline measured in the same run.

Steps: the time-based split plan (:mod:`~siyu.models.churn.dataset`), features and labels of every
snapshot on the engine, LightGBM with early stopping on the validation *stop* half, Platt or isotonic
calibration fitted on the *calibrate* half and chosen by Brier on the stop half, the threshold that
maximises F1 on the whole validation split, then every metric on the untouched test date — for the
model and for the recency baseline, calibrated and thresholded the same way. Churn models also get
their lead-time distribution (:mod:`~siyu.models.churn.lead_time`).

    eng = open_engine("duckdb"); register_profile_sources(eng, lake)
    model = train_warning_model(eng, churn_outcome(30))
    model.metrics["auc"], model.metrics["baseline_auc"]
    write_predictions(lake, "churn", model.predict(eng))
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from siyu.core.errors import SiyuError
from siyu.models.churn.baseline import baseline_score
from siyu.models.churn.calibration import choose_calibrator
from siyu.models.churn.dataset import build_dataset, calibration_half, feature_matrix, plan_splits
from siyu.models.churn.features import FEATURE_NAMES
from siyu.models.churn.gbm import fit_booster, raw_score
from siyu.models.churn.labels import data_range
from siyu.models.churn.lead_time import lead_times
from siyu.models.churn.metrics import best_f1_threshold, evaluate
from siyu.models.churn.model import WarningModel
from siyu.models.churn.spec import Outcome, Silence, churn_outcome, purchase_intent_outcome
from siyu.warehouse.engine import Engine

#: The flat metrics the registry records: test-split numbers of the model, then of the baseline.
_FLAT = ("auc", "pr_auc", "lift_top_decile", "brier", "precision", "recall", "f1", "threshold", "base_rate")


def train_warning_model(engine: Engine, outcome: Outcome, *, as_of: date | None = None, step_days: int = 7,
                        warmup_days: int = 28, validation_snapshots: int = 1, params: dict[str, Any] | None = None,
                        threshold: float | None = None, lead_time: bool = True,
                        lead_time_people: int = 300) -> WarningModel:
    """Train, calibrate and evaluate a churn or purchase-intent model on the registered views.

    ``as_of`` trains as if the data ended that day (nothing later is read); ``threshold`` overrides the
    F1-maximising one. Reads ``user_daily`` and ``events`` (:func:`siyu.profile.views.register_profile_sources`).
    """
    start, end = data_range(engine)
    if as_of is not None:
        if as_of < start:
            raise SiyuError(f"as_of {as_of} is before the data starts ({start})", code="bad_as_of", input_name="as_of")
        end = min(end, as_of)
    plan = plan_splits(start, end, outcome.horizon_days, step_days, warmup_days, validation_snapshots)
    data = build_dataset(engine, outcome, plan)
    train, valid, test = (data[data["split"] == s] for s in ("train", "validation", "test"))
    for name, part in (("train", train), ("validation", valid), ("test", test)):
        if part["label"].nunique() < 2:
            raise SiyuError(f"the {name} split has only one class ({len(part)} rows); the data is too small or "
                            "too short for this outcome", code="one_class", input_name=name)
    cal = calibration_half(valid["one_id"])
    stop, calib = valid[~cal], valid[cal]
    booster, used = fit_booster(feature_matrix(train), train["label"].to_numpy(), feature_matrix(stop),
                                stop["label"].to_numpy(), list(FEATURE_NAMES), params)
    means = train.loc[:, list(FEATURE_NAMES)].astype("float64").mean(skipna=True)

    def model_score(frame: pd.DataFrame) -> np.ndarray:
        return raw_score(booster, feature_matrix(frame))

    def recency_score(frame: pd.DataFrame) -> np.ndarray:
        return baseline_score(frame, outcome)

    evaluation: dict[str, Any] = {"rows": {"train": len(train), "validation": len(valid), "test": len(test)},
                                  "plan": plan.to_dict(), "calibration": {}}
    fitted = {}
    for who, score_of in (("model", model_score), ("baseline", recency_score)):
        calibrator, briers = choose_calibrator(score_of(calib), calib["label"].to_numpy(), score_of(stop),
                                               stop["label"].to_numpy())
        cut = threshold if threshold is not None else best_f1_threshold(valid["label"].to_numpy(),
                                                                        calibrator(score_of(valid)))
        s_test = score_of(test)
        evaluation[who] = evaluate(test["label"].to_numpy(), s_test, calibrator(s_test), cut)
        evaluation["calibration"][who] = {"chosen": calibrator.method, "brier_on_stop_half": briers}
        fitted[who] = (calibrator, cut)
    model = WarningModel(outcome=outcome, booster=booster, calibrator=fitted["model"][0],
                         baseline_calibrator=fitted["baseline"][0], threshold=fitted["model"][1],
                         feature_means={k: float(v) if np.isfinite(v) else 0.0 for k, v in means.items()},
                         plan=plan, params=used)
    if lead_time and outcome.kind == "churn":
        evaluation["lead_time"] = lead_times(engine, model, max_people=lead_time_people)
    model.evaluation = evaluation
    model.metrics = flat_metrics(evaluation)
    return model


def flat_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """``auc``, ``baseline_auc``, … and ``lead_time_*``: the finite numbers the model registry records."""
    out: dict[str, float] = {}
    for who, prefix in (("model", ""), ("baseline", "baseline_")):
        for key in _FLAT:
            out[prefix + key] = float(evaluation[who][key])
    for reading in ("before_churn_start", "before_churn_confirmed"):
        summary = evaluation.get("lead_time", {}).get(reading, {})
        for key in ("share_warned", "median_days", "share_7_15_days", "share_at_least_7_days"):
            value = summary.get(key)
            if value is not None and np.isfinite(value):
                out[f"lead_time_{reading}_{key}"] = float(value)
    for split, n in evaluation["rows"].items():
        out[f"rows_{split}"] = float(n)
    return out


def train_churn_model(engine: Engine, horizon_days: int = 30, silence: Silence = "interaction",
                      population_days: int | None = 30, **options: Any) -> WarningModel:
    """Churn early warning (流失预警): no ``silence`` in the next ``horizon_days`` days (7 / 14 / 30)."""
    return train_warning_model(engine, churn_outcome(horizon_days, silence, population_days), **options)


def train_purchase_intent_model(engine: Engine, horizon_days: int = 7, population_days: int | None = 30,
                                **options: Any) -> WarningModel:
    """Purchase intent (购买意向): an order in the next ``horizon_days`` days."""
    return train_warning_model(engine, purchase_intent_outcome(horizon_days, population_days), **options)
