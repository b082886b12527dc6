"""The acceptance bar: in headless Chromium, ECharts draws every chart of a full report, with no JS error.

The page records its own outcome: each chart container gets ``data-drawn="1"`` once ECharts fired
``finished`` and its canvas holds non-background pixels, and ``#report-status`` sums it up
(``data-charts``, ``data-drawn``, ``data-errors``, which ``window.onerror`` also feeds). The test
reads those from Chromium's ``--dump-dom``. The failure tests break the page on purpose and check the
status says so, so the acceptance test can fail.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from siyu.measure.report import render_report, write_report
from tests.measure.report.sample import EVIL, FULL_CHARTS, full_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: Root in a container needs --no-sandbox; the background/network flags keep Chromium off the network.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--allow-file-access-from-files", "--no-first-run", "--no-default-browser-check",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
         "--virtual-time-budget=15000")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true")


@pytest.fixture(scope="module")
def browser() -> str:
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is None:
        message = f"no headless browser found (looked for {', '.join(BROWSERS)}); install Debian's chromium"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class Outcome:
    status: dict[str, str]
    charts: dict[str, dict[str, str]]
    tags: Counter[str]
    dom: str

    @property
    def errors(self) -> str:
        return self.status.get("data-errors", "")


class _DomReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, str] = {}
        self.charts: dict[str, dict[str, str]] = {}
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        a = {k: v or "" for k, v in attrs}
        if a.get("id") == "report-status":
            self.status = a
        elif "chart" in a.get("class", "").split():
            self.charts[a["id"]] = a


def open_in_browser(browser: str, page: Path, tmp_path: Path) -> Outcome:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = [browser, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()]
    # Its own process group, so a page that hangs takes Chromium's helper processes down with it.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish {page.name} within 60 s (a hung page script?)")
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {stderr[-2000:]}"
    reader = _DomReader()
    reader.feed(stdout)
    assert reader.status, f"no #report-status in the dumped DOM; stderr: {stderr[-2000:]}"
    return Outcome(reader.status, reader.charts, reader.tags, stdout)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_chart_is_drawn_without_errors(browser: str, tmp_path: Path, lang: str) -> None:
    page = write_report(full_report(), tmp_path / f"report-{lang}.html", lang=lang)
    out = open_in_browser(browser, page, tmp_path)
    assert out.errors == ""
    assert out.status["data-charts"] == str(len(FULL_CHARTS))
    assert out.status["data-drawn"] == str(len(FULL_CHARTS))
    assert list(out.charts) == list(FULL_CHARTS)
    for chart_id, attrs in out.charts.items():
        assert attrs.get("data-drawn") == "1", (chart_id, attrs.get("data-error"))
        assert int(attrs["data-painted"]) >= 200, chart_id
    assert "hidden" in out.status  # nothing to tell the reader
    # Escaping survived the browser: the hostile names are text, no element was injected.
    assert out.tags["img"] == 0 and out.tags["script"] == len(FULL_CHARTS) + 3
    assert EVIL.replace("<", "&lt;").replace(">", "&gt;") in out.dom


def _broken(tmp_path: Path, name: str, change: tuple[str, str]) -> Path:
    html = render_report(full_report(), lang="en")
    old, new = change
    assert html.count(old) == 1, f"the fixture text to break is not unique: {old[:60]!r}"
    path = tmp_path / name
    path.write_text(html.replace(old, new), encoding="utf-8")
    return path


def test_echarts_not_loaded_is_reported(browser: str, tmp_path: Path) -> None:
    lib = re.search(r'<script id="echarts-lib">\n(.*?)\n</script>', render_report(full_report(), lang="en"), re.S)
    assert lib is not None
    page = _broken(tmp_path, "no-echarts.html", (lib.group(1), "/* ECharts removed on purpose */"))
    out = open_in_browser(browser, page, tmp_path)
    assert out.status["data-charts"] == str(len(FULL_CHARTS))
    assert out.status["data-drawn"] == "0"
    assert "ECharts is not loaded" in out.errors
    assert all(a.get("data-drawn") == "0" for a in out.charts.values())
    assert "hidden" not in out.status  # the reader is told


def _spec(html: str, chart_id: str) -> str:
    found = re.search(rf'<script type="application/json" class="chart-spec" data-chart="{chart_id}">.*?</script>',
                      html, re.S)
    assert found is not None, chart_id
    return found.group(0)


def test_broken_charts_are_reported_and_the_others_draw(browser: str, tmp_path: Path) -> None:
    html = render_report(full_report(), lang="en")
    paths, funnel = _spec(html, "chart-paths"), _spec(html, "chart-funnel")
    html = html.replace(paths, paths.replace("{", "{{", 1))  # not JSON any more: ECharts never sees it
    html = html.replace(funnel, re.sub(r">.*</script>$", ">{}</script>", funnel, flags=re.S))  # draws nothing
    page = tmp_path / "broken-charts.html"
    page.write_text(html, encoding="utf-8")
    out = open_in_browser(browser, page, tmp_path)
    assert out.status["data-drawn"] == str(len(FULL_CHARTS) - 2)
    assert out.charts["chart-paths"].get("data-drawn") == "0"
    assert out.charts["chart-funnel"].get("data-drawn") == "0"
    assert out.charts["chart-funnel"].get("data-error") == "canvas is blank"
    assert "chart-paths:" in out.errors and "chart-funnel: canvas is blank" in out.errors
    broken = ("chart-paths", "chart-funnel")
    assert all(a.get("data-drawn") == "1" for cid, a in out.charts.items() if cid not in broken)


def test_a_script_error_is_caught_by_onerror(browser: str, tmp_path: Path) -> None:
    page = _broken(tmp_path, "throws.html", ("<main>", "<script>throw new Error('planted failure');</script><main>"))
    out = open_in_browser(browser, page, tmp_path)
    assert "planted failure" in out.errors
    assert out.status["data-drawn"] == str(len(FULL_CHARTS))  # the charts still drew; the error is still told
    assert "hidden" not in out.status
