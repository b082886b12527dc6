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
import pyarrow.compute as pc
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
    #: kinds that keep something stable across retrains (cluster ids) get the active version here
    train_after: Callable[[Engine, date, Any, Any], Any] | None = None
    #: False for a model whose output is one table for everyone (basket rules), not a row per person:
    #: ``score`` then returns that table and it is written as ``models/<predictions>`` as it is
    per_person: bool = True
    #: further shared tables to write beside the output (name under models/ → table)
    extra_tables: Callable[[Any], dict[str, pa.Table]] | None = None


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

def _churn_kinds() -> tuple[ModelKind, ModelKind]:
    from siyu.models.churn.kind import (
        WARNING_TABLES,
        ChurnConfig,
        PurchaseIntentConfig,
        score_warning,
        train_churn_kind,
        train_purchase_intent_kind,
        warning_drift_columns,
    )
    from siyu.models.churn.model import WarningModel

    churn = ModelKind(name="churn", title_zh="流失预警 (LightGBM)", title_en="Churn early warning (LightGBM)",
                      tables=WARNING_TABLES, config=ChurnConfig, train=train_churn_kind,
                      drift_columns=warning_drift_columns, score=score_warning, load=WarningModel.load,
                      predictions="churn")
    intent = ModelKind(name="purchase_intent", title_zh="购买意向 (LightGBM)", title_en="Purchase intent (LightGBM)",
                       tables=WARNING_TABLES, config=PurchaseIntentConfig, train=train_purchase_intent_kind,
                       drift_columns=warning_drift_columns, score=score_warning, load=WarningModel.load,
                       predictions="purchase_intent")
    return churn, intent


def _text_kind() -> ModelKind:
    from siyu.models.text.kind import CommentSentiment, CommentSentimentConfig

    return ModelKind(name="comment_sentiment", title_zh="评论情感 (词典 / SnowNLP)",
                     title_en="Comment sentiment (lexicon / SnowNLP)", tables=("dwd/events",),
                     config=CommentSentimentConfig, train=CommentSentiment.train,
                     drift_columns=lambda engine, model, as_of: model.drift_columns(engine, as_of),
                     score=lambda engine, model, as_of: model.score(engine, as_of), load=CommentSentiment.load,
                     predictions="comment_sentiment")


def _segment_kinds() -> tuple[ModelKind, ModelKind]:
    from siyu.models.baskets import TABLES as BASKET_TABLES
    from siyu.models.baskets import BasketConfig, BasketModel, basket_items, fit_baskets
    from siyu.models.clusters import TABLES as CLUSTER_TABLES
    from siyu.models.clusters import ClusterConfig, ClusterModel, cluster_drift_columns, fit_clusters, score_clusters

    def basket_drift(engine: Engine, model: BasketModel, as_of: date) -> dict[str, np.ndarray]:
        c = model.config
        table = basket_items(engine, c.level, c.basket, c.start, as_of)
        sizes = pc.value_counts(table.column("basket_id")).field("counts").to_numpy()
        return {"basket_size": sizes.astype(np.float64)}

    clusters = ModelKind(name="cluster", title_zh="客户分群 (k-means)", title_en="Customer clusters (k-means)",
                         tables=CLUSTER_TABLES, config=ClusterConfig, train=fit_clusters,
                         drift_columns=cluster_drift_columns, score=score_clusters, load=ClusterModel.load,
                         predictions="cluster",
                         train_after=lambda engine, as_of, config, previous: fit_clusters(engine, as_of, config,
                                                                                          previous))
    baskets = ModelKind(name="baskets", title_zh="购物篮关联规则 (FP-growth)", title_en="Basket rules (FP-growth)",
                        tables=BASKET_TABLES, config=BasketConfig, train=fit_baskets, drift_columns=basket_drift,
                        score=lambda engine, model, as_of: model.rules, load=BasketModel.load,
                        predictions="basket_rules", per_person=False,
                        extra_tables=lambda model: {"bought_together": model.bought_together(),
                                                    "basket_slot_items": model.slot_items})
    return clusters, baskets


KINDS: dict[str, ModelKind] = {k.name: k for k in (CLV, *_churn_kinds(), *_segment_kinds(), _text_kind())}


def model_kind(name: str) -> ModelKind:
    try:
        return KINDS[name]
    except KeyError:
        raise SiyuError(f"unknown model {name!r}: choose one of {', '.join(sorted(KINDS))}", code="unknown_model",
                        input_name="name") from None
