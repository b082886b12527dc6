"""Render :class:`ReportData` to one self-contained HTML page (ECharts inlined, opens offline).

The page is ``assets/page.html`` (a :class:`string.Template`) filled with escaped text, the sections'
HTML, the vendored ``echarts.min.js`` and a small driver script that draws each chart and records
in ``#report-status`` how many charts ECharts drew and which errors occurred.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from string import Template

from siyu import __version__
from siyu.core.errors import SiyuError
from siyu.measure.report.labels import HTML_LANG, Labels
from siyu.measure.report.model import ReportData
from siyu.measure.report.sections import SECTIONS

#: The vendored ECharts release (see ``assets/VENDORED.md``).
ECHARTS_VERSION = "5.6.0"
ECHARTS_FILE = "echarts.min.js"
_ECHARTS_LOCALE = {"zh": "ZH", "en": "EN"}


def asset_text(name: str) -> str:
    """The text of one shipped asset (``echarts.min.js``, ``report.css`` …) read from the installed package."""
    return _asset(name)


@cache
def _asset(name: str) -> str:
    try:
        return (resources.files("siyu.measure.report") / "assets" / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SiyuError(f"report asset {name!r} is missing from the installed package",
                        code="report_asset_missing", input_name=name) from None


def _inline_script(name: str) -> str:
    """An asset's text, checked to be safe inside ``<script>`` (nothing may end the element early)."""
    text = asset_text(name)
    lowered = text.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise SiyuError(f"asset {name!r} cannot be inlined: it contains '</script' or '<!--'",
                        code="report_asset_unsafe", input_name=name)
    return text


def render_report(data: ReportData, lang: str = "zh") -> str:
    """The whole report as one HTML document; ``lang`` is ``"zh"`` (default) or ``"en"``.

    >>> html = render_report(ReportData(title="双十一复盘"))  # every section says "暂无数据"
    """
    labels = Labels(lang)
    if not isinstance(data, ReportData):
        raise SiyuError(f"render_report expects ReportData, got {type(data).__name__}",
                        code="bad_report_data", input_name="data")
    sections = [build(data, labels) for build in SECTIONS]
    title = data.title or labels["title"]
    generated = data.generated_at or datetime.now(UTC)
    toc = "\n".join(f'<a href="#sec-{s.key}">{escape(s.title)}</a>' for s in sections)
    page = Template(asset_text("page.html"))
    return page.substitute(
        html_lang=HTML_LANG[lang],
        version=escape(__version__),
        title=escape(title),
        css=asset_text("report.css"),
        echarts_locale=_ECHARTS_LOCALE[lang],
        failed_label=escape(labels["charts_failed"]),
        window_label=escape(labels["window"]),
        window=escape(_window(data, labels)),
        generated_label=escape(labels["generated_at"]),
        generated_iso=escape(generated.isoformat()),
        generated=escape(_when(generated)),
        contents_label=escape(labels["contents"]),
        toc=toc,
        sections="\n".join(s.html() for s in sections),
        footer=escape(f"{labels['footer']} siyu {__version__} · Apache ECharts {ECHARTS_VERSION}"),
        notice=escape(asset_text("NOTICE").strip()),
        echarts=_inline_script(ECHARTS_FILE),
        driver=_inline_script("report.js"),
    )


def write_report(data: ReportData, path: str | os.PathLike[str], lang: str = "zh") -> Path:
    """Render and write the report to ``path`` atomically (a temporary file beside it, then rename)."""
    html = render_report(data, lang)
    target = Path(path)
    if target.is_dir():
        raise SiyuError(f"report path {target} is a directory; give a file name such as report.html",
                        code="bad_report_path", input_name="path")
    if not target.parent.is_dir():
        raise SiyuError(f"folder {target.parent} does not exist", code="bad_report_path", input_name="path")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(html)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _window(data: ReportData, labels: Labels) -> str:
    start, end = data.window_start, data.window_end
    if start is None and end is None:
        return labels["unknown"]
    return f"{start.isoformat() if start else '…'} – {end.isoformat() if end else '…'}"


def _when(moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M")
    offset = moment.strftime("%z")
    return f"{text} UTC{offset[:3]}:{offset[3:]}" if offset else text
