"""Churn early warning (流失预警) and purchase intent (购买意向): LightGBM on engine-computed features,
time-based splits, calibrated probabilities, evaluation against a recency baseline in the same run,
lead time and per-person reasons. See docs/churn.md.

    eng = open_engine("duckdb"); register_profile_sources(eng, lake)
    model = train_churn_model(eng, horizon_days=30)
    write_model_predictions(lake, eng, model)      # models/churn_predictions, read by the churn_risk tag
    model.save(folder); WarningModel.load(folder)
"""

from siyu.models.churn.dataset import SplitPlan, build_dataset, plan_splits
from siyu.models.churn.features import FEATURE_NAMES, FEATURES, pair_features, snapshot_features
from siyu.models.churn.lead_time import lead_times
from siyu.models.churn.model import WarningModel
from siyu.models.churn.predict import write_model_predictions
from siyu.models.churn.spec import Outcome, churn_outcome, purchase_intent_outcome
from siyu.models.churn.train import train_churn_model, train_purchase_intent_model, train_warning_model

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "Outcome",
    "SplitPlan",
    "WarningModel",
    "build_dataset",
    "churn_outcome",
    "lead_times",
    "pair_features",
    "plan_splits",
    "purchase_intent_outcome",
    "snapshot_features",
    "train_churn_model",
    "train_purchase_intent_model",
    "train_warning_model",
    "write_model_predictions",
]
