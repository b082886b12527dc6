"""ECharts options for each chart of the report, built as plain JSON-able dicts.

No option holds a JavaScript function: labels and tooltips are precomputed strings or ECharts
templates (``{b}``), and ECharts escapes template values in HTML tooltips, so a user's campaign name
is drawn as text on the canvas, never parsed as HTML. Rates are passed as percentages (45.2 for
0.452) and axes are labelled with ``%``. Every chart is drawn with ``animation: false``: a report is a
document (printing mid-animation draws half a chart), and ECharts' ``finished`` event then fires
right after the first paint, which is what the page's self-check waits for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from siyu.measure.report import numbers as num
from siyu.measure.report.labels import Labels
from siyu.measure.report.model import (
    HOURS,
    WEEKDAYS,
    ActivityHeatmap,
    AttributionSection,
    CohortSection,
    ExperimentResult,
    FunnelSection,
    KpiTrend,
    PathSection,
)

Option = dict[str, Any]

GOOD, BAD, NEUTRAL, ALERT = "#2f9e44", "#e03131", "#868e96", "#d9480f"
HEAT = ["#f1f8ff", "#a5d8ff", "#4dabf7", "#1971c2", "#0b3d7a"]


@dataclass(frozen=True)
class ChartSpec:
    """One chart: the id of its container, its ECharts option and its height in CSS pixels."""

    chart_id: str
    title: str
    option: Option
    height: int = 360


def _base(**parts: Any) -> Option:
    option: Option = {"animation": False, "tooltip": {"confine": True}}
    option.update(parts)
    return option


def _grid(top: int = 40, bottom: int = 16, left: int = 16, right: int = 24) -> Option:
    return {"top": top, "bottom": bottom, "left": left, "right": right, "containLabel": True}


def kpi_trend(chart_id: str, trends: list[KpiTrend], labels: Labels) -> ChartSpec:
    """Daily lines of KPIs that share a unit, on one day axis (missing days are gaps)."""
    days = sorted({p.day for t in trends for p in t.points})
    series = []
    for trend in trends:
        by_day = {p.day: p.value for p in trend.points}
        series.append({"type": "line", "name": trend.name(labels.lang), "data": [_round(by_day.get(d)) for d in days],
                       "showSymbol": len(days) <= 31, "connectNulls": False})
    unit = trends[0].unit
    return ChartSpec(chart_id, labels["kpi_trend"] + (f" ({unit})" if unit else ""), _base(
        tooltip={"trigger": "axis", "confine": True},
        legend={"top": 0, "type": "scroll"},
        grid=_grid(),
        xAxis={"type": "category", "data": [d.isoformat() for d in days], "boundaryGap": False},
        yAxis={"type": "value", "name": unit, "scale": True},
        series=series,
    ), height=320)


def funnel(chart_id: str, section: FunnelSection, labels: Labels) -> ChartSpec:
    """The funnel in step order (not sorted by size), each step labelled with its count and step conversion."""
    data: list[Option] = []
    for step, (from_prev, _) in zip(section.steps, section.rates(), strict=True):
        text = num.number(step.count) + (f" · {num.percent(from_prev)}" if data else "")
        data.append({"name": step.name, "value": step.count, "label": {"formatter": "{b}\n" + text}})
    return ChartSpec(chart_id, section.name or labels["funnel"], _base(
        tooltip={"trigger": "item", "confine": True},
        series=[{
            "type": "funnel", "name": section.name or labels["funnel"], "sort": "none", "gap": 2,
            "left": "5%", "width": "60%", "top": 16, "bottom": 16, "minSize": "4%",
            "label": {"show": True, "position": "right", "color": "#343a40"}, "labelLine": {"show": True},
            "data": data,
        }],
    ), height=max(280, 56 * len(section.steps)))


def funnel_breakdown(chart_id: str, section: FunnelSection, labels: Labels) -> ChartSpec:
    """Overall conversion (from the first step) per step, one bar group per step, one bar per segment."""
    series = []
    for row in section.breakdown:
        first = row.counts[0]
        series.append({"type": "bar", "name": row.segment,
                       "data": [num.pct_value(c / first) if first else None for c in row.counts]})
    return ChartSpec(chart_id, labels["funnel_breakdown"], _base(
        tooltip={"trigger": "axis", "confine": True},
        legend={"top": 0, "type": "scroll"},
        grid=_grid(),
        xAxis={"type": "category", "data": [s.name for s in section.steps]},
        yAxis={"type": "value", "name": labels["rate_from_first"], "max": 100, "axisLabel": {"formatter": "{value}%"}},
        series=series,
    ), height=320)


def cohort_heatmap(chart_id: str, section: CohortSection, labels: Labels) -> ChartSpec:
    """Retention (%) by cohort (rows, oldest on top) and period index (columns)."""
    periods = [labels.period(section.period, i) for i in range(section.periods)]
    rows = [f"{r.label} ({num.number(r.size)})" for r in section.rows]
    cells = [(i, j, round(rate * 100, 1)) for j, r in enumerate(section.rows)
             for i, rate in enumerate(r.retention) if rate is not None]
    data = [{"value": [i, j, v], "label": {"formatter": f"{v:g}%"}} for i, j, v in cells]
    top = max((v for _, _, v in cells), default=100.0) or 100.0
    return ChartSpec(chart_id, labels["cohorts"], _base(
        tooltip={"trigger": "item", "confine": True},
        grid=_grid(top=16, bottom=64),
        xAxis={"type": "category", "data": periods, "splitArea": {"show": True}},
        yAxis={"type": "category", "data": rows, "inverse": True, "splitArea": {"show": True}},
        visualMap={"min": 0, "max": top, "calculable": True, "orient": "horizontal", "left": "center",
                   "bottom": 0, "inRange": {"color": HEAT}},
        series=[{"type": "heatmap", "name": labels["retention"], "data": data, "label": {"show": True}}],
    ), height=max(260, 40 * len(rows) + 100))


def cohort_revenue(chart_id: str, section: CohortSection, labels: Labels) -> ChartSpec:
    """Cumulative revenue per cohort member by period; a period not reached yet ends the line."""
    series = []
    for row in section.rows:
        if not row.revenue or not row.size:
            continue
        total, points = 0.0, []
        for value in row.revenue:
            if value is None:
                break
            total += value
            points.append(round(total / row.size, 2))
        series.append({"type": "line", "name": row.label, "data": points})
    return ChartSpec(chart_id, labels["cohort_revenue"], _base(
        tooltip={"trigger": "axis", "confine": True},
        legend={"top": 0, "type": "scroll"},
        grid=_grid(),
        xAxis={"type": "category", "data": [labels.period(section.period, i) for i in range(section.periods)]},
        yAxis={"type": "value"},
        series=series,
    ), height=320)


def path_sankey(chart_id: str, section: PathSection, labels: Labels) -> ChartSpec:
    """The path Sankey; the key drop-off node (关键流失节点) is drawn in the alert colour."""
    drop = section.key_drop_off.step if section.key_drop_off else None
    nodes: list[Option] = []
    for name in section.node_names():
        node: Option = {"name": name}
        if name == drop:
            node["itemStyle"] = {"color": ALERT, "borderColor": "#000", "borderWidth": 1}
            node["label"] = {"fontWeight": "bold", "color": ALERT}
        nodes.append(node)
    links = [{"source": link.source, "target": link.target, "value": link.value} for link in section.links]
    return ChartSpec(chart_id, labels["paths"], _base(
        tooltip={"trigger": "item", "confine": True},
        series=[{"type": "sankey", "name": labels["paths"], "data": nodes, "links": links,
                 "left": 16, "right": 180, "top": 16, "bottom": 16, "nodeGap": 12, "draggable": False,
                 "emphasis": {"focus": "adjacency"}, "lineStyle": {"color": "gradient", "curveness": 0.5}}],
    ), height=max(360, 28 * len(nodes)))


def attribution_bars(chart_id: str, section: AttributionSection, labels: Labels, field: str) -> ChartSpec:
    """Grouped bars: channels on the axis, one bar per attribution model (``field``: conversions or value)."""
    channels = section.channels()
    cells = {(c.model, c.channel): getattr(c, field) for c in section.credits}
    series = [{"type": "bar", "name": labels.term("model", model),
               "data": [_round(cells.get((model, ch))) for ch in channels]} for model in section.models()]
    return ChartSpec(chart_id, labels[f"{field}_credited"], _base(
        tooltip={"trigger": "axis", "confine": True, "axisPointer": {"type": "shadow"}},
        legend={"top": 0, "type": "scroll"},
        grid=_grid(),
        xAxis={"type": "category", "data": channels, "axisLabel": {"interval": 0, "hideOverlap": True}},
        yAxis={"type": "value", "name": labels[f"{field}_credited"]},
        series=series,
    ), height=340)


def experiment_forest(chart_id: str, results: list[ExperimentResult], labels: Labels) -> ChartSpec:
    """Forest plot: each experiment × metric a row, its CI a bar, its estimate a dot, 0 the no-effect line.

    The CI bar is a boxplot item ``[low, low, estimate, high, high]`` (a box from low to high with a
    mark at the estimate), so the axis extent covers every interval without a JavaScript renderer.
    ``results`` share one scale (all relative lifts, or all absolute differences).
    """
    relative = results[0].relative
    scale = 100.0 if relative else 1.0
    rows = [f"{r.experiment} · {r.metric}" for r in results]
    points, bars = [], []
    for i, r in enumerate(results):
        est, low, high = (round(v * scale, 4) for v in (r.estimate, r.ci_low, r.ci_high))
        colour = GOOD if low > 0 else BAD if high < 0 else NEUTRAL
        text = _effect(r.estimate, relative)
        interval = f"{round(r.confidence * 100):d}% [{_effect(r.ci_low, relative)}, {_effect(r.ci_high, relative)}]"
        tip = {"formatter": f"{{b}}<br/>{labels['estimate']} {text}<br/>{labels['ci']} {interval}"}
        points.append({"name": rows[i], "value": [est, i], "itemStyle": {"color": colour},
                       "label": {"formatter": text}, "tooltip": tip})
        bars.append({"name": rows[i], "value": [low, low, est, high, high], "tooltip": tip,
                     "itemStyle": {"color": colour, "borderColor": colour, "opacity": 0.45}})
    axis_name = labels["forest_axis_relative"] if relative else labels["forest_axis_absolute"]
    return ChartSpec(chart_id, labels["experiments"], _base(
        tooltip={"trigger": "item", "confine": True},
        grid=_grid(top=24, bottom=40, right=40),
        xAxis={"type": "value", "name": axis_name, "nameLocation": "middle", "nameGap": 28,
               "axisLabel": {"formatter": "{value}%" if relative else "{value}"}},
        yAxis={"type": "category", "data": rows, "inverse": True, "axisLine": {"onZero": False}},
        series=[
            {"type": "boxplot", "name": labels["ci"], "data": bars, "boxWidth": [8, 8]},
            {"type": "scatter", "name": labels["estimate"], "symbolSize": 12, "data": points, "z": 3,
             "label": {"show": True, "position": "top"},
             "markLine": {"silent": True, "symbol": ["none", "none"], "label": {"show": False},
                          "lineStyle": {"color": "#495057", "type": "dashed", "width": 1},
                          "data": [{"xAxis": 0}]}},
        ],
    ), height=max(200, 56 * len(rows) + 80))


def activity_heatmap(chart_id: str, heatmap: ActivityHeatmap, labels: Labels) -> ChartSpec:
    """Weekday (rows, Monday on top) × hour (columns) activity."""
    data = [[h, d, _round(heatmap.counts[d][h])] for d in range(WEEKDAYS) for h in range(HOURS)]
    top = max(max(row) for row in heatmap.counts) or 1.0
    return ChartSpec(chart_id, heatmap.metric or labels["heatmap"], _base(
        tooltip={"trigger": "item", "confine": True},
        grid=_grid(top=16, bottom=72),
        xAxis={"type": "category", "name": labels["hour"], "nameLocation": "middle", "nameGap": 24,
               "data": [str(h) for h in range(HOURS)], "splitArea": {"show": True}},
        yAxis={"type": "category", "data": [labels.weekday(d) for d in range(WEEKDAYS)], "inverse": True,
               "splitArea": {"show": True}},
        visualMap={"min": 0, "max": _round(top), "calculable": True, "orient": "horizontal", "left": "center",
                   "bottom": 0, "inRange": {"color": HEAT}},
        series=[{"type": "heatmap", "name": heatmap.metric or labels["heatmap"], "data": data}],
    ), height=340)


def _effect(value: float, relative: bool) -> str:
    return num.signed_percent(value) if relative else num.signed_number(value)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
