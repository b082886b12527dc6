"""The evaluation page opens offline in headless Chromium and its charts draw."""

from __future__ import annotations

from pathlib import Path

import pytest

from siyu.core.errors import SiyuError
from siyu.models.plots import evaluation_page, holdout_option, reliability_option
from tests.measure.report.test_browser import browser, open_in_browser  # noqa: F401  (fixture)

HOLDOUT = [{"frequency": str(g), "customers": 100 - g, "actual_mean": 0.5 + g / 3, "predicted_mean": 0.55 + g / 3,
            "actual_total": 50.0, "predicted_total": 55.0} for g in range(7)] + [
    {"frequency": "7+", "customers": 9, "actual_mean": 3.1, "predicted_mean": 2.9, "actual_total": 27.9,
     "predicted_total": 26.1}]
RELIABILITY = [{"mean_predicted": (k + 0.5) / 10, "observed_rate": (k + 0.4) / 10} for k in range(10)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_charts_draw_offline(browser: str, tmp_path: Path, lang: str) -> None:  # noqa: F811
    page = tmp_path / f"eval-{lang}.html"
    options = [holdout_option(HOLDOUT, lang), reliability_option(RELIABILITY, lang)]
    page.write_text(evaluation_page("clv v1 <b>", options, lang), encoding="utf-8")
    text = page.read_text(encoding="utf-8")
    assert "<script src" not in text and "clv v1 &lt;b&gt;" in text
    out = open_in_browser(browser, page, tmp_path)
    assert out.errors == "" and out.status["data-charts"] == "2" and out.status["data-drawn"] == "2"
    for attrs in out.charts.values():
        assert attrs.get("data-drawn") == "1" and int(attrs["data-painted"]) >= 200


def test_unknown_language_is_refused() -> None:
    with pytest.raises(SiyuError):
        evaluation_page("x", [], "fr")
