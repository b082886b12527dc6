"""The HTML of each report section: headings, KPI cards, tables, notes and the charts' containers.

Every string that can come from a user passes through :func:`html.escape`; chart data goes into
``<script type="application/json">`` blocks through :func:`script_json`, which leaves no ``<``, ``>``
or ``&`` in the JSON (they become ``\\u003c`` …), so no value can close the block or open a tag.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape
from typing import Any

from siyu.measure.report import charts
from siyu.measure.report import numbers as num
from siyu.measure.report.charts import ChartSpec
from siyu.measure.report.labels import Labels
from siyu.measure.report.model import ExperimentResult, KpiTrend, ReportData


@dataclass
class Section:
    """One rendered section: its anchor key, its heading, its body HTML and the charts in it."""

    key: str
    title: str
    body: str
    charts: list[ChartSpec] = field(default_factory=list)

    def html(self) -> str:
        return (f'<section class="report-section" id="sec-{self.key}">\n<h2>{escape(self.title)}</h2>\n'
                f"{self.body}\n</section>")


def script_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``</script>``, no ``<!--``, no NaN."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def chart_block(spec: ChartSpec) -> str:
    """The chart's container and its option, side by side; the page's script draws one into the other."""
    cid = escape(spec.chart_id)
    return (f'<div class="chart" id="{cid}" style="height:{int(spec.height)}px" role="img" '
            f'aria-label="{escape(spec.title)}"></div>\n'
            f'<script type="application/json" class="chart-spec" data-chart="{cid}">{script_json(spec.option)}'
            "</script>")


def _no_data(labels: Labels) -> str:
    return f'<p class="no-data">{escape(labels["no_data"])} — {escape(labels["no_data_note"])}</p>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """A table from already-escaped cells (headers are escaped here)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>'


def _h3(text: str) -> str:
    return f"<h3>{escape(text)}</h3>"


def alerts_section(data: ReportData, labels: Labels) -> Section:
    if data.alerts is None:
        return Section("alerts", labels["alerts"], _no_data(labels))
    if not data.alerts:
        return Section("alerts", labels["alerts"], f'<p class="no-alerts">{escape(labels["no_alerts"])}</p>')
    rows = [[f'<span class="badge {a.severity}">{escape(labels.term("severity", a.severity))}</span>',
             escape(a.metric), escape(a.message), escape(a.day.isoformat() if a.day else "–"),
             escape(num.number(a.value)), escape(num.number(a.expected))] for a in data.alerts]
    headers = [labels[k] for k in ("severity", "metric", "message", "day", "value", "expected")]
    return Section("alerts", labels["alerts"], _table(headers, rows, "alerts"))


def kpi_section(data: ReportData, labels: Labels) -> Section:
    kpis = data.kpis
    if kpis is None or not (kpis.cards or kpis.trends):
        return Section("kpis", labels["kpis"], _no_data(labels))
    parts = []
    if kpis.cards:
        cards = []
        for card in kpis.cards:
            change = ""
            if card.change is not None:
                good = (card.change >= 0) == card.higher_is_better
                arrow = "▲" if card.change > 0 else "▼" if card.change < 0 else "■"
                tone = "flat" if card.change == 0 else "good" if good else "bad"
                change = (f'<div class="kpi-change {tone}">{arrow} {escape(num.signed_percent(card.change))} '
                          f'<span class="muted">{escape(labels["vs_previous"])}</span></div>')
            cards.append(f'<div class="kpi-card"><div class="kpi-name">{escape(card.name(labels.lang))}</div>'
                         f'<div class="kpi-value">{escape(num.number(card.value))}'
                         f'<span class="kpi-unit">{escape(card.unit)}</span></div>{change}</div>')
        parts.append('<div class="kpi-cards">' + "\n".join(cards) + "</div>")
    specs = [charts.kpi_trend(f"chart-kpi-trend-{i + 1}", group, labels)
             for i, group in enumerate(_by_unit(kpis.trends))]
    if specs:
        parts.append(_h3(labels["kpi_trend"]))
        parts.extend(chart_block(s) for s in specs)
    return Section("kpis", labels["kpis"], "\n".join(parts), specs)


def _by_unit(trends: list[KpiTrend]) -> list[list[KpiTrend]]:
    groups: dict[str, list[KpiTrend]] = {}
    for trend in trends:
        groups.setdefault(trend.unit, []).append(trend)
    return list(groups.values())


def funnel_section(data: ReportData, labels: Labels) -> Section:
    f = data.funnel
    if f is None:
        return Section("funnel", labels["funnel"], _no_data(labels))
    specs = [charts.funnel("chart-funnel", f, labels)]
    parts = [_h3(f.name)] if f.name else []
    parts.append(chart_block(specs[0]))
    rows = [[escape(s.name), escape(num.number(s.count)), escape(num.percent(prev)), escape(num.percent(first))]
            for s, (prev, first) in zip(f.steps, f.rates(), strict=True)]
    headers = [labels[k] for k in ("step", "count", "rate_from_previous", "rate_from_first")]
    parts.append(_table(headers, rows, "numbers"))
    if f.breakdown:
        specs.append(charts.funnel_breakdown("chart-funnel-breakdown", f, labels))
        title = labels["funnel_breakdown"] + (f" · {f.breakdown_by}" if f.breakdown_by else "")
        parts += [_h3(title), chart_block(specs[-1])]
    return Section("funnel", labels["funnel"], "\n".join(parts), specs)


