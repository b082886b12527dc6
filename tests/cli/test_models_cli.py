"""``siyu models …`` end to end on a copy of the demo lake, and the predictive tag that reads the CLV model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.cli.profile_cmds import default_tag_defs
from siyu.profile.tags.build import build_tags
from siyu.warehouse.lake import Lake

runner = CliRunner()


@pytest.fixture(scope="module")
def lake(demo: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("models-cli") / "lake"
    shutil.copytree(demo["lake"].root, target)
    return str(target)


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_train_list_evaluate_and_plot(lake: str, tmp_path: Path) -> None:
    (tmp_path / "clv.yaml").write_text("holdout_days: 60\nannual_discount: 0.12\n", encoding="utf-8")
    trained = json.loads(_ok("models", "train", "clv", "--lake", lake, "--config", str(tmp_path / "clv.yaml"),
                             "--json"))
    assert trained["version"] == 1 and trained["predictions"] > 5000 and trained["params"]["r"] > 0
    listed = json.loads(_ok("models", "list", "--lake", lake, "--json"))
    assert [(e["name"], e["version"], e["status"]) for e in listed] == [("clv", 1, "active")]
    text = _ok("models", "evaluate", "clv", "--lake", lake, "--plot", str(tmp_path / "clv.html"))
    assert "holdout" in text and "7+" in text
    page = (tmp_path / "clv.html").read_text(encoding="utf-8")
    assert "echarts" in page and "验证期" in page and "http" not in page.split("<script>")[0]
    evaluated = json.loads(_ok("models", "evaluate", "clv", "--lake", lake, "--json"))
    assert evaluated["holdout"][0]["frequency"] == "0"


def test_the_clv_band_tag_reads_the_predictions(lake: str) -> None:
    report = build_tags(Lake(lake), default_tag_defs())
    assert "clv_band" not in report.pending and "churn_risk" in report.pending
    values = pq.read_table(Lake(lake).files("ads", "tag_values")).to_pandas()
    bands = set(values.loc[values["tag"] == "clv_band", "value"])
    assert bands and bands <= {"top", "high", "medium", "low"}


def test_retrain_compare_rollback_drift(lake: str) -> None:
    _ok("models", "retrain", "clv", "--lake", lake, "--as-of", "2026-05-31")
    compared = json.loads(_ok("models", "compare", "clv", "1", "2", "--lake", lake, "--json"))
    assert any(r["metric"] == "purchases_customers" and r["change"] < 0 for r in compared)
    assert "clv v1 is active" in runner.invoke(app, ["models", "rollback", "clv", "1", "--lake", lake]).output
    drift = json.loads(_ok("models", "drift", "clv", "--lake", lake, "--json"))
    assert drift[0]["version"] == 1 and drift[0]["max_psi"] < 0.01 and not drift[0]["stale"]
    assert "no model is stale" in runner.invoke(app, ["models", "retrain", "--stale", "--lake", lake]).output
    _ok("models", "predict", "clv", "--lake", lake, "--version", "2")


@pytest.mark.parametrize(("args", "message"), [
    (["models", "train", "nope"], "unknown model 'nope'"),
    (["models", "train", "clv", "--as-of", "2026-13-01"], "not a date"),
    (["models", "evaluate", "clv", "--version", "99"], "no version 99"),
    (["models", "retrain"], "pass --stale"),
])
def test_errors_are_one_line_and_exit_2(lake: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, "--lake", lake])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_bad_settings_are_named(lake: str, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("horizon_months: 0\n", encoding="utf-8")
    result = runner.invoke(app, ["models", "train", "clv", "--lake", lake, "--config", str(tmp_path / "bad.yaml")])
    assert result.exit_code == 2 and "horizon_months" in result.output
    (tmp_path / "broken.yaml").write_text("holdout_days: [\n", encoding="utf-8")
    result = runner.invoke(app, ["models", "train", "clv", "--lake", lake, "--config", str(tmp_path / "broken.yaml")])
    assert result.exit_code == 2 and "not valid YAML" in result.output
