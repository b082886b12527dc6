"""``siyu measure``: thin commands over ``siyu.measure`` (KPIs first; analyses join as they land)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from siyu.cli.common import EngineOpt, JsonOpt, LakeOpt, fail, parse_day
from siyu.cli.output import console, out, print_json
from siyu.core.errors import SiyuError
from siyu.warehouse.lake import Lake

measure_app = typer.Typer(help="Measurement (效果追踪): KPIs, funnels, cohorts, attribution, experiments.",
                          no_args_is_help=True)
kpi_app = typer.Typer(help="The KPI catalogue (指标目录): list, schema, compute, drill down.", no_args_is_help=True)
measure_app.add_typer(kpi_app, name="kpi")

KpiDefsOpt = Annotated[list[Path] | None, typer.Option(
    "--definitions", help="Extra KPI YAML files or folders (add or override built-in metrics).")]
GrainOpt = Annotated[str, typer.Option("--grain", help="day, week or month.")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Breakdown: channel, region, owner_staff, product_line, "
                                                        "acquisition_channel, cohort, campaign, segment, tag …")]


def _catalogue(defs: list[Path] | None) -> dict[str, Any]:
    from siyu.measure.kpi import load_catalogue

    return load_catalogue(*(defs or []))


@kpi_app.command("list")
def kpi_list(definitions: KpiDefsOpt = None, as_json: JsonOpt = False) -> None:
    """Every metric: name, 中文名, kind, unit, grain and allowed breakdowns."""
    try:
        cat = _catalogue(definitions)
    except SiyuError as exc:
        fail(exc)
    rows = [{"name": m.name, "name_zh": m.name_zh, "name_en": m.name_en, "kind": m.kind, "unit": m.unit.value,
             "dimensions": list(m.dimensions), "description": m.description} for m in cat.values()]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} metrics", title_justify="left")
    for col in ("name", "name_zh", "kind", "unit", "dimensions"):
        table.add_column(col)
    for r in rows:
        table.add_row(escape(r["name"]), escape(r["name_zh"]), r["kind"], r["unit"], escape(", ".join(r["dimensions"])))
    out.print(table)


@kpi_app.command("schema")
def kpi_schema() -> None:
    """Print the JSON Schema of a KPI definition file."""
    from siyu.measure.kpi import metric_json_schema

    out.print_json(json.dumps(metric_json_schema(), ensure_ascii=False))


def _window(eng: Any, start: str | None, end: str | None, default_days: int) -> tuple[date, date]:
    from siyu.measure.kpi.compute import data_end

    last = parse_day(end, "--to") or data_end(eng)
    first = parse_day(start, "--from") or last - timedelta(days=default_days - 1)
    return first, last


@kpi_app.command("compute")
def kpi_compute(
    metric: Annotated[str, typer.Argument(help="Metric name (see `siyu measure kpi list`).")],
    lake: LakeOpt,
    start: Annotated[str | None, typer.Option("--from", help="First day YYYY-MM-DD (default: the metric's window).")]
    = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (default: the lake's last day).")] = None,
    grain: GrainOpt = "day",
    by: ByOpt = None,
    segment: Annotated[list[str] | None, typer.Option("--segment", help="Segments for --by segment (repeat).")]
    = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Tag for --by tag.")] = None,
    segments: Annotated[Path | None, typer.Option("--segments", help="Segment definitions (YAML).")] = None,
    compare: Annotated[bool, typer.Option("--compare", help="Add 环比 (previous period) and 同比 (a year ago).")]
    = False,
    definitions: KpiDefsOpt = None,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """A metric per period (and breakdown group), optionally with period-over-period comparison."""
    from siyu.measure.kpi import Grain, KpiQuery, compute_kpi, register_kpi_sources
    from siyu.warehouse.engine import open_engine

    try:
        cat = _catalogue(definitions)
        if metric not in cat:
            raise SiyuError(f"unknown metric {metric!r}; see `siyu measure kpi list`", code="unknown_metric")
        eng = open_engine(engine)
        labels = _labels(eng, Lake(lake), by, segment, tag, segments)
        register_kpi_sources(eng, Lake(lake))
        first, last = _window(eng, start, end, cat[metric].default_window_days)
        table = compute_kpi(eng, cat, KpiQuery(metric, first, last, Grain(grain), by=by, compare=compare),
                            labels=labels)
    except ValueError:
        fail(SiyuError(f"grain must be day, week or month, not {grain!r}", code="bad_grain", input_name="--grain"))
    except SiyuError as exc:
        fail(exc)
    rows = table.to_pylist()
    if as_json:
        print_json({"metric": metric, "grain": grain, "by": by, "rows": rows})
        return
    m = cat[metric]
    result = Table(title=f"{m.name_zh} · {m.name_en}", title_justify="left", caption=escape(m.description))
    for col in table.column_names:
        result.add_column(col, justify="left" if col in ("period_start", "grp") else "right")
    for r in rows:
        result.add_row(*(_fmt(k, v) for k, v in r.items()))
    out.print(result)


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key in ("change", "yoy_change"):
        return f"{value:+.1%}"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.2f}"
    return escape(str(value))


def _labels(eng: Any, lake: Lake, by: str | None, segment: list[str] | None, tag: str | None,
            segments: Path | None) -> Any:
    if by not in ("segment", "tag"):
        return None
    from siyu.measure.kpi.labels import segment_labels, tag_labels
    from siyu.profile.segments import load_segments, open_profile

    ctx = open_profile(lake, eng, segments=load_segments(segments) if segments else None)
    if by == "segment":
        if not segment:
            raise SiyuError("--by segment needs at least one --segment NAME_OR_RULE", code="bad_breakdown",
                            input_name="--segment")
        return segment_labels(ctx, segment)
    if not tag:
        raise SiyuError("--by tag needs --tag NAME", code="bad_breakdown", input_name="--tag")
    return tag_labels(ctx, tag)


@kpi_app.command("drill")
def kpi_drill(
    metric: Annotated[str, typer.Argument(help="An aggregate metric, or a ratio (drills into its numerator).")],
    period: Annotated[str, typer.Option("--period", help="A day inside the period, YYYY-MM-DD.")],
    lake: LakeOpt,
    grain: GrainOpt = "day",
    by: ByOpt = None,
    group: Annotated[str | None, typer.Option("--group", help="The breakdown group to drill into.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 50,
    definitions: KpiDefsOpt = None,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Drill down from a number to the rows behind it (orders, events, active days …)."""
    from siyu.measure.kpi import Grain, drill_kpi, register_kpi_sources
    from siyu.warehouse.engine import open_engine

    day = parse_day(period, "--period")
    assert day is not None
    try:
        cat = _catalogue(definitions)
        eng = open_engine(engine)
        register_kpi_sources(eng, Lake(lake))
        table = drill_kpi(eng, cat, metric, day, Grain(grain), group=group, by=by, limit=limit)
    except ValueError:
        fail(SiyuError(f"grain must be day, week or month, not {grain!r}", code="bad_grain", input_name="--grain"))
    except SiyuError as exc:
        fail(exc)
    rows = [{k: v for k, v in r.items() if k not in ("properties",)} for r in table.to_pylist()]
    if as_json:
        print_json(rows)
        return
    result = Table(title=f"{len(rows)} rows behind {metric}", title_justify="left")
    for col in rows[0] if rows else []:
        result.add_column(col)
    for r in rows:
        result.add_row(*(_fmt(k, v) for k, v in r.items()))
    console.print(result)


# The analyses' commands live in their own modules; registered here so `siyu measure --help` lists them all.
from siyu.cli.alert_cmds import alerts_app, effects_app  # noqa: E402
from siyu.cli.analysis_cmds import cohorts, funnel, heatmap, paths  # noqa: E402
from siyu.cli.attribution_cmds import attribution  # noqa: E402
from siyu.cli.experiment_cmds import experiment_app  # noqa: E402

measure_app.command("funnel")(funnel)
measure_app.command("cohorts")(cohorts)
measure_app.command("paths")(paths)
measure_app.command("heatmap")(heatmap)
measure_app.command("attribution")(attribution)
measure_app.add_typer(experiment_app, name="experiment")
measure_app.add_typer(alerts_app, name="alerts")
measure_app.add_typer(effects_app, name="effects")
