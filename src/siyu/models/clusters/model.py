"""Customer clustering (客户分群聚类): standardised features, k-means for k in 8..12 chosen by silhouette.

The steps (docs/clusters-and-baskets.md):

1. **Transform**: ``log1p`` on skewed counts and money (negative values count as 0), day counts as they
   are; then standardise by the mean and standard deviation of each transformed feature (both kept in
   the saved model) and clip to ±``clip_z`` so a handful of extreme buyers cannot pull a centroid alone.
2. **k-means** (scikit-learn ``KMeans``, Lloyd's algorithm, k-means++ seeding) for every k in
   ``k_min..k_max`` (the source reports advise 8–12 segments), ``n_init`` seeded restarts each (default
   10: the best of ten local optima by inertia), on all people or a seeded ``fit_sample`` of them.
3. **k by silhouette**: the mean silhouette (Rousseeuw 1987) of each k on one seeded sample of
   ``silhouette_sample`` people (default 5,000; see :mod:`.silhouette`); the highest wins, ties to the
   smaller k. Every k's score is in ``metrics`` as ``silhouette_k<k>``.
4. **Stable ids**: given the previous model, new clusters take the ids (and names) of the previous
   clusters they match (:mod:`.matching`); the rest get ids never used before. Without one, ids
   0..k−1 go by size, largest first.
5. **Profiles and names**: size, share, feature means and mean z-scores per cluster; names by the rules
   of :mod:`.naming`.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, Self

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from sklearn.cluster import KMeans

from siyu.core.errors import SiyuError
from siyu.models.clusters.features import DAY_FEATURES, FEATURES
from siyu.models.clusters.matching import match_centroids
from siyu.models.clusters.naming import cluster_names
from siyu.models.clusters.silhouette import silhouette, silhouette_sample

FORMAT, VERSION = "siyu.cluster_model", 1
MODEL_FILE = "cluster_model.json"
#: The 90-day order and GMV counts repeat the 365-day ones; left out, value and frequency do not
#: outweigh behaviour in the distance.
DEFAULT_FEATURES = tuple(f for f in FEATURES if f not in ("orders_90d", "gmv_90d"))


class ClusterConfig(BaseModel):
    """Hyper-parameters; every field has the default the docs describe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: tuple[str, ...] = DEFAULT_FEATURES
    #: Features that get ``log1p``; None: every feature but the bounded day counts.
    log_features: tuple[str, ...] | None = None
    k_min: int = 8
    k_max: int = 12
    n_init: int = 10
    max_iter: int = 300
    seed: int = 0
    silhouette_sample: int = 5_000
    #: Fit k-means on a seeded sample of this many people when there are more (None: everyone).
    fit_sample: int | None = 200_000
    clip_z: float = 5.0
    #: A new centroid further than this (Euclidean, in standard deviations) from its match is a new cluster.
    match_max_distance: float | None = 1.0

    @model_validator(mode="after")
    def _consistent(self) -> ClusterConfig:
        if not self.features or len(set(self.features)) != len(self.features):
            raise ValueError("features must be a non-empty list without repeats")
        if self.log_features is not None and not set(self.log_features) <= set(self.features):
            raise ValueError(f"log_features {sorted(set(self.log_features) - set(self.features))} are not features")
        if not 2 <= self.k_min <= self.k_max <= 50:
            raise ValueError(f"need 2 <= k_min <= k_max <= 50, got k_min={self.k_min}, k_max={self.k_max}")
        if self.n_init < 1 or self.max_iter < 1 or self.silhouette_sample < 100 or self.clip_z <= 0:
            raise ValueError("n_init and max_iter must be >= 1, silhouette_sample >= 100, clip_z > 0")
        if self.fit_sample is not None and self.fit_sample < 100:
            raise ValueError("fit_sample must be at least 100 (or None for everyone)")
        return self

    @property
    def logged(self) -> tuple[str, ...]:
        if self.log_features is not None:
            return self.log_features
        return tuple(f for f in self.features if f not in DAY_FEATURES)


def cluster_config(**fields: Any) -> ClusterConfig:
    """A :class:`ClusterConfig`, with a bad field reported as a ``bad_cluster_config`` error."""
    try:
        return ClusterConfig(**fields)
    except ValidationError as exc:
        raise SiyuError(f"bad clustering config: {exc.errors()[0]['msg']}", code="bad_cluster_config") from None


def feature_matrix(table: pa.Table, features: tuple[str, ...]) -> np.ndarray:
    """The ``features`` columns of ``table`` as an n × f float matrix; missing or null values are errors."""
    missing = [f for f in features if f not in table.column_names]
    if missing:
        raise SiyuError(f"the feature table has no column(s) {', '.join(missing)}", code="bad_cluster_features")
    cols = []
    for f in features:
        col = table.column(f)
        if col.null_count:
            raise SiyuError(f"feature {f!r} has {col.null_count} null values", code="bad_cluster_features")
        values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
        if not np.isfinite(values).all():
            raise SiyuError(f"feature {f!r} has values that are not finite numbers", code="bad_cluster_features")
        cols.append(values)
    return np.column_stack(cols) if cols else np.empty((table.num_rows, 0))


