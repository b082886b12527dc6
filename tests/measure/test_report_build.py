"""The report built from the demo lake through the CLI: every section is there and, in headless
Chromium, every chart draws; the numbers on the cards are the KPI catalogue's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.measure.kpi import Grain, KpiQuery, compute_kpi, load_catalogue, register_kpi_sources
from siyu.measure.report_build import build_report_data
from siyu.warehouse.engine import open_engine
from tests.measure.report.test_browser import browser, open_in_browser

__all__ = ["browser"]  # the fixture, imported for its side effect

SECTIONS = ("kpis", "funnel", "cohorts", "paths", "attribution", "experiments", "heatmap")


@pytest.fixture(scope="module")
def data(demo: dict[str, Any]) -> Any:
    return build_report_data(demo["lake"])


def test_every_section_is_filled_from_the_lake(data: Any, demo: dict[str, Any]) -> None:
    for name in SECTIONS:
        assert getattr(data, name) is not None, name
    eng = open_engine("duckdb")
    register_kpi_sources(eng, demo["lake"])
    cat = load_catalogue()
    card = next(c for c in data.kpis.cards if c.name_en == "GMV")
    rows = compute_kpi(eng, cat, KpiQuery("gmv", data.window_start, data.window_end, Grain.MONTH)).to_pylist()
    assert card.value in {round(r["value"], 4) for r in rows}
    models = {c.model for c in data.attribution.credits}
    assert {"markov", "shapley", "linear", "composite"} <= models
    assert {r.metric for r in data.experiments.results} == {"conversion (14 d)", "revenue per person (14 d)"}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_cli_report_draws_every_chart_in_chromium(demo: dict[str, Any], browser: str, tmp_path: Path,
                                                       lang: str) -> None:
    out = tmp_path / f"report-{lang}.html"
    result = CliRunner().invoke(app, ["report", "--lake", str(demo["lake"].root), "--out", str(out), "--lang", lang])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "http://" not in html.split("<script", 1)[0] and "cdn" not in html.lower().split("<script", 1)[0]
    seen = open_in_browser(browser, out, tmp_path)
    assert seen.errors == ""
    assert int(seen.status["data-charts"]) >= 9
    assert seen.status["data-drawn"] == seen.status["data-charts"]
    for chart_id, attrs in seen.charts.items():
        assert attrs.get("data-drawn") == "1", (chart_id, attrs.get("data-error"))


def test_report_on_a_lake_that_is_not_built(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--lake", str(tmp_path / "nope"), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "lake_not_built" in result.output
