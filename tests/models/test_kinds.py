"""Every registered kind through the runner on a copy of the demo lake: trained, registered with its
evidence, its output written where the tags and the API read it; clusters keep their ids on retrain."""

from __future__ import annotations

import shutil
from datetime import date
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from siyu.cli.profile_cmds import default_tag_defs
from siyu.core.errors import SiyuError
from siyu.models.kinds import KINDS
from siyu.models.predictions import read_predictions
from siyu.models.registry import ModelRegistry
from siyu.models.runner import check_drift, load_model, retrain_models, train_model
from siyu.profile.tags.build import build_tags
from siyu.warehouse.lake import Lake


@pytest.fixture(scope="module")
def lake(demo: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Lake:
    target = tmp_path_factory.mktemp("kinds") / "lake"
    shutil.copytree(demo["lake"].root, target)
    return Lake(target)


def test_the_catalogue_of_kinds() -> None:
    assert set(KINDS) == {"clv", "churn", "purchase_intent", "cluster", "baskets", "comment_sentiment"}
    assert all(k.title_zh and k.title_en and k.tables for k in KINDS.values())


@pytest.mark.parametrize(("name", "config", "column"), [
    ("churn", {"lead_time_people": 50}, "churn_probability"),
    ("purchase_intent", {}, "purchase_probability"),
    ("cluster", {}, "cluster_id"),
])
def test_per_person_kinds(lake: Lake, name: str, config: dict[str, Any], column: str) -> None:
    trained = train_model(lake, name, config=config)
    v = trained.version
    assert v.status == "active" and v.metrics and v.reference and v.data["digest"]
    table = read_predictions(lake, KINDS[name].predictions)
    assert table is not None and table.num_rows == trained.predictions > 1000
    assert column in table.column_names and pc.unique(table.column("model_version")).to_pylist() == [v.version]
    ((_, report),) = check_drift(lake, name, as_of=date.fromisoformat(v.as_of))
    assert report["max_psi"] < 0.05 and not report["stale"]


def test_churn_auc_beats_the_recency_baseline_in_the_registry(lake: Lake) -> None:
    entry, _ = load_model(lake, "churn")
    metrics = entry.metrics
    auc = next(v for k, v in metrics.items() if k.endswith("auc") and "baseline" not in k and "pr" not in k)
    base = next(v for k, v in metrics.items() if k.endswith("auc") and "baseline" in k and "pr" not in k)
    assert auc > base + 0.05, metrics


def test_cluster_ids_survive_a_retrain(lake: Lake) -> None:
    before = read_predictions(lake, "cluster")
    assert before is not None
    retrain_models(lake, ["cluster"])
    after = read_predictions(lake, "cluster")
    assert after is not None and pc.unique(after.column("model_version")).to_pylist() == [2]
    old = dict(zip(before.column("one_id").to_pylist(), before.column("cluster_id").to_pylist(), strict=True))
    same = sum(old.get(o) == c for o, c in zip(after.column("one_id").to_pylist(),
                                               after.column("cluster_id").to_pylist(), strict=True))
    assert same / after.num_rows > 0.95


def test_baskets_write_shared_tables(lake: Lake) -> None:
    trained = train_model(lake, "baskets", config={"min_support": 0.001})
    assert trained.version.metrics["baskets"] > 1000
    for table in ("basket_rules", "bought_together", "basket_slot_items"):
        assert Lake(lake.root).exists("models", table) or pq.read_table(
            lake.table_dir("models", table) / "_schema.parquet").num_rows == 0, table


def test_comment_sentiment_needs_comments_and_says_so(lake: Lake) -> None:
    """The demo world writes no comment texts: training records the shipped sample's accuracy and finds
    no comments; scoring writes an empty table rather than inventing any."""
    trained = train_model(lake, "comment_sentiment")
    assert trained.version.metrics["accuracy"] > 0.8 and trained.version.metrics["comments_in_window"] == 0
    assert trained.predictions == 0


def test_the_predictive_tags_read_the_models(lake: Lake) -> None:
    report = build_tags(lake, default_tag_defs())
    assert not {"churn_risk", "purchase_intent"} & set(report.pending)  # clv_band: tests/cli/test_models_cli.py
    values = pq.read_table(lake.files("ads", "tag_values")).to_pandas()
    for tag in ("churn_risk", "purchase_intent"):
        assert len(set(values.loc[values["tag"] == tag, "value"])) >= 2, tag
    assert ModelRegistry(lake).get("churn").status == "active"


def test_unknown_settings_are_refused(lake: Lake) -> None:
    with pytest.raises(SiyuError) as exc:
        train_model(lake, "churn", config={"horizon": 30})
    assert exc.value.code == "bad_model_config" and "horizon" in str(exc.value)
