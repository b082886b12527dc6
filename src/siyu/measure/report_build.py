"""Assemble the visual report's data from a built lake: each section calls one measure module.

``build_report_data`` picks sensible defaults for a brand's monthly review (the last full month's KPI
cards against the month before, 90-day trends, a purchase funnel, monthly cohorts, paths before an
order, attribution by channel, every imported A/B test, the activity heatmap and alert checks). A
section whose data is missing is left out and the page says so; it never fails the whole report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from siyu.core.errors import SiyuError
from siyu.measure.kpi import Grain, KpiQuery, compute_kpi, load_catalogue, register_kpi_sources
from siyu.measure.kpi.compute import data_range
from siyu.measure.kpi.model import MetricDefinition, Unit
from siyu.measure.report.model import (
    ActivityHeatmap,
    Alert,
    AttributionCredit,
    AttributionSection,
    CohortRow,
    CohortSection,
    DropOff,
    ExperimentResult,
    ExperimentSection,
    FunnelSection,
    FunnelStep,
    KpiCard,
    KpiSection,
    KpiTrend,
    ModelValidation,
    PathLink,
    PathSection,
    ReportData,
    TrendPoint,
    VariantResult,
)
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.lake import Lake

log = logging.getLogger(__name__)

CARD_METRICS = ("gmv", "active_users", "new_users", "aov", "repurchase_rate_30d", "stickiness", "private_gmv_share",
                "nps", "ltv_cac", "push_failure_rate")
TREND_METRICS = ("dau", "new_users", "gmv", "orders")
_UNIT_LABEL = {Unit.CURRENCY: "元", Unit.RATIO: "%", Unit.COUNT: "", Unit.SCORE: ""}


def _shown(metric: MetricDefinition, value: float) -> float:
    return value * 100 if metric.unit is Unit.RATIO else value


def kpi_section(eng: Engine, catalogue: dict[str, MetricDefinition], month: date, end: date) -> KpiSection | None:
    """Cards for ``month`` (its change against the month before) and daily trends over 90 days to ``end``."""
    cards = []
    for name in CARD_METRICS:
        m = catalogue.get(name)
        if m is None:
            continue
        row = compute_kpi(eng, catalogue, KpiQuery(name, month, month, Grain.MONTH, compare=True)).to_pylist()[0]
        if row["value"] is None:
            continue
        cards.append(KpiCard(name_zh=m.name_zh, name_en=m.name_en, value=round(_shown(m, row["value"]), 4),
                             unit=_UNIT_LABEL[m.unit], change=row["change"], higher_is_better=m.higher_is_better))
    trends = []
    for name in TREND_METRICS:
        m = catalogue.get(name)
        if m is None:
            continue
        rows = compute_kpi(eng, catalogue, KpiQuery(name, end - timedelta(days=89), end, Grain.DAY)).to_pylist()
        points = [TrendPoint(day=r["period_start"], value=None if r["value"] is None else _shown(m, r["value"]))
                  for r in rows]
        if any(p.value is not None for p in points):
            trends.append(KpiTrend(name_zh=m.name_zh, name_en=m.name_en, unit=_UNIT_LABEL[m.unit], points=points))
    return KpiSection(cards=cards, trends=trends) if cards or trends else None


def experiment_section(eng: Engine, lake: Lake) -> ExperimentSection | None:
    """Every experiment in the imported assignments: conversion (absolute lift) and revenue per person."""
    from siyu.measure.experiments.readout import list_experiments, read_experiment, register_assignments

    register_assignments(eng, lake)  # the profile views are registered already, with the KPI sources
    ids = sorted({r["experiment_id"] for r in list_experiments(eng).to_pylist()})
    results = []
    for exp in ids:
        try:
            r = read_experiment(eng, exp)
        except SiyuError as exc:
            log.warning("experiment %s not read: %s", exp, exc)
            continue
        c, v = r.conversion, r.revenue
        results.append(ExperimentResult(
            experiment=exp, metric="conversion (14 d)", relative=False, estimate=c.difference, ci_low=c.ci_low,
            ci_high=c.ci_high, p_value=c.p_value, prob_better=r.conversion_bayes.prob_b_beats_a,
            decision=_decision(c.p_value, c.difference, r.srm.mismatch),
            variants=[VariantResult(name=r.control, users=c.n_a, value=c.rate_a),
                      VariantResult(name=r.treatment, users=c.n_b, value=c.rate_b)]))
        results.append(ExperimentResult(
            experiment=exp, metric="revenue per person (14 d)", relative=False, estimate=v.difference,
            ci_low=v.ci_low, ci_high=v.ci_high, p_value=v.p_value,
            decision=_decision(v.p_value, v.difference, r.srm.mismatch),
            variants=[VariantResult(name=r.control, users=c.n_a, value=v.mean_a),
                      VariantResult(name=r.treatment, users=c.n_b, value=v.mean_b)]))
    return ExperimentSection(results=results) if results else None


FUNNEL_STEPS = ("mp_page_viewed", "product_viewed", "cart_added", "order_paid")
#: Identity and consent bookkeeping are not steps a person takes through the product.
PATH_IGNORED = ("identify", "alias", "consent_changed")


def funnel_section(eng: Engine, start: date, end: date) -> FunnelSection | None:
    """The purchase funnel (mini-program visit → product → cart → order) within 7 days, entries in [start, end]."""
    from siyu.measure.funnels import FunnelSpec, funnel

    rows = funnel(eng, FunnelSpec.model_validate({"steps": list(FUNNEL_STEPS), "start": start, "end": end})
                  ).to_pylist()
    if not rows or rows[0]["people"] == 0:
        return None
    return FunnelSection(name="mp_page_viewed → order_paid (7 d)", steps=[
        FunnelStep(name=r["event"], count=r["people"], rate_from_previous=r["conversion_from_previous"],
                   rate_from_first=r["conversion_from_first"]) for r in rows if r["breakdown"] == "all"])


def cohort_section(eng: Engine) -> CohortSection | None:
    """Monthly acquisition cohorts: retention by month and GMV per period (the page shows it per member)."""
    from siyu.measure.cohorts import CohortSpec, retention_matrix

    rows = retention_matrix(eng, CohortSpec(period="month")).to_pylist()
    by_cohort: dict[date, list[dict[str, Any]]] = {}
    for r in rows:
        by_cohort.setdefault(r["cohort"], []).append(r)
    out = []
    for cohort, cells in sorted(by_cohort.items()):
        cells.sort(key=lambda c: c["period"])
        out.append(CohortRow(label=cohort.strftime("%Y-%m"), size=cells[0]["size"],
                             retention=[c["rate"] for c in cells],
                             revenue=[None if c["gmv"] is None else float(c["gmv"]) for c in cells]))
    return CohortSection(period="month", rows=out) if out else None


def path_section(eng: Engine, top_links: int = 60) -> PathSection | None:
    """Sankey of the last five steps before an order, and the key drop-off node (关键流失节点) of the
    paths that start with a mini-program visit."""
    from siyu.measure.event_sql import DEFAULT_IGNORED_EVENTS
    from siyu.measure.paths import ConversionPathSpec, ForwardPathSpec, conversion_paths, key_dropoff_node

    ignored = (*DEFAULT_IGNORED_EVENTS, *PATH_IGNORED)
    report = conversion_paths(eng, ConversionPathSpec(ignore_events=ignored))
    links = sorted(report.links.to_pylist(), key=lambda r: -r["value"])[:top_links]
    if not links:
        return None
    drop = key_dropoff_node(eng, ForwardPathSpec(entry=FUNNEL_STEPS[0], ignore_events=ignored))
    key = None if drop is None else DropOff(step=drop["node"], lost=drop["exits"], rate=drop["exit_rate"],
                                            note=f"{drop['exits']:,} of {drop['reached']:,} people end here")
    return PathSection(links=[PathLink(source=r["source"], target=r["target"], value=r["value"]) for r in links],
                       key_drop_off=key)


def heatmap_section(eng: Engine) -> ActivityHeatmap | None:
    """Active people by weekday × hour, and the best time to send (by click rate where there are enough sends)."""
    from siyu.measure.heatmap import HeatmapSpec, activity_heatmap, best_time_hint

    grid = [[0.0] * 24 for _ in range(7)]
    for r in activity_heatmap(eng, HeatmapSpec()).to_pylist():
        grid[r["weekday"] - 1][r["hour"]] = float(r["people"])  # ISO weekday 1 = Monday → row 0
    if not any(any(row) for row in grid):
        return None
    best = best_time_hint(eng, HeatmapSpec())
    return ActivityHeatmap(metric=best.hint_zh + " / " + best.hint_en if best else "active people",
                           counts=grid, best=(best.weekday - 1, best.hour) if best else None)


DEFAULT_RULES = "default_rules.yaml"


def alert_section(eng: Engine, catalogue: dict[str, MetricDefinition], end: date, days: int = 30) -> list[Alert]:
    """The built-in alert rules checked over the last ``days`` days (a dry run: nothing is stored)."""
    from importlib import resources

    from siyu.measure.alerts import detect_alerts, load_rules

    path = resources.files("siyu.measure.alerts") / DEFAULT_RULES
    rules = load_rules(Path(str(path)), catalogue=catalogue)
    found = detect_alerts(eng, catalogue, rules, end, days=days)
    out = []
    for a in sorted(found, key=lambda a: (a.day, a.rule), reverse=True)[:50]:
        out.append(Alert(severity=str(a.severity), metric=a.metric, message=a.message_zh, day=a.day,  # type: ignore[arg-type]
                         value=a.observed, expected=a.expected))
    return out


def attribution_section(eng: Engine, end: date) -> AttributionSection | None:
    """Every model's conversions and value credited per channel (30-day lookback), and how well each model's
    credit predicts held-out conversions (AUC)."""
    from siyu.measure.attribution import compare_models, holdout_validation
    from siyu.measure.touchpoints import touches_table

    touches = touches_table(eng, {"lookback_days": 30, "grouping": "channel", "as_of": end})
    if touches.num_rows == 0:
        return None
    wide = compare_models(touches).to_pylist()
    labels = sorted({k[: -len("_conversions")] for row in wide for k in row if k.endswith("_conversions")})
    credits = [AttributionCredit(model=m, channel=str(row["channel"]), conversions=max(0.0, row[f"{m}_conversions"]),
                                 value=max(0.0, row[f"{m}_value"]))
               for row in wide for m in labels if row.get(f"{m}_conversions") is not None]
    checks = [ModelValidation(model=r["model"], scores={"AUC": r["auc"]}) for r in
              holdout_validation(touches).to_pylist() if r["auc"] is not None]
    return AttributionSection(credits=credits, validation=checks) if credits else None


def _decision(p: float, effect: float, srm: bool) -> str:
    if srm:
        return "inconclusive"
    if p < 0.05:
        return "ship" if effect > 0 else "rollback"
    return "no_difference"


def build_report_data(lake: Lake, engine: str | Engine = "duckdb", *, title: str | None = None) -> ReportData:
    """Every section the lake has data for (see the module docstring)."""
    eng = open_engine(engine) if isinstance(engine, str) else engine
    catalogue = load_catalogue()
    register_kpi_sources(eng, lake)
    first, last = data_range(eng)
    # The last full month: the data's own month when it ends on a month end, else the month before.
    month = last.replace(day=1) if (last + timedelta(days=1)).day == 1 else \
        (last.replace(day=1) - timedelta(days=1)).replace(day=1)
    sections: dict[str, Any] = {}
    builders: dict[str, Callable[[], Any]] = {
        "kpis": lambda: kpi_section(eng, catalogue, month, last),
        "funnel": lambda: funnel_section(eng, max(first, last - timedelta(days=89)), last - timedelta(days=7)),
        "cohorts": lambda: cohort_section(eng),
        "paths": lambda: path_section(eng),
        "heatmap": lambda: heatmap_section(eng),
        "attribution": lambda: attribution_section(eng, last),
        "experiments": lambda: experiment_section(eng, lake),
        "alerts": lambda: alert_section(eng, catalogue, last),
    }
    for name, build in builders.items():
        try:
            sections[name] = build()
        except SiyuError as exc:  # one section's missing data must not cost the others
            log.warning("report section %s left out: %s", name, exc)
    return ReportData(title=title, window_start=first, window_end=last, generated_at=datetime.now(UTC), **sections)
