"""A trained warning model (预警模型): LightGBM trees, a calibrator, a threshold and the evidence.

Saved to a folder without pickle: ``booster.txt`` in LightGBM's own text format and ``model.json`` with
the outcome, the calibrators (model and baseline), the threshold, the feature list and training means,
the hyper-parameters (``params``), the flat metrics the registry records (``metrics``) and the full
evaluation (reliability tables, lead-time distribution).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa

from siyu.core.errors import SiyuError
from siyu.models.churn.calibration import Calibrator
from siyu.models.churn.dataset import SplitPlan, feature_matrix
from siyu.models.churn.features import FEATURE_NAMES, snapshot_features
from siyu.models.churn.gbm import contributions, raw_score
from siyu.models.churn.labels import data_range
from siyu.models.churn.reasons import top_reasons
from siyu.models.churn.spec import Outcome
from siyu.warehouse.engine import Engine

FORMAT_VERSION = 1
BOOSTER_FILE = "booster.txt"
MODEL_FILE = "model.json"
#: Risk bands (风险分档) of churn probability: the churn_risk tag's bands (profile/tags/defaults/predictive.yaml).
RISK_BANDS: tuple[tuple[str, float], ...] = (("high", 0.5), ("medium", 0.25), ("low", 0.0))


def risk_band(p: np.ndarray) -> list[str]:
    """``high`` (≥ 0.5), ``medium`` (≥ 0.25) or ``low`` per probability."""
    out = np.full(len(p), RISK_BANDS[-1][0], dtype=object)
    for name, lo in reversed(RISK_BANDS[:-1]):
        out[np.asarray(p) >= lo] = name
    return out.tolist()


@dataclass
class WarningModel:
    """Churn early warning or purchase intent, trained by :func:`siyu.models.churn.train.train_warning_model`."""

    outcome: Outcome
    booster: lgb.Booster
    calibrator: Calibrator
    baseline_calibrator: Calibrator
    threshold: float
    feature_means: dict[str, float]
    plan: SplitPlan
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)

    # -- scoring ---------------------------------------------------------------------------------------
    def score(self, features: pd.DataFrame) -> np.ndarray:
        """Log-odds ranking score of feature rows (before calibration)."""
        return raw_score(self.booster, feature_matrix(features))

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the outcome per feature row."""
        return self.calibrator(self.score(features))

    def reasons(self, features: pd.DataFrame, k: int = 3) -> list[list[str | None]]:
        """Per row, the ``k`` features pushing the score up most, as zh / en phrases."""
        x = feature_matrix(features)
        return top_reasons(contributions(self.booster, x), x, list(FEATURE_NAMES), self.feature_means, k)

    def predict(self, engine: Engine, as_of: date | None = None) -> pa.Table:
        """Predictions for the outcome's population on ``as_of`` (default: the data end), one row per person.

        Churn: ``one_id, churn_probability, risk_band, reason_1, reason_2, reason_3, as_of``; purchase
        intent: ``one_id, purchase_probability, as_of`` — the tables the predictive tags read.
        """
        day = as_of or data_range(engine)[1]
        feats = snapshot_features(engine, [day], self.outcome.population_days).to_pandas()
        prob = self.predict_proba(feats) if len(feats) else np.zeros(0)
        ids = pa.array(feats["one_id"].tolist(), pa.string())
        when = pa.array([day] * len(feats), pa.date32())
        if self.outcome.kind == "purchase_intent":
            return pa.table({"one_id": ids, "purchase_probability": pa.array(prob, pa.float64()), "as_of": when})
        reasons = self.reasons(feats) if len(feats) else []
        cols: dict[str, Any] = {"one_id": ids, "churn_probability": pa.array(prob, pa.float64()),
                                "risk_band": pa.array(risk_band(prob), pa.string())}
        for j in range(3):
            cols[f"reason_{j + 1}"] = pa.array([r[j] for r in reasons], pa.string())
        cols["as_of"] = when
        return pa.table(cols)

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write ``booster.txt`` and ``model.json`` into ``folder`` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / BOOSTER_FILE))
        doc = {"format_version": FORMAT_VERSION, "outcome": self.outcome.model_dump(),
               "calibrator": self.calibrator.to_dict(), "baseline_calibrator": self.baseline_calibrator.to_dict(),
               "threshold": self.threshold, "feature_names": list(FEATURE_NAMES),
               "feature_means": self.feature_means, "plan": self.plan.to_dict(), "params": _plain(self.params),
               "metrics": _plain(self.metrics), "evaluation": _plain(self.evaluation)}
        (folder / MODEL_FILE).write_text(json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True),
                                         encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Read a model written by :meth:`save`; a model of another feature list is refused."""
        folder = Path(folder)
        try:
            doc = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
            booster = lgb.Booster(model_file=str(folder / BOOSTER_FILE))
        except (OSError, ValueError, lgb.basic.LightGBMError) as exc:
            raise SiyuError(f"cannot read a warning model from {folder}: {exc}", code="bad_model_folder",
                            input_name=str(folder)) from None
        if doc.get("format_version") != FORMAT_VERSION or doc.get("feature_names") != list(FEATURE_NAMES):
            raise SiyuError(f"the model in {folder} was trained on another feature list or format; retrain it",
                            code="model_version_mismatch", input_name=str(folder))
        return cls(outcome=Outcome.model_validate(doc["outcome"]), booster=booster,
                   calibrator=Calibrator.from_dict(doc["calibrator"]),
                   baseline_calibrator=Calibrator.from_dict(doc["baseline_calibrator"]),
                   threshold=float(doc["threshold"]),
                   feature_means={k: float(v) for k, v in doc["feature_means"].items()},
                   plan=SplitPlan.from_dict(doc["plan"]), params=doc["params"],
                   metrics={k: float(v) for k, v in doc["metrics"].items()}, evaluation=doc["evaluation"])


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python numbers (NaN to null), tuples to lists, dates to ISO text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return value
