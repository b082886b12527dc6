"""The kinds of model siyu trains, each behind one small interface the registry and the CLI use.

A :class:`ModelKind` says which lake tables it reads, how to train it from an engine, which columns
drift is measured on, how to score everyone, and how to save and load it. Adding a model means adding
one kind here; nothing else in the registry or the CLI changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel

from siyu.core.errors import SiyuError
from siyu.models.clv.summary import customer_summary
from siyu.models.clv.train import ClvConfig, ClvModel, score_clv, train_clv

if TYPE_CHECKING:
    from siyu.warehouse.engine import Engine


@dataclass(frozen=True)
class ModelKind:
    name: str
    title_zh: str
    title_en: str
    #: lake tables (``layer/table``) the model reads: the training data fingerprint covers them
    tables: tuple[str, ...]
    config: type[BaseModel]
    train: Callable[[Engine, date, Any], Any]
    #: column → values, today and at training time (PSI compares the two)
    drift_columns: Callable[[Engine, Any, date], Mapping[str, np.ndarray]]
    score: Callable[[Engine, Any, date], pa.Table]
    load: Callable[[Path], Any]
    #: the predictions table's name under models/ (``<predictions>_predictions``)
    predictions: str


def _clv_drift(engine: Engine, model: ClvModel, as_of: date) -> dict[str, np.ndarray]:
    s = customer_summary(engine, as_of)
    scored = model.score(s)
    return {"frequency": s.frequency, "recency": s.recency, "T": s.T, "monetary": s.monetary,
            f"clv_{model.config.horizon_months}m": scored.column(f"clv_{model.config.horizon_months}m").to_numpy()}


CLV = ModelKind(
    name="clv", title_zh="客户终身价值 (BG/NBD + Gamma-Gamma)",
    title_en="Customer lifetime value (BG/NBD + Gamma-Gamma)",
    tables=("dwd/orders",), config=ClvConfig, train=train_clv, drift_columns=_clv_drift,
    score=lambda engine, model, as_of: score_clv(engine, model, as_of), load=ClvModel.load, predictions="clv",
)

KINDS: dict[str, ModelKind] = {k.name: k for k in (CLV,)}


def model_kind(name: str) -> ModelKind:
    try:
        return KINDS[name]
    except KeyError:
        raise SiyuError(f"unknown model {name!r}: choose one of {', '.join(sorted(KINDS))}", code="unknown_model",
                        input_name="name") from None
