"""The registry through the runner on a copy of the demo lake: train, predict, compare, roll back, drift
and retrain — and the predictive tag reading what the model wrote."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from siyu.core.errors import SiyuError
from siyu.models.predictions import read_predictions
from siyu.models.registry import ModelRegistry
from siyu.models.runner import check_drift, data_end, lake_engine, predict_model, retrain_models, train_model
from siyu.warehouse.lake import Lake


@pytest.fixture(scope="module")
def lake(demo: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Lake:
    target = tmp_path_factory.mktemp("models") / "lake"
    shutil.copytree(demo["lake"].root, target, ignore=shutil.ignore_patterns("_serving*", ".pinned*"))
    return Lake(target)


def test_train_registers_evidence_and_writes_predictions(lake: Lake) -> None:
    trained = train_model(lake, "clv", config={"holdout_days": 60})
    v = trained.version
    assert (v.name, v.version, v.status, v.kind) == ("clv", 1, "active", "clv")
    assert v.params["purchase_model"] == "bg_nbd" and {"r", "alpha", "a", "b", "p", "q", "gamma"} <= set(v.params)
    assert "holdout_total_error" in v.metrics and v.metrics["purchases_customers"] > 5000
    orders = v.data["tables"]["dwd/orders"]
    assert orders["files"] >= 1 and len(v.data["digest"]) == 16  # dwd/orders is one unpartitioned table
    assert set(v.reference) == {"frequency", "recency", "T", "monetary", "clv_12m"}
    assert (ModelRegistry(lake).artifact_dir("clv", 1) / "clv.json").exists()
    table = read_predictions(lake, "clv")
    assert table is not None and table.num_rows == trained.predictions > 5000
    assert pc.unique(table.column("model_version")).to_pylist() == [1]


def test_retrain_compare_and_roll_back(lake: Lake) -> None:
    eng = lake_engine(lake)
    earlier = data_end(eng) - timedelta(days=30)
    second = train_model(lake, "clv", as_of=earlier, config={"holdout_days": 60}).version
    registry = ModelRegistry(lake)
    assert second.version == 2 and [v.status for v in registry.versions("clv")] == ["inactive", "active"]
    rows = {r["metric"]: r for r in registry.compare("clv", 1, 2)}
    assert rows["purchases_customers"]["change"] < 0  # a month less data, fewer customers
    registry.activate("clv", 1)  # roll back
    assert registry.get("clv").version == 1
    assert pc.unique(predict_model(lake, "clv").column("model_version")).to_pylist() == [1]
    with pytest.raises(SiyuError) as exc:
        registry.activate("clv", 9)
    assert exc.value.code == "unknown_version"
    with pytest.raises(SiyuError) as exc:
        registry.versions("nope")
    assert exc.value.code == "unknown_model"


def test_drift_marks_stale_and_retrain_stale_replaces_it(lake: Lake) -> None:
    registry = ModelRegistry(lake)
    registry.activate("clv", 2)  # trained a month before the data end
    same_day = check_drift(lake, "clv", as_of=date.fromisoformat(registry.get("clv").as_of))
    assert same_day[0][1]["max_psi"] < 0.01 and not same_day[0][1]["stale"]
    # 120 days later every customer's T has grown: the T distribution has moved
    later = check_drift(lake, "clv", as_of=data_end(lake_engine(lake)) + timedelta(days=90))
    entry, report = later[0]
    assert report["stale"] and report["worst"] in ("T", "recency", "clv_12m") and entry.status == "stale"
    assert registry.get("clv").version == 2  # a stale model still serves until retrained
    done = retrain_models(lake, stale=True, as_of=data_end(lake_engine(lake)))
    assert [t.version.version for t in done] == [3]
    assert registry.get("clv").status == "active" and registry.get("clv").version == 3
    assert retrain_models(lake, stale=True) == []


def test_unknown_models_and_unbuilt_lakes_are_clear_errors(tmp_path: Path, lake: Lake) -> None:
    with pytest.raises(SiyuError) as exc:
        train_model(lake, "nope")
    assert exc.value.code == "unknown_model" and "clv" in str(exc.value)
    with pytest.raises(SiyuError) as exc:
        train_model(Lake(tmp_path / "empty"), "clv")
    assert exc.value.code == "lake_not_built"
    with pytest.raises(SiyuError) as exc:
        ModelRegistry(Lake(tmp_path / "empty")).get("clv")
    assert exc.value.code == "unknown_model"
