"""Customer clustering (客户分群聚类): behaviour/value features from the lake, k-means with k chosen by
silhouette, stable ids across retrains, and named profiles. See docs/clusters-and-baskets.md.

Train from a built lake and write one row per person to ``models/cluster_predictions``::

    from siyu.models.clusters import train_clusters
    run = train_clusters(lake)                      # as of the lake's last day
    run.model.profiles()                            # size, share, means, z-scores, names
    run.model.save(folder)                          # JSON; ClusterModel.load(folder) reads it back
    train_clusters(lake, previous=ClusterModel.load(folder))   # a retrain keeping ids and names
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from siyu.core.errors import SiyuError
from siyu.models.clusters.features import DAY_CAP, FEATURES, cluster_features, last_data_day
from siyu.models.clusters.model import DEFAULT_FEATURES, ClusterConfig, ClusterModel, cluster_config
from siyu.models.clusters.naming import NAME_THRESHOLD, cluster_names
from siyu.models.clusters.silhouette import silhouette, silhouette_sample
from siyu.models.predictions import write_predictions
from siyu.profile.views import register_profile_sources
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.lake import Lake

__all__ = [
    "DAY_CAP", "DEFAULT_FEATURES", "FEATURES", "MODEL_NAME", "NAME_THRESHOLD", "TABLES", "ClusterConfig",
    "ClusterModel", "ClusterRun", "cluster_config", "cluster_drift_columns", "cluster_features", "cluster_names",
    "cluster_predictions", "fit_clusters", "score_clusters", "silhouette", "silhouette_sample", "train_clusters",
]

#: The predictions table is ``models/cluster_predictions``.
MODEL_NAME = "cluster"
#: The lake tables the features read (for the registry's data fingerprint).
TABLES = ("dws/user_daily", "dwd/orders")


class ClusterRun(NamedTuple):
    model: ClusterModel
    features: pa.Table
    predictions: pa.Table
    path: Path


def cluster_predictions(model: ClusterModel, features: pa.Table, as_of: date) -> pa.Table:
    """The rows written to the lake: :meth:`ClusterModel.predict` plus the ``as_of`` day."""
    out = model.predict(features)
    return out.append_column("as_of", pa.array([as_of] * out.num_rows, pa.date32()))


def fit_clusters(engine: Engine, as_of: date, config: ClusterConfig | None = None,
                 previous: ClusterModel | None = None) -> ClusterModel:
    """Features as of ``as_of`` from the engine's views, then :meth:`ClusterModel.fit` (the registry's train step)."""
    return ClusterModel.fit(cluster_features(engine, as_of), config, previous, as_of=as_of)


def score_clusters(engine: Engine, model: ClusterModel, as_of: date | None = None) -> pa.Table:
    """Everyone's cluster as of ``as_of`` (default: the model's own day): :func:`cluster_predictions`."""
    day = as_of or model.as_of
    if day is None:
        raise SiyuError("score_clusters needs an as_of day (the model has none)", code="no_as_of")
    return cluster_predictions(model, cluster_features(engine, day), day)


def cluster_drift_columns(engine: Engine, model: ClusterModel, as_of: date) -> dict[str, np.ndarray]:
    """The model's features and everyone's distance to their centroid as of ``as_of`` (for PSI drift checks)."""
    features = cluster_features(engine, as_of)
    out = {f: np.asarray(features.column(f), dtype=np.float64) for f in model.features}
    out["distance"] = np.asarray(model.predict(features).column("distance"))
    return out


def train_clusters(lake: Lake, *, as_of: date | None = None, config: ClusterConfig | None = None,
                   previous: ClusterModel | None = None, engine_name: str = "duckdb") -> ClusterRun:
    """Compute features as of ``as_of`` (default: the last day of data), fit, and write the predictions.

    The lake must be built (``siyu build``). ``previous`` (a loaded earlier model) keeps cluster ids
    and names stable. Returns the model, the feature table, the predictions and where they were written.
    """
    engine = open_engine(engine_name)
    try:
        with lake.lock(shared=True):
            register_profile_sources(engine, lake)
            day = as_of or last_data_day(engine)
            if day is None:
                raise SiyuError("the lake has no user_daily rows to cluster; run siyu build first",
                                code="no_data")
            features = cluster_features(engine, day)
    finally:
        engine.close()
    model = ClusterModel.fit(features, config, previous, as_of=day)
    predictions = cluster_predictions(model, features, day)
    path = write_predictions(lake, MODEL_NAME, predictions)
    return ClusterRun(model, features, predictions, path)