def transform(x: np.ndarray, config: ClusterConfig) -> np.ndarray:
    """``log1p`` of the logged features (negative values as 0); the other columns unchanged."""
    t = x.copy()
    for j, f in enumerate(config.features):
        if f in config.logged:
            t[:, j] = np.log1p(np.maximum(t[:, j], 0.0))
    return t


def nearest(z: np.ndarray, centroids: np.ndarray, chunk: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """(row of the nearest centroid, its Euclidean distance) for each row of ``z``, in chunks of rows."""
    rows = np.empty(len(z), dtype=np.int64)
    dist = np.empty(len(z))
    for start in range(0, len(z), chunk):
        part = z[start:start + chunk]
        d2 = ((part[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
        r = d2.argmin(axis=1)
        rows[start:start + chunk] = r
        dist[start:start + chunk] = np.sqrt(d2[np.arange(len(part)), r])
    return rows, dist


class ClusterModel:
    """A trained clustering: standardisation, centroids with stable ids, names, profiles and evidence."""

    def __init__(self, config: ClusterConfig, center: np.ndarray, scale: np.ndarray, centroids: np.ndarray,
                 ids: list[int], names: list[tuple[str, str]], next_id: int, profiles: list[dict[str, Any]],
                 metrics: dict[str, float], as_of: date | None = None) -> None:
        self.config = config
        self.center, self.scale, self.centroids = center, scale, centroids
        self.ids, self.names, self.next_id = ids, names, next_id
        self.profile_rows, self.metrics, self.as_of = profiles, metrics, as_of

    @property
    def params(self) -> dict[str, Any]:
        """The hyper-parameters the registry records (with the resolved ``log_features`` and ``as_of``)."""
        out = self.config.model_dump(mode="json")
        out["log_features"] = list(self.config.logged)
        out["as_of"] = self.as_of.isoformat() if self.as_of else None
        return out

    @property
    def features(self) -> tuple[str, ...]:
        return self.config.features

    # --- transform and assign ------------------------------------------------------------------------

    def standardise(self, table: pa.Table) -> np.ndarray:
        """The clipped z-scores of ``table``'s features under this model's means and scales."""
        t = transform(feature_matrix(table, self.features), self.config)
        return np.clip((t - self.center) / self.scale, -self.config.clip_z, self.config.clip_z)

    def predict(self, table: pa.Table) -> pa.Table:
        """``one_id, cluster_id, cluster_name_zh, cluster_name_en, distance`` for each row of ``table``.

        ``distance`` is the Euclidean distance to the cluster's centroid in standard deviations: large
        values mark people the cluster describes poorly.
        """
        if "one_id" not in table.column_names:
            raise SiyuError("the feature table has no one_id column", code="bad_cluster_features")
        rows, dist = nearest(self.standardise(table), self.centroids)
        ids = np.asarray(self.ids, dtype=np.int32)[rows]
        return pa.table({
            "one_id": table.column("one_id"),
            "cluster_id": pa.array(ids, pa.int32()),
            "cluster_name_zh": pa.array([self.names[r][0] for r in rows], pa.string()),
            "cluster_name_en": pa.array([self.names[r][1] for r in rows], pa.string()),
            "distance": pa.array(dist, pa.float64()),
        })

    def profiles(self) -> pa.Table:
        """Per cluster: ``cluster_id``, names, ``size``, ``share``, then ``mean_<feature>`` and ``z_<feature>``."""
        cols: dict[str, list[Any]] = {k: [p[k] for p in self.profile_rows]
                                      for k in ("cluster_id", "cluster_name_zh", "cluster_name_en", "size", "share")}
        for f in self.features:
            cols[f"mean_{f}"] = [p["mean"][f] for p in self.profile_rows]
            cols[f"z_{f}"] = [p["z"][f] for p in self.profile_rows]
        return pa.table(cols)

    # --- training ------------------------------------------------------------------------------------

    @classmethod
    def fit(cls, table: pa.Table, config: ClusterConfig | None = None, previous: ClusterModel | None = None,
            as_of: date | None = None) -> ClusterModel:
        """Train on a feature table (one row per person); ``previous`` keeps ids and names stable."""
        config = config or ClusterConfig()
        if previous is not None and (previous.features != config.features
                                     or set(previous.config.logged) != set(config.logged)):
            raise SiyuError("the previous model was trained on other features or transforms; ids cannot be "
                            "carried over", code="incompatible_previous_model")
        x = feature_matrix(table, config.features)
        n = len(x)
        if n <= config.k_max:
            raise SiyuError(f"clustering into up to {config.k_max} clusters needs more than {config.k_max} "
                            f"people; the feature table has {n}", code="too_few_people")
        t = transform(x, config)
        center = t.mean(axis=0)
        scale = t.std(axis=0)
        scale[scale <= 0] = 1.0
        z = np.clip((t - center) / scale, -config.clip_z, config.clip_z)
        fit_rows = silhouette_sample(n, config.fit_sample or n, config.seed)
        sil_rows = silhouette_sample(n, config.silhouette_sample, config.seed + 1)
        metrics: dict[str, float] = {}
        best: tuple[float, int, np.ndarray] | None = None  # (silhouette, k, centroids)
        for k in range(config.k_min, config.k_max + 1):
            km = KMeans(n_clusters=k, n_init=config.n_init, max_iter=config.max_iter, random_state=config.seed,
                        algorithm="lloyd").fit(z[fit_rows])
            labels = km.predict(z[sil_rows])
            score = silhouette(z[sil_rows], labels) if len(np.unique(labels)) >= 2 else -1.0
            metrics[f"silhouette_k{k}"] = score
            if best is None or score > best[0]:
                best = (score, k, np.asarray(km.cluster_centers_, dtype=np.float64))
        assert best is not None
        score, k, centroids = best
        rows, dist = nearest(z, centroids)
        sizes = np.bincount(rows, minlength=k)
        means_z = np.array([z[rows == c].mean(axis=0) if sizes[c] else np.zeros(len(config.features))
                            for c in range(k)])
        ids, keep, next_id = _assign_ids(centroids, sizes, center, scale, previous, config.match_max_distance)
        names = cluster_names(means_z, config.features, keep)
        order = np.argsort(ids)
        profiles = [{
            "cluster_id": int(ids[c]), "cluster_name_zh": names[c][0], "cluster_name_en": names[c][1],
            "size": int(sizes[c]), "share": float(sizes[c] / n),
            "mean": {f: float(x[rows == c, j].mean()) if sizes[c] else 0.0 for j, f in enumerate(config.features)},
            "z": {f: float(means_z[c, j]) for j, f in enumerate(config.features)},
        } for c in order]
        metrics.update({"k": float(k), "silhouette": score, "people": float(n),
                        "silhouette_sample_size": float(len(sil_rows)), "fit_sample_size": float(len(fit_rows)),
                        "inertia": float((dist ** 2).sum()), "mean_distance": float(dist.mean()),
                        "smallest_cluster_share": float(sizes.min() / n),
                        "largest_cluster_share": float(sizes.max() / n)})
        model = cls(config, center, scale, centroids[order], [int(ids[c]) for c in order],
                    [names[c] for c in order], next_id, profiles, metrics, as_of)
        if previous is not None:
            metrics["matched_clusters"] = float(len(keep))
            before = previous.predict(pa.table({"one_id": pa.array(range(n)),
                                                **{f: table.column(f) for f in config.features}}))
            same = np.asarray(before.column("cluster_id")) == np.asarray(ids, dtype=np.int64)[rows]
            metrics["same_cluster_share"] = float(same.mean())
        return model

    # --- persistence (JSON, no pickle) ---------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the model as ``cluster_model.json`` into ``folder`` (created when missing)."""
        folder.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": FORMAT, "version": VERSION, "config": self.config.model_dump(mode="json"),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "center": self.center.tolist(), "scale": self.scale.tolist(), "centroids": self.centroids.tolist(),
            "ids": self.ids, "names": [list(n) for n in self.names], "next_id": self.next_id,
            "profiles": self.profile_rows, "metrics": self.metrics,
        }
        tmp = folder / f".{MODEL_FILE}.tmp"
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(folder / MODEL_FILE)

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Read a model written by :meth:`save`."""
        path = folder / MODEL_FILE
        if not path.exists():
            raise SiyuError(f"no {MODEL_FILE} in {folder}", code="model_not_found")
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise SiyuError(f"{path} is not a version-{VERSION} cluster model", code="bad_model_file")
        return cls(ClusterConfig(**doc["config"]), np.asarray(doc["center"], dtype=np.float64),
                   np.asarray(doc["scale"], dtype=np.float64), np.asarray(doc["centroids"], dtype=np.float64),
                   [int(i) for i in doc["ids"]], [(n[0], n[1]) for n in doc["names"]], int(doc["next_id"]),
                   doc["profiles"], {k: float(v) for k, v in doc["metrics"].items()},
                   date.fromisoformat(doc["as_of"]) if doc["as_of"] else None)


def _assign_ids(centroids: np.ndarray, sizes: np.ndarray, center: np.ndarray, scale: np.ndarray,
                previous: ClusterModel | None, max_distance: float | None
                ) -> tuple[list[int], dict[int, tuple[str, str]], int]:
    """(id per centroid row, names kept from matched previous clusters, the next unused id)."""
    by_size = sorted(range(len(centroids)), key=lambda c: (-int(sizes[c]), tuple(centroids[c])))
    ids = [-1] * len(centroids)
    keep: dict[int, tuple[str, str]] = {}
    next_id = 0
    if previous is not None:
        # the previous centroids, back in transformed units, then in this model's standard deviations
        old = (previous.centroids * previous.scale + previous.center - center) / scale
        for new_row, old_row in match_centroids(centroids, old, max_distance).items():
            ids[new_row] = previous.ids[old_row]
            keep[new_row] = previous.names[old_row]
        next_id = previous.next_id
    for c in by_size:
        if ids[c] < 0:
            ids[c] = next_id
            next_id += 1
    return ids, keep, next_id