def cohort_section(data: ReportData, labels: Labels) -> Section:
    c = data.cohorts
    if c is None:
        return Section("cohorts", labels["cohorts"], _no_data(labels))
    specs = [charts.cohort_heatmap("chart-cohort-retention", c, labels)]
    parts = [chart_block(specs[0])]
    if c.has_revenue:
        specs.append(charts.cohort_revenue("chart-cohort-revenue", c, labels))
        parts += [_h3(labels["cohort_revenue"]), chart_block(specs[-1])]
    return Section("cohorts", labels["cohorts"], "\n".join(parts), specs)


def path_section(data: ReportData, labels: Labels) -> Section:
    p = data.paths
    if p is None:
        return Section("paths", labels["paths"], _no_data(labels))
    parts = []
    drop = p.key_drop_off
    if drop is not None:
        rate = labels["lost_rate"].format(rate=num.percent(drop.rate)) if drop.rate is not None else ""
        note = f' <span class="muted">{escape(drop.note)}</span>' if drop.note else ""
        parts.append(f'<p class="callout"><strong>{escape(labels["key_drop_off"])}:</strong> '
                     f'<span class="drop-step">{escape(drop.step)}</span> — {escape(labels["lost"])} '
                     f"{escape(num.number(drop.lost))}{escape(rate)}{note}</p>")
    specs = [charts.path_sankey("chart-paths", p, labels)]
    parts.append(chart_block(specs[0]))
    return Section("paths", labels["paths"], "\n".join(parts), specs)


def attribution_section(data: ReportData, labels: Labels) -> Section:
    a = data.attribution
    if a is None:
        return Section("attribution", labels["attribution"], _no_data(labels))
    specs = [charts.attribution_bars("chart-attribution-conversions", a, labels, "conversions")]
    parts = [_h3(labels["conversions_credited"]), chart_block(specs[0])]
    if a.has_value:
        specs.append(charts.attribution_bars("chart-attribution-value", a, labels, "value"))
        parts += [_h3(labels["value_credited"]), chart_block(specs[-1])]
    if a.validation:
        score_names = list(dict.fromkeys(k for v in a.validation for k in v.scores))
        rows = [[escape(labels.term("model", v.model)), *(escape(num.number(v.scores.get(k))) for k in score_names),
                 escape(v.note)] for v in a.validation]
        parts += [_h3(labels["validation_scores"]),
                  _table([labels["model"], *score_names, labels["note"]], rows, "numbers")]
    return Section("attribution", labels["attribution"], "\n".join(parts), specs)


def experiment_section(data: ReportData, labels: Labels) -> Section:
    e = data.experiments
    if e is None:
        return Section("experiments", labels["experiments"], _no_data(labels))
    specs = []
    for kind, relative in (("relative", True), ("absolute", False)):
        rows = [r for r in e.results if r.relative is relative]
        if rows:
            specs.append(charts.experiment_forest(f"chart-experiments-{kind}", rows, labels))
    parts = [chart_block(s) for s in specs]
    headers = [labels[k] for k in ("experiment", "metric", "variants", "estimate", "ci", "p_value",
                                   "prob_better", "decision")]
    parts.append(_table(headers, [_experiment_row(r, labels) for r in e.results], "numbers experiments"))
    return Section("experiments", labels["experiments"], "\n".join(parts), specs)


def _experiment_row(r: ExperimentResult, labels: Labels) -> list[str]:
    def effect(v: float) -> str:
        return num.signed_percent(v) if r.relative else num.signed_number(v)

    variants = "<br>".join(
        escape(f"{v.name}: {num.number(v.value)}" + (f" (n={num.number(v.users)})" if v.users is not None else ""))
        for v in r.variants) or "–"
    ci = f"{round(r.confidence * 100):d}% [{effect(r.ci_low)}, {effect(r.ci_high)}]"
    decision = labels.term("decision", r.decision) if r.decision else "–"
    return [escape(r.experiment), escape(r.metric), variants, escape(effect(r.estimate)), escape(ci),
            escape(_p(r.p_value)), escape(num.percent(r.prob_better)), f"<strong>{escape(decision)}</strong>"]


def _p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def heatmap_section(data: ReportData, labels: Labels) -> Section:
    h = data.heatmap
    if h is None:
        return Section("heatmap", labels["heatmap"], _no_data(labels))
    parts = []
    best = h.best_time()
    if best is not None:
        day, hour = best
        when = f"{labels.weekday(day)} {hour:02d}:00–{(hour + 1) % 24:02d}:00"
        parts.append(f'<p class="callout"><strong>{escape(labels["best_time"])}:</strong> '
                     f'<span class="best-time">{escape(when)}</span></p>')
    specs = [charts.activity_heatmap("chart-activity", h, labels)]
    parts.append(chart_block(specs[0]))
    return Section("heatmap", labels["heatmap"], "\n".join(parts), specs)


#: The sections in page order: alerts first, since they are what to act on.
SECTIONS: tuple[Callable[[ReportData, Labels], Section], ...] = (
    alerts_section, kpi_section, funnel_section, cohort_section, path_section,
    attribution_section, experiment_section, heatmap_section,
)
