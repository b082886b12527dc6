"""Evaluation charts for the models as one self-contained HTML page (ECharts shipped in the package, no CDN).

``evaluation_page`` draws, for a CLV model, predicted against actual holdout purchases by calibration
frequency group (the figure Fader, Hardie & Lee use), and for a classifier its reliability curve.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from siyu.core.errors import SiyuError
from siyu.measure.report.page import ECHARTS_FILE, asset_text

_TEXT = {
    "zh": {"holdout": "验证期购买次数：预测 vs 实际（按校准期复购次数分组）", "predicted": "预测", "actual": "实际",
           "group": "校准期复购次数", "mean": "验证期人均购买天数", "reliability": "概率校准曲线",
           "observed": "实际发生率", "score": "预测概率", "ideal": "完美校准"},
    "en": {"holdout": "Holdout purchases: predicted vs actual (by calibration repeat purchases)",
           "predicted": "Predicted", "actual": "Actual", "group": "Calibration repeat purchases",
           "mean": "Mean holdout purchase days", "reliability": "Reliability curve", "observed": "Observed rate",
           "score": "Predicted probability", "ideal": "Perfect calibration"},
}


def holdout_option(rows: Sequence[Mapping[str, Any]], lang: str = "zh") -> dict[str, Any]:
    t = _TEXT[lang]
    return {
        "animation": False, "title": {"text": t["holdout"], "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "axis"}, "legend": {"top": 28, "data": [t["actual"], t["predicted"]]},
        "grid": {"top": 70, "left": 60, "right": 20, "bottom": 50},
        "xAxis": {"type": "category", "name": t["group"], "nameLocation": "middle", "nameGap": 30,
                  "data": [r["frequency"] for r in rows]},
        "yAxis": {"type": "value", "name": t["mean"]},
        "series": [
            {"name": t["actual"], "type": "bar", "data": [round(r["actual_mean"], 4) for r in rows]},
            {"name": t["predicted"], "type": "line", "data": [round(r["predicted_mean"], 4) for r in rows]},
        ],
    }


def reliability_option(rows: Sequence[Mapping[str, Any]], lang: str = "zh") -> dict[str, Any]:
    """``rows``: mean_predicted and observed_rate per bin (a reliability-curve table)."""
    t = _TEXT[lang]
    points = [[round(r["mean_predicted"], 4), round(r["observed_rate"], 4)] for r in rows]
    return {
        "animation": False, "title": {"text": t["reliability"], "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "item"}, "legend": {"top": 28},
        "grid": {"top": 70, "left": 60, "right": 20, "bottom": 50},
        "xAxis": {"type": "value", "min": 0, "max": 1, "name": t["score"], "nameLocation": "middle", "nameGap": 30},
        "yAxis": {"type": "value", "min": 0, "max": 1, "name": t["observed"]},
        "series": [{"name": t["observed"], "type": "line", "data": points},
                   {"name": t["ideal"], "type": "line", "data": [[0, 0], [1, 1]], "lineStyle": {"type": "dashed"},
                    "symbol": "none"}],
    }


def evaluation_page(title: str, options: Sequence[dict[str, Any]], lang: str = "zh") -> str:
    """One HTML page, ECharts inlined, one chart per option; opens offline."""
    if lang not in _TEXT:
        raise SiyuError(f"language must be zh or en, got {lang!r}", code="bad_language", input_name="--lang")
    script = asset_text(ECHARTS_FILE)
    if "</script" in script.lower():
        raise SiyuError("the shipped ECharts cannot be inlined", code="report_asset_unsafe")
    charts = "\n".join(f'<div class="chart" id="chart-{i}"></div>' for i in range(len(options)))
    data = json.dumps(list(options), ensure_ascii=False).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:24px}}
.chart{{width:100%;max-width:900px;height:420px;margin-bottom:24px}}</style>
<script>{script}</script></head>
<body><h1>{html.escape(title)}</h1>
<div id="report-status" hidden></div>
{charts}
<script>
const options = {data};
const status = document.getElementById("report-status");
const errors = [];
let drawn = 0;
options.forEach((option, i) => {{
  const el = document.getElementById("chart-" + i);
  try {{
    const chart = echarts.init(el);
    chart.setOption(option);
    chart.getZr().refreshImmediately();
    const canvas = el.querySelector("canvas");
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let k = 3; k < pixels.length; k += 4) if (pixels[k] > 0) painted++;
    el.dataset.painted = String(painted);
    el.dataset.drawn = "1";
    drawn++;
  }} catch (e) {{
    el.dataset.error = String(e);
    errors.push(String(e));
  }}
}});
status.dataset.charts = String(options.length);
status.dataset.drawn = String(drawn);
status.dataset.errors = errors.join("; ");
</script></body></html>
"""
