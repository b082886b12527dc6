"""The warning models as model-registry kinds (模型注册): configs and the train / score / drift functions
with the signatures :class:`siyu.models.kinds.ModelKind` expects.

    ModelKind(name="churn", title_zh="流失预警 (LightGBM)", title_en="Churn early warning (LightGBM)",
              tables=WARNING_TABLES, config=ChurnConfig, train=train_churn_kind,
              drift_columns=warning_drift_columns, score=score_warning, load=WarningModel.load,
              predictions="churn")
    # and the same with PurchaseIntentConfig / train_purchase_intent_kind / predictions="purchase_intent"
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from siyu.models.churn.dataset import feature_matrix
from siyu.models.churn.features import FEATURE_NAMES, snapshot_features
from siyu.models.churn.model import WarningModel
from siyu.models.churn.spec import Silence, churn_outcome, purchase_intent_outcome
from siyu.models.churn.train import train_warning_model
from siyu.warehouse.engine import Engine

#: The lake tables the warning models read (the registry fingerprints them).
WARNING_TABLES = ("dws/user_daily", "dwd/events")
#: Drift is watched on the model's probability and its most important features (by gain).
DRIFT_FEATURES = 5


class _Training(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    population_days: int | None = Field(default=30, ge=1, le=3650)
    step_days: int = Field(default=7, ge=1, le=90)
    warmup_days: int = Field(default=28, ge=0, le=365)
    validation_snapshots: int = Field(default=1, ge=1, le=12)


class ChurnConfig(_Training):
    """How a churn model is trained (see docs/churn.md)."""

    horizon_days: int = Field(default=30, ge=1, le=365)
    silence: Silence = "interaction"
    lead_time: bool = True
    lead_time_people: int = Field(default=300, ge=1, le=100_000)


class PurchaseIntentConfig(_Training):
    """How a purchase-intent model is trained (see docs/churn.md)."""

    horizon_days: int = Field(default=7, ge=1, le=365)


def train_churn_kind(engine: Engine, as_of: date, config: ChurnConfig) -> WarningModel:
    """Train a churn model on the data up to ``as_of``."""
    outcome = churn_outcome(config.horizon_days, config.silence, config.population_days)
    return train_warning_model(engine, outcome, as_of=as_of, step_days=config.step_days,
                               warmup_days=config.warmup_days, validation_snapshots=config.validation_snapshots,
                               lead_time=config.lead_time, lead_time_people=config.lead_time_people)


def train_purchase_intent_kind(engine: Engine, as_of: date, config: PurchaseIntentConfig) -> WarningModel:
    """Train a purchase-intent model on the data up to ``as_of``."""
    outcome = purchase_intent_outcome(config.horizon_days, config.population_days)
    return train_warning_model(engine, outcome, as_of=as_of, step_days=config.step_days,
                               warmup_days=config.warmup_days, validation_snapshots=config.validation_snapshots,
                               lead_time=False)


def score_warning(engine: Engine, model: WarningModel, as_of: date) -> pa.Table:
    """The predictions table of ``model`` for its population on ``as_of``."""
    return model.predict(engine, as_of)


def warning_drift_columns(engine: Engine, model: WarningModel, as_of: date) -> dict[str, np.ndarray]:
    """The population's probability and its ``DRIFT_FEATURES`` most important features on ``as_of``."""
    feats = snapshot_features(engine, [as_of], model.outcome.population_days).to_pandas()
    gain = model.booster.feature_importance("gain")
    top = [FEATURE_NAMES[i] for i in np.argsort(-gain, kind="mergesort")[:DRIFT_FEATURES]]
    x = feature_matrix(feats)
    out = {name: x[:, FEATURE_NAMES.index(name)] for name in top}
    out["probability"] = model.calibrator(model.score(feats)) if len(feats) else np.zeros(0)
    return out
