"""Predictions to the lake (预测结果入湖): the tables the predictive tags ``churn_risk`` and ``purchase_intent`` read.

A churn model writes ``models/churn_predictions`` (``one_id, churn_probability, risk_band, reason_1..3,
as_of``); a purchase-intent model writes ``models/purchase_intent_predictions`` (``one_id,
purchase_probability, as_of``). Each replaces the previous table atomically, one row per person of the
outcome's population on the as-of date.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from siyu.models.churn.model import WarningModel
from siyu.models.predictions import write_predictions
from siyu.warehouse.engine import Engine
from siyu.warehouse.lake import Lake


def write_model_predictions(lake: Lake, engine: Engine, model: WarningModel, as_of: date | None = None) -> Path:
    """Score the population on ``as_of`` (default: the data end) and write it under the model's name."""
    return write_predictions(lake, model.outcome.kind, model.predict(engine, as_of))
