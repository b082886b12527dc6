"""Rendering without a browser: escaping, the JSON data blocks, labels, offline, empty sections, writing."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from siyu.core.errors import SiyuError
from siyu.measure.report import ReportData, render_report, write_report
from siyu.measure.report.labels import LANGUAGES, Labels, table
from siyu.measure.report.page import ECHARTS_FILE, asset_text
from siyu.measure.report.sections import script_json
from tests.measure.report.sample import EVIL, EVIL_ATTR, FULL_CHARTS, full_report

SECTION_KEYS = ["alerts", "kpis", "funnel", "cohorts", "paths", "attribution", "experiments", "heatmap"]


class Page(HTMLParser):
    """Collects what the tests look at: tags and attributes, script blocks, and text outside scripts."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.text: list[str] = []
        self._script: dict[str, str | None] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        else:
            self.text.append(data)

    def chart_specs(self) -> dict[str, object]:
        return {str(a["data-chart"]): json.loads(body) for a, body in self.scripts if a.get("class") == "chart-spec"}


@pytest.fixture(scope="module")
def full_zh() -> str:
    return render_report(full_report())


def test_user_markup_renders_as_text_never_as_markup(full_zh: str) -> None:
    assert EVIL not in full_zh and EVIL_ATTR not in full_zh  # not even inside the JSON blocks
    page = Page(full_zh)
    text = "".join(page.text)
    assert EVIL in text and EVIL_ATTR in text  # shown to the reader as typed
    assert not any(tag == "img" for tag, _ in page.tags)
    assert [a.get("id") or a.get("class") for a, _ in page.scripts if a.get("class") != "chart-spec"] == [
        None, "echarts-lib", "report-driver"]  # the error hook, ECharts and the driver: nothing injected


def test_chart_json_blocks_round_trip_user_strings(full_zh: str) -> None:
    specs = Page(full_zh).chart_specs()
    assert list(specs) == list(FULL_CHARTS)
    channels = specs["chart-attribution-conversions"]["xAxis"]["data"]  # type: ignore[index]
    assert channels == ["企微", "公众号", "小程序", EVIL]
    blocks = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', full_zh, flags=re.S)
    assert len(blocks) == len(FULL_CHARTS)
    assert not any("<" in b or ">" in b or "&" in b for b in blocks)


def test_script_json_escapes_what_could_end_the_block() -> None:
    value = {"s": "</script><!--&", "n": [1, 2.5]}
    text = script_json(value)
    assert "</" not in text and "<!--" not in text and "&" not in text
    assert json.loads(text) == value
    with pytest.raises(ValueError):
        script_json({"x": float("nan")})


def test_chart_data_reaches_the_options(full_zh: str) -> None:
    specs = Page(full_zh).chart_specs()
    funnel = specs["chart-funnel"]["series"][0]  # type: ignore[index]
    assert [d["value"] for d in funnel["data"]] == [10000, 6200, 3100, 820]
    assert funnel["sort"] == "none"  # step order, never sorted by size
    forest = specs["chart-experiments-relative"]["series"]  # type: ignore[index]
    assert forest[0]["data"][0]["value"] == [2.0, 2.0, 9.9, 18.0, 18.0]  # CI 2 %..18 % around +9.9 %
    heat = specs["chart-cohort-retention"]["series"][0]["data"]  # type: ignore[index]
    assert heat[1]["value"] == [1, 0, 42.0]
    assert all(spec["animation"] is False for spec in specs.values())  # type: ignore[index]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_empty_report_says_no_data_in_every_section(lang: str) -> None:
    html = render_report(ReportData(generated_at=datetime(2024, 1, 1, tzinfo=UTC)), lang=lang)
    labels = Labels(lang)
    page = Page(html)
    assert html.count('class="no-data"') == len(SECTION_KEYS)
    assert [a["id"] for t, a in page.tags if t == "section"] == [f"sec-{k}" for k in SECTION_KEYS]
    assert labels["no_data"] in "".join(page.text)
    assert page.chart_specs() == {}


def test_empty_alert_list_is_not_missing_data() -> None:
    html = render_report(ReportData(alerts=[]), lang="en")
    assert "No alerts in this period." in html


def test_labels_follow_the_language(full_zh: str) -> None:
    en = render_report(full_report(), lang="en")
    for key in ("kpis", "funnel", "cohorts", "paths", "attribution", "experiments", "heatmap", "key_drop_off"):
        zh_word, en_word = table()[key]
        assert zh_word in full_zh and en_word in en
    assert '<html lang="zh-CN">' in full_zh and '<html lang="en">' in en
    assert "漏斗" in full_zh and "Funnel" in en and "漏斗</h2>" not in en


def test_label_table_is_complete_in_both_languages() -> None:
    for key, pair in table().items():
        assert len(pair) == len(LANGUAGES) and all(word.strip() for word in pair), key


def test_known_terms_are_translated_unknown_pass_through() -> None:
    zh, en = Labels("zh"), Labels("en")
    assert zh.term("model", "markov") == "马尔可夫链归因" and en.term("decision", "Ship") == "Ship"
    assert zh.term("decision", "my_custom_call") == "my_custom_call"
    assert zh.period("week", 2) == "第2周" and en.period("month", 3) == "Month 3"


@pytest.mark.parametrize("lang", ["fr", "ZH", "", "zh-CN"])
def test_unknown_language_is_a_siyu_error(lang: str) -> None:
    with pytest.raises(SiyuError) as err:
        render_report(ReportData(), lang=lang)
    assert err.value.code == "unknown_report_language" and err.value.input_name == "lang"


def test_render_refuses_other_input() -> None:
    with pytest.raises(SiyuError, match="expects ReportData"):
        render_report({"funnel": None}, lang="zh")  # type: ignore[arg-type]


def test_page_is_offline(full_zh: str) -> None:
    page = Page(full_zh)
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value, flags=re.I), (tag, name, value)
    assert not any(tag in ("link", "iframe", "img", "object", "embed") for tag, _ in page.tags)
    # The only URLs allowed anywhere are inside the vendored ECharts text (its license comment and SVG
    # namespace strings; the file is checked by SHA-256) and in its NOTICE, shown as text in the footer.
    lib = asset_text(ECHARTS_FILE)
    assert full_zh.count(lib) == 1
    rest = full_zh.replace(lib, "")
    notice_urls = re.findall(r"https?://[^\s<)]+", asset_text("NOTICE"))
    assert re.findall(r"https?://[^\s<)\"']+", rest) == notice_urls
    assert "url(" not in asset_text("report.css")


def test_header_shows_window_and_generation_time(full_zh: str) -> None:
    assert "2024-11-01 – 2024-11-14" in full_zh
    assert "2024-11-15 09:30 UTC+00:00" in full_zh


def test_write_report_is_atomic_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")
    out = write_report(full_report(), target, lang="en")
    assert out == target
    assert target.read_text(encoding="utf-8") == render_report(full_report(), lang="en")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary file left behind
    assert oct(os.stat(target).st_mode & 0o777) == "0o644"


def test_write_report_failure_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(SiyuError):
        write_report(ReportData(), target, lang="xx")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_write_report_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(SiyuError) as err:
        write_report(ReportData(), tmp_path)
    assert err.value.code == "bad_report_path"
    with pytest.raises(SiyuError, match="does not exist"):
        write_report(ReportData(), tmp_path / "missing" / "r.html")
