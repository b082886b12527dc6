"""Golden outline of the page (everything but scripts and styles): headings, labels, tables, notes, in zh and en.

Regenerate after an intended change with ``SIYU_UPDATE_GOLDEN=1 pytest tests/measure/report/test_golden.py``
and read the diff before committing it.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from siyu import __version__
from siyu.measure.report import (
    Alert,
    ExperimentResult,
    ExperimentSection,
    FunnelSection,
    FunnelStep,
    KpiCard,
    KpiSection,
    ReportData,
    render_report,
)

GOLDEN = Path(__file__).parent / "golden"
#: Elements whose text makes a line of the outline; ``td``/``dd`` cells join their row's line.
LINE_TAGS = {"h1", "h2", "h3", "dt", "dd", "tr", "p", "a", "div"}
SKIP = {"script", "style"}


class Outline(HTMLParser):
    """One line per structural element: its tag (and class), then its visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._stack: list[tuple[str, str, list[str]]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP:
            self._skip += 1
        elif tag in LINE_TAGS:
            a = dict(attrs)
            if a.get("role") == "img":  # a chart container: no text of its own, its id and label say what it is
                self.lines.append(f"chart#{a.get('id')}: {a.get('aria-label')}")
            self._stack.append((tag, a.get("class") or "", []))
        elif tag in ("td", "th") and self._stack:
            self._stack[-1][2].append("|")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP:
            self._skip -= 1
        elif tag in LINE_TAGS and self._stack and self._stack[-1][0] == tag:
            name, cls, parts = self._stack.pop()
            text = " ".join("".join(parts).split())
            if text:
                self.lines.append(f"{name}{'.' + cls.replace(' ', '.') if cls else ''}: {text}")

    def handle_data(self, data: str) -> None:
        if not self._skip and self._stack:
            self._stack[-1][2].append(data)


def small_report() -> ReportData:
    return ReportData(
        title=None,
        window_start=date(2024, 6, 1),
        window_end=date(2024, 6, 30),
        generated_at=datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
        kpis=KpiSection(cards=[KpiCard(name_zh="成交额", name_en="GMV", value=98765.4, unit="元", change=0.05)]),
        funnel=FunnelSection(steps=[FunnelStep(name="扫码", count=1000), FunnelStep(name="下单", count=90)]),
        experiments=ExperimentSection(results=[
            ExperimentResult(experiment="欢迎语", metric="转化率", estimate=0.04, ci_low=-0.01, ci_high=0.09,
                             p_value=0.12, prob_better=0.94, decision="keep_running")]),
        alerts=[Alert(severity="warning", metric="GMV", message="低于预期 <b>", value=80, expected=100)],
    )


def outline(lang: str) -> str:
    reader = Outline()
    reader.feed(render_report(small_report(), lang=lang))
    reader.close()
    return "\n".join(reader.lines).replace(f"siyu {__version__}", "siyu <version>") + "\n"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_page_outline_matches_golden(lang: str) -> None:
    golden = GOLDEN / f"outline_{lang}.txt"
    got = outline(lang)
    if os.environ.get("SIYU_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(got, encoding="utf-8")
    assert got == golden.read_text(encoding="utf-8")
