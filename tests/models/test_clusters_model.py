"""Clustering on planted Gaussian blobs: recovery (sklearn's ARI as the reference), k by silhouette
(sklearn's silhouette_score as the reference), stable ids across retrains, names, profiles, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

from siyu.core.errors import SiyuError
from siyu.models.clusters import (
    DEFAULT_FEATURES,
    ClusterConfig,
    ClusterModel,
    cluster_config,
    cluster_names,
    silhouette,
    silhouette_sample,
)

DIMS = 12
SEPARATION = 6.0


def blobs(k: int, n: int, seed: int, centers: np.ndarray | None = None) -> tuple[pa.Table, np.ndarray]:
    """``n`` people in ``k`` unit-variance blobs centred at SEPARATION × e_i: any two centres are 8.5 standard
    deviations apart, so the Bayes error is about (k − 1) × P(N(0,1) > 4.24) ≈ 1e-4 per person."""
    rng = np.random.default_rng(seed)
    centers = SEPARATION * np.eye(k, DIMS) if centers is None else centers
    truth = rng.integers(0, k, n)
    x = centers[truth] + rng.normal(size=(n, DIMS))
    return feature_table(x), truth


def feature_table(x: np.ndarray, ids: list[str] | None = None) -> pa.Table:
    return pa.table({"one_id": ids or [f"p{i:05d}" for i in range(len(x))],
                     **{f"x{j}": x[:, j] for j in range(x.shape[1])}})


PLAIN = ClusterConfig(features=tuple(f"x{j}" for j in range(DIMS)), log_features=())


def ids_of(model: ClusterModel, table: pa.Table) -> np.ndarray:
    return np.asarray(model.predict(table).column("cluster_id"))


# --- silhouette ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_silhouette_equals_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 2500))  # more than one chunk of rows for the larger cases
    x = rng.normal(size=(n, int(rng.integers(1, 6)))) * rng.uniform(0.1, 100)
    labels = rng.integers(0, int(rng.integers(2, 9)), n)
    labels[0] = 99  # a singleton cluster scores 0
    assert silhouette(x, labels) == pytest.approx(silhouette_score(x, labels), abs=1e-10)


def test_silhouette_rejects_one_cluster() -> None:
    with pytest.raises(SiyuError) as err:
        silhouette(np.zeros((5, 2)), np.zeros(5, dtype=int))
    assert err.value.code == "bad_silhouette_input"


def test_silhouette_sample_is_seeded_sorted_and_without_repeats() -> None:
    a = silhouette_sample(10_000, 500, 3)
    assert np.array_equal(a, silhouette_sample(10_000, 500, 3)) and not np.array_equal(a, silhouette_sample(10_000,
                                                                                                            500, 4))
    assert len(np.unique(a)) == 500 and np.all(np.diff(a) > 0)
    assert np.array_equal(silhouette_sample(50, 500, 3), np.arange(50))


# --- recovery and k ---------------------------------------------------------------------------------------


def test_planted_blobs_are_recovered() -> None:
    """ARI ≥ 0.98: the planted Bayes error is ~1e-4, so anything below means k-means went wrong."""
    table, truth = blobs(10, 4000, seed=1)
    model = ClusterModel.fit(table, PLAIN)
    got = ids_of(model, table)
    assert adjusted_rand_score(truth, got) >= 0.98
    assert model.metrics["k"] == 10


@pytest.mark.parametrize("k", [8, 9, 11, 12])
def test_k_by_silhouette_finds_the_planted_k(k: int) -> None:
    table, _ = blobs(k, 300 * k, seed=k)
    model = ClusterModel.fit(table, PLAIN)
    scores = {j: model.metrics[f"silhouette_k{j}"] for j in range(8, 13)}
    assert max(scores, key=lambda j: scores[j]) == k == model.metrics["k"]
    assert len(model.ids) == k


def test_reported_silhouette_is_sklearns_on_the_seeded_sample() -> None:
    table, _ = blobs(9, 3000, seed=2)
    config = PLAIN.model_copy(update={"silhouette_sample": 800, "seed": 11})
    model = ClusterModel.fit(table, config)
    rows = silhouette_sample(table.num_rows, 800, 12)  # the model's sample: seed + 1
    z = model.standardise(table)
    labels = ids_of(model, table)[rows]
    assert model.metrics["silhouette"] == pytest.approx(silhouette_score(z[rows], labels), abs=1e-10)
    assert model.metrics["silhouette_sample_size"] == 800


def test_fit_is_deterministic() -> None:
    table, _ = blobs(10, 2000, seed=4)
    a, b = ClusterModel.fit(table, PLAIN), ClusterModel.fit(table, PLAIN)
    assert np.array_equal(a.centroids, b.centroids) and a.ids == b.ids and a.names == b.names
    assert a.ids == list(range(10))
    sizes = [p["size"] for p in a.profile_rows]
    assert sizes == sorted(sizes, reverse=True)  # a first fit numbers clusters by size


# --- stable ids ----------------------------------------------------------------------------------------


def _bootstrap(table: pa.Table, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return table.take(rng.integers(0, table.num_rows, table.num_rows))  # resampled and shuffled


def test_retrain_on_a_bootstrap_resample_keeps_ids() -> None:
    table, _ = blobs(10, 4000, seed=6)
    first = ClusterModel.fit(table, PLAIN)
    again = ClusterModel.fit(_bootstrap(table, 1), PLAIN.model_copy(update={"seed": 99}), previous=first)
    same = ids_of(first, table) == ids_of(again, table)
    assert same.mean() >= 0.99
    assert again.metrics["same_cluster_share"] >= 0.99 and again.metrics["matched_clusters"] == 10
    assert dict(zip(again.ids, again.names, strict=True)) == dict(zip(first.ids, first.names, strict=True))


def test_matching_agrees_with_a_majority_vote_pairing() -> None:
    """Without a previous model a retrain numbers clusters its own way; the matched ids are what an
    independent pairing — each new cluster to the old id most of its members had — says."""
    table, _ = blobs(10, 4000, seed=7)
    first = ClusterModel.fit(table, PLAIN)
    resampled = _bootstrap(table, 2)
    fresh = ClusterModel.fit(resampled, PLAIN.model_copy(update={"seed": 5}))
    matched = ClusterModel.fit(resampled, PLAIN.model_copy(update={"seed": 5}), previous=first)
    old, new = ids_of(first, table), ids_of(fresh, table)
    vote = {c: int(pd.Series(old[new == c]).mode()[0]) for c in np.unique(new)}
    assert np.array_equal(ids_of(matched, table), np.array([vote[c] for c in new]))


def test_a_moved_cluster_gets_a_new_id() -> None:
    table, _ = blobs(10, 4000, seed=8)
    first = ClusterModel.fit(table, PLAIN)
    centers = SEPARATION * np.eye(10, DIMS)
    centers[9] = -SEPARATION * np.ones(DIMS) / np.sqrt(DIMS)  # blob 9 moves far from every old centroid
    moved, truth = blobs(10, 4000, seed=9, centers=centers)
    second = ClusterModel.fit(moved, PLAIN, previous=first)
    assert second.metrics["matched_clusters"] == 9
    got = ids_of(second, moved)
    assert set(got[truth == 9]) == {first.next_id} == {10}
    assert second.next_id == 11
    old_ids = ids_of(first, moved)
    assert (got[truth != 9] == old_ids[truth != 9]).mean() >= 0.99


def test_previous_model_on_other_features_is_refused() -> None:
    table, _ = blobs(10, 1000, seed=1)
    first = ClusterModel.fit(table, PLAIN)
    other = ClusterConfig(features=tuple(f"x{j}" for j in range(DIMS - 1)), log_features=())
    with pytest.raises(SiyuError) as err:
        ClusterModel.fit(table, other, previous=first)
    assert err.value.code == "incompatible_previous_model"


# --- names ---------------------------------------------------------------------------------------------


def _z(**deviations: float) -> list[float]:
    return [deviations.get(f, 0.0) for f in DEFAULT_FEATURES]


def test_names_follow_the_documented_rules() -> None:
    z = np.array([
        _z(gmv_365d=1.2, aov_365d=0.7, orders_365d=-0.8),            # value + frequency
        _z(active_days_30d=1.0, interactions_90d=0.6, content_reads_90d=0.9, shares_90d=0.3),
        _z(active_days_90d=-1.0, days_since_interaction=1.5),         # activity + recency
        _z(gmv_365d=0.4, shares_90d=-2.0),                           # nothing eligible
        _z(gmv_365d=1.2, orders_365d=-0.8, coupon_orders_365d=0.6),  # clashes with row 0 …
        _z(gmv_365d=1.2, orders_365d=-0.8, coupon_orders_365d=0.6),  # … and with row 4
    ])
    names = cluster_names(z, DEFAULT_FEATURES)
    assert names[0] == ("高价值低频", "high value, low frequency")
    assert names[1] == ("活跃内容型", "active, content readers")
    assert names[2] == ("沉默流失风险", "silent, at risk")
    assert names[3] == ("普通客户", "typical customers")
    # a clash: each clashing cluster takes its third phrase; the one still clashing gets a number
    assert names[4] == ("高价值低频爱用券", "high value, low frequency, coupon users")
    assert names[5] == ("高价值低频爱用券2", "high value, low frequency, coupon users 2")
    assert len(set(names)) == len(names)


def test_a_clash_is_told_apart_by_a_phrase_only_one_side_has() -> None:
    z = np.array([
        _z(content_reads_90d=1.9, shares_90d=2.0, active_days_30d=1.3, gmv_365d=1.1),
        _z(content_reads_90d=2.7, shares_90d=1.4, active_days_30d=1.0, gmv_365d=-0.85),
        _z(recency_days=2.0, orders_365d=-0.6),  # a long time since the last order is not a phrase
        _z(recency_days=-1.2, gmv_365d=0.9),
    ])
    names = cluster_names(z, DEFAULT_FEATURES)
    assert names[0] == ("高价值内容型爱分享", "high value, content readers, sharers")
    assert names[1] == ("低价值内容型爱分享", "low value, content readers, sharers")
    assert names[2] == ("低频", "low frequency")
    assert names[3] == ("高价值近期购买", "high value, recent buyers")


def test_kept_names_stay_and_are_not_reused() -> None:
    z = np.array([_z(gmv_365d=1.0, orders_365d=-0.6), _z(active_days_30d=-0.9)])
    names = cluster_names(z, DEFAULT_FEATURES, keep={1: ("高价值低频", "high value, low frequency")})
    assert names[1] == ("高价值低频", "high value, low frequency")
    assert names[0] == ("高价值低频2", "high value, low frequency 2")


# --- transform, profiles, persistence, errors -----------------------------------------------------------


def _skewed(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, n)
    cols = {f: np.zeros(n) for f in DEFAULT_FEATURES}
    cols["gmv_365d"] = rng.lognormal(3 + 2 * group, 0.4)
    cols["orders_365d"] = rng.poisson(1 + 4 * group).astype(float)
    cols["active_days_90d"] = rng.poisson(2 + 10 * (group == 1)).astype(float)
    cols["days_since_interaction"] = rng.integers(0, 366, n).astype(float)
    cols["recency_days"] = np.where(group == 0, 365.0, rng.integers(0, 200, n))
    return pa.table({"one_id": [f"p{i}" for i in range(n)], **cols})


def test_log_transform_standardise_and_clip_by_hand() -> None:
    table = _skewed(1500, 3)
    config = ClusterConfig(k_min=3, k_max=5, clip_z=2.5)
    model = ClusterModel.fit(table, config)
    z = model.standardise(table)
    for j, f in enumerate(DEFAULT_FEATURES):
        x = np.asarray(table.column(f), dtype=float)
        t = x if f in ("recency_days", "days_since_interaction", "tenure_days") else np.log1p(x)
        sd = t.std() or 1.0
        assert np.allclose(z[:, j], np.clip((t - t.mean()) / sd, -2.5, 2.5), atol=1e-12), f


def test_profiles_match_a_pandas_group_by() -> None:
    table = _skewed(1500, 4)
    model = ClusterModel.fit(table, ClusterConfig(k_min=3, k_max=5))
    ids = ids_of(model, table)
    frame = table.to_pandas().assign(cluster_id=ids)
    prof = model.profiles().to_pandas().set_index("cluster_id")
    assert prof["size"].sum() == table.num_rows and prof["share"].sum() == pytest.approx(1.0)
    means = frame.groupby("cluster_id")[list(DEFAULT_FEATURES)].mean()
    zs = pd.DataFrame(model.standardise(table), columns=list(DEFAULT_FEATURES)).assign(cluster_id=ids)
    for f in DEFAULT_FEATURES:
        assert np.allclose(prof.loc[means.index, f"mean_{f}"], means[f], rtol=1e-12, atol=1e-12)
        assert np.allclose(prof.loc[means.index, f"z_{f}"], zs.groupby("cluster_id")[f].mean(), atol=1e-12)
    assert prof["size"].to_dict() == frame["cluster_id"].value_counts().to_dict()


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    table, _ = blobs(10, 2000, seed=5)
    model = ClusterModel.fit(table, PLAIN)
    model.save(tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "cluster_model.json").read_text(encoding="utf-8"))
    assert doc["format"] == "siyu.cluster_model"
    back = ClusterModel.load(tmp_path / "m")
    assert back.predict(table).equals(model.predict(table))
    assert back.profiles().equals(model.profiles())
    assert back.metrics == model.metrics and back.params == model.params and back.next_id == model.next_id
    # a loaded model is a valid previous model
    again = ClusterModel.fit(_bootstrap(table, 3), PLAIN, previous=back)
    assert again.metrics["same_cluster_share"] >= 0.99


def test_load_refuses_other_files(tmp_path: Path) -> None:
    with pytest.raises(SiyuError) as err:
        ClusterModel.load(tmp_path)
    assert err.value.code == "model_not_found"
    (tmp_path / "cluster_model.json").write_text('{"format": "something else"}')
    with pytest.raises(SiyuError) as err:
        ClusterModel.load(tmp_path)
    assert err.value.code == "bad_model_file"


def test_bad_inputs_are_named() -> None:
    table, _ = blobs(10, 300, seed=1)
    with pytest.raises(SiyuError, match="x9") as err:
        ClusterModel.fit(table.drop_columns(["x9"]), PLAIN)
    assert err.value.code == "bad_cluster_features"
    with_null = table.set_column(3, "x2", pa.array([None] + [1.0] * (table.num_rows - 1), pa.float64()))
    with pytest.raises(SiyuError, match="x2"):
        ClusterModel.fit(with_null, PLAIN)
    with pytest.raises(SiyuError) as err:
        ClusterModel.fit(table.slice(0, 12), PLAIN)
    assert err.value.code == "too_few_people"
    with pytest.raises(SiyuError) as err:
        cluster_config(k_min=9, k_max=8)
    assert err.value.code == "bad_cluster_config"
