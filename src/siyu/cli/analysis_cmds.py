"""``siyu measure funnel | cohorts | paths | heatmap``: thin commands over the event analyses of ``siyu.measure``.

Each command parses its options into the analysis' spec (values are bound by the domain SQL, never pasted),
makes one call into the room and prints a table, or JSON with ``--json``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pyarrow as pa
import typer
from rich.markup import escape
from rich.table import Table

from siyu.cli.common import EngineOpt, JsonOpt, LakeOpt, day_option, fail
from siyu.cli.measure_common import (
    SegmentOpt,
    SegmentsOpt,
    checked,
    duration,
    lake_engine,
    pct,
    plain,
    rows,
    segment_members,
    write_table,
)
from siyu.cli.output import console, out, print_json
from siyu.core.errors import SiyuError

if TYPE_CHECKING:
    from siyu.warehouse.engine import Engine

FromOpt = Annotated[str | None, typer.Option("--from", help="First day YYYY-MM-DD.")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day YYYY-MM-DD.")]

#: Event names in --steps/--exclude: anything but spaces and the syntax characters, then optional [col=value,…].
_STEP = re.compile(r"^(?P<event>[^\s\[\],=@]{1,100})(?:\[(?P<filters>[^\[\]]*)\])?(?:@(?P<after>\d{1,2}))?$")
_FILTER = re.compile(r"^(?P<column>[A-Za-z_][A-Za-z0-9_.]*)=(?P<value>.*)$")


def _last_event_day(eng: Engine) -> date:
    from siyu.measure.event_sql import last_day

    got = last_day(eng, "events")
    if got is None:
        raise SiyuError("the lake has no events", code="no_data", input_name="--lake")
    return got


def event_name(text: str, option: str) -> str:
    """A single event name (no filters)."""
    step = parse_step(text, option)
    if step["filters"]:
        raise SiyuError(f"{option} takes an event name without [filters]", code="bad_event_name", input_name=option)
    return str(step["event"])


# --- funnel -----------------------------------------------------------------------------------------------------


def _split_top(text: str) -> list[str]:
    """Split on commas outside ``[...]``."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def parse_step(text: str, option: str, *, allow_after: bool = False) -> dict[str, Any]:
    """``event``, ``event[column=value,…]`` (and, for exclusions, ``…@K``) → a step/exclusion mapping."""
    m = _STEP.match(text.strip())
    if not m or (m["after"] and not allow_after):
        raise SiyuError(f"bad event {text!r}: write NAME or NAME[column=value,…]"
                        + (" with an optional @K (only between step K and K+1)" if allow_after else ""),
                        code="bad_event_name", input_name=option)
    filters: dict[str, str] = {}
    for part in _split_top(m["filters"]) if m["filters"] else []:
        f = _FILTER.match(part)
        if not f:
            raise SiyuError(f"bad filter {part!r} in {text!r}: write column=value", code="bad_event_name",
                            input_name=option)
        filters[f["column"]] = f["value"]
    step: dict[str, Any] = {"event": m["event"], "filters": filters}
    if m["after"]:
        step["after_step"] = int(m["after"])
    return step


def funnel(
    lake: LakeOpt,
    steps: Annotated[str, typer.Option("--steps", help="Ordered steps, comma-separated: EVENT or "
                                                       "EVENT\\[column=value,…] (漏斗步骤).")],
    window: Annotated[float, typer.Option("--window", help="Conversion window in days (转化窗口).")] = 7,
    order: Annotated[str, typer.Option("--order", help="loose (宽松) or strict (严格: no other event between).")]
    = "loose",
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="An event that must not happen between "
                                                      "steps (排除事件): EVENT or EVENT@K; repeat.")] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    by: Annotated[str | None, typer.Option("--by", help="Break down by a column of the entry event: channel, "
                                           "campaign_id, properties.<key> …")] = None,
    histogram: Annotated[bool, typer.Option("--histogram", help="Also count people per time-to-convert bin.")]
    = False,
    dropouts_at: Annotated[int | None, typer.Option("--dropouts-at", help="Write the people who reached step K "
                                                    "but not K+1 (流失人群) to --out.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="File for --dropouts-at: .csv or .parquet.")] = None,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Funnel (漏斗): people per step, conversion, and time to convert, within a window from the entry."""
    from siyu.measure.funnels import FunnelSpec, funnel_dropouts, funnel_time_histogram
    from siyu.measure.funnels import funnel as run_funnel

    try:
        if (dropouts_at is None) != (out_file is None):
            raise SiyuError("--dropouts-at K and --out FILE go together", code="bad_option", input_name="--out")
        step_list = [parse_step(s, "--steps") for s in _split_top(steps)]
        exclusions = [parse_step(x, "--exclude", allow_after=True) for x in exclude or []]
        eng = lake_engine(engine, lake)
        first, last = day_option(start, "--from"), day_option(end, "--to")
        if last is None:  # every entry gets its whole window before the data end
            last = _last_event_day(eng) - timedelta(days=math.ceil(window))
        first = first or last - timedelta(days=29)
        if not 0 < window <= 366:
            raise SiyuError("--window must be more than 0 and at most 366 days", code="bad_funnel_spec",
                            input_name="--window")
        spec = checked(FunnelSpec, "bad_funnel_spec", steps=step_list, start=first, end=last,
                       window=timedelta(days=window), order=order, exclusions=exclusions, breakdown=by)
        table = run_funnel(eng, spec)
        hist = funnel_time_histogram(eng, spec) if histogram else None
        dropped = None
        if dropouts_at is not None and out_file is not None:
            people = funnel_dropouts(eng, spec, dropouts_at)
            write_table(people, out_file)
            dropped = {"step": dropouts_at, "people": people.num_rows, "file": str(out_file)}
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json({"spec": spec.model_dump(mode="json"), "steps": rows(table),
                    "histogram": rows(hist) if hist is not None else None, "dropouts": dropped})
        return
    grid = Table(title=f"funnel 漏斗 · entries {first} … {last} · window {window:g} d · {order}",
                 title_justify="left")
    cols = (["group"] if by else []) + ["step", "event", "people", "from previous", "from first",
                                        "median time", "p90 time"]
    for col in cols:
        grid.add_column(col, justify="left" if col in ("group", "event") else "right")
    for r in table.to_pylist():
        grid.add_row(*([escape(r["breakdown"])] if by else []), str(r["step"]), escape(r["event"]),
                     f"{r['people']:,}", pct(r["conversion_from_previous"]), pct(r["conversion_from_first"]),
                     duration(r["median_seconds_from_previous"]), duration(r["p90_seconds_from_previous"]))
    out.print(grid)
    if hist is not None:
        _print_histogram(hist, by is not None)
    if dropped:
        console.print(f"wrote {dropped['people']:,} people who reached step {dropouts_at} but not the next "
                      f"to {escape(str(out_file))}", soft_wrap=True)


def _print_histogram(hist: pa.Table, grouped: bool) -> None:
    data = hist.to_pylist()
    bins = sorted({(r["bin"], r["lower_seconds"], r["upper_seconds"]) for r in data})
    grid = Table(title="time to convert from the previous step (people per bin)", title_justify="left")
    for col in (["group"] if grouped else []) + ["step"]:
        grid.add_column(col)
    for _, lo, hi in bins:
        grid.add_column(f"≥{_short(lo)}" if hi is None else f"{_short(lo)}–{_short(hi)}", justify="right")
    keys = sorted({(r["breakdown"], r["step"]) for r in data})
    count = {(r["breakdown"], r["step"], r["bin"]): r["people"] for r in data}
    for bd, step in keys:
        grid.add_row(*([escape(bd)] if grouped else []), str(step), *(f"{count[(bd, step, b)]:,}" for b, _, _ in bins))
    out.print(grid)


def _short(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- cohorts ----------------------------------------------------------------------------------------------------


def _int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise SiyuError(f"{option} takes whole numbers separated by commas, not {text!r}", code="bad_option",
                        input_name=option) from None


def cohorts(
    lake: LakeOpt,
    period: Annotated[str, typer.Option("--period", help="week (Monday start) or month.")] = "week",
    acquisition: Annotated[str, typer.Option("--acquisition", help="first_active or first_order (获客日).")]
    = "first_active",
    activity: Annotated[str, typer.Option("--activity", help="What counts as retained: active or order.")]
    = "active",
    by_channel: Annotated[bool, typer.Option("--by-channel", help="Split cohorts by first-touch channel.")] = False,
    days: Annotated[str, typer.Option("--days", help="N-day retention days, comma-separated (第N日留存).")]
    = "1,7,14,30",
    start: Annotated[str | None, typer.Option("--from", help="First acquisition day.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last acquisition day.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Data end (default: the lake's last day).")] = None,
    max_periods: Annotated[int, typer.Option("--max-periods", help="Periods after the cohort's own.")] = 12,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Cohort retention (同期群留存): the cohort × period matrix and N-day retention."""
    from siyu.measure.cohorts import CohortSpec, retention_days, retention_matrix

    try:
        spec = checked(CohortSpec, "bad_cohort_spec", period=period, acquisition=acquisition, activity=activity,
                       by_channel=by_channel, days=_int_list(days, "--days"), start=day_option(start, "--from"),
                       end=day_option(end, "--to"), as_of=day_option(as_of, "--as-of"), max_periods=max_periods)
        eng = lake_engine(engine, lake)
        matrix, n_day = retention_matrix(eng, spec), retention_days(eng, spec)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json({"spec": spec.model_dump(mode="json"), "matrix": rows(matrix), "days": rows(n_day)})
        return
    cells = matrix.to_pylist()
    periods = sorted({r["period"] for r in cells})
    grid = Table(title=f"retention by {period} 按{'周' if period == 'week' else '月'}留存 ({acquisition} → {activity})",
                 title_justify="left", caption="* the period has not ended yet")
    for col in ["cohort", *(["channel"] if by_channel else []), "size", *(f"{period[0]}{p}" for p in periods)]:
        grid.add_column(col, justify="left" if col in ("cohort", "channel") else "right")
    for (cohort, seg), group in _groups(cells).items():
        grid.add_row(str(cohort), *([escape(seg)] if by_channel else []), f"{group[0]['size']:,}",
                     *(pct(c["rate"]) + ("*" if c["rate"] is not None and not c["complete"] else "") for c in group))
    out.print(grid)
    day_rows = n_day.to_pylist()
    nd = Table(title="N-day retention 第N日留存 (exact day; observed members)", title_justify="left")
    for col in ["cohort", *(["channel"] if by_channel else []), "size", *(f"day {d}" for d in spec.days)]:
        nd.add_column(col, justify="left" if col in ("cohort", "channel") else "right")
    for (cohort, seg), group in _groups(day_rows).items():
        nd.add_row(str(cohort), *([escape(seg)] if by_channel else []), f"{group[0]['size']:,}",
                   *(pct(r["rate"]) for r in group))
    out.print(nd)


def _groups(data: list[dict[str, Any]]) -> dict[tuple[Any, str], list[dict[str, Any]]]:
    groups: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for r in data:
        groups.setdefault((r["cohort"], r["segment"]), []).append(r)
    return groups


# --- paths ------------------------------------------------------------------------------------------------------


def paths(
    lake: LakeOpt,
    before: Annotated[str | None, typer.Option("--before", help="Conversion paths (转化路径): the steps before "
                                               "each person's first EVENT, e.g. order_paid.")] = None,
    churn: Annotated[bool, typer.Option("--churn", help="Churn paths (流失前路径): the last steps of people who "
                                        "went silent.")] = False,
    from_event: Annotated[str | None, typer.Option("--from-event", help="Forward paths (后续路径) from each "
                                                   "person's first EVENT, with the key drop-off node.")] = None,
    steps: Annotated[int, typer.Option("--steps", help="Steps per path (1–20).")] = 5,
    top: Annotated[int, typer.Option("--top", min=1, max=10_000, help="How many paths to show.")] = 20,
    silent_days: Annotated[int, typer.Option("--silent-days", help="--churn: days without activity.")] = 30,
    lookback: Annotated[int | None, typer.Option("--lookback", help="--before: only steps this many days "
                                                 "before the conversion.")] = None,
    max_gap: Annotated[int, typer.Option("--max-gap", help="--from-event: minutes of silence that end a "
                                         "session.")] = 30,
    start: FromOpt = None,
    end: ToOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Data end (default: the last day of events).")]
    = None,
    sankey: Annotated[Path | None, typer.Option("--sankey", help="Write the Sankey nodes and links (ECharts) "
                                                "to this JSON file.")] = None,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Paths (路径): the most common step sequences, and where forward paths drop off (关键流失节点)."""
    from siyu.measure.paths import (
        ChurnPathSpec,
        ConversionPathSpec,
        ForwardPathSpec,
        churn_paths,
        conversion_paths,
        forward_paths,
    )

    try:
        if sum((before is not None, churn, from_event is not None)) != 1:
            raise SiyuError("choose one of --before EVENT, --churn or --from-event EVENT", code="bad_option",
                            input_name="--before")
        first, last, day = day_option(start, "--from"), day_option(end, "--to"), day_option(as_of, "--as-of")
        common = {"steps": steps, "start": first, "end": last}
        if before is not None:
            mode = "conversion"
            spec: Any = checked(ConversionPathSpec, "bad_path_spec", target=event_name(before, "--before"),
                                lookback=timedelta(days=lookback) if lookback is not None else None, **common)
        elif churn:
            mode = "churn"
            spec = checked(ChurnPathSpec, "bad_path_spec", silent_days=silent_days, as_of=day, **common)
        else:
            mode = "forward"
            spec = checked(ForwardPathSpec, "bad_path_spec", entry=event_name(str(from_event), "--from-event"),
                           max_gap=timedelta(minutes=max_gap), as_of=day, **common)
        eng = lake_engine(engine, lake)
        report = (conversion_paths(eng, spec) if mode == "conversion" else churn_paths(eng, spec) if mode == "churn"
                  else forward_paths(eng, spec))
        key = None
        if report.dropoffs is not None:  # the same rule as measure.paths.key_dropoff_node, without a second query
            best = report.dropoffs.slice(0, 1).to_pylist()
            key = best[0] if best and best[0]["exits"] > 0 else None
        if sankey is not None:
            _write_json(sankey, {"nodes": rows(report.nodes), "links": rows(report.links)}, "--sankey")
    except SiyuError as exc:
        fail(exc)
    shown = report.paths.slice(0, top)
    if as_json:
        print_json({"mode": mode, "spec": spec.model_dump(mode="json"), "people": report.people,
                    "distinct_paths": report.paths.num_rows, "paths": rows(shown),
                    "dropoffs": rows(report.dropoffs) if report.dropoffs is not None else None,
                    "key_dropoff_node": plain(key)})
        return
    grid = Table(title=f"{mode} paths · {report.people:,} people · {report.paths.num_rows:,} distinct",
                 title_justify="left")
    extra = ["exits", "continued", "open"] if mode == "forward" else []
    for col in ["#", "path", "people", "share", *extra]:
        grid.add_column(col, justify="left" if col == "path" else "right")
    for i, r in enumerate(shown.to_pylist(), start=1):
        grid.add_row(str(i), escape(r["path"] or "(no earlier step)"), f"{r['people']:,}", pct(r["share"]),
                     *(f"{r[c]:,}" for c in extra))
    out.print(grid)
    if mode == "forward":
        if key is None:
            out.print("key drop-off node 关键流失节点: none (no path has exited yet)")
        else:
            out.print(f"key drop-off node 关键流失节点: [bold]{escape(key['node'])}[/bold] — {key['exits']:,} of "
                      f"{key['reached']:,} people who reached it exit there ({pct(key['exit_rate'])})")
    if sankey is not None:
        console.print(f"wrote Sankey nodes and links to {escape(str(sankey))}", soft_wrap=True)


def _write_json(path: Path, data: Any, option: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
    except OSError as exc:
        raise SiyuError(f"cannot write {path}: {exc.strerror or exc}", code="bad_output", input_name=option) from None


# --- heatmap ----------------------------------------------------------------------------------------------------

_SEGMENT_VIEW = "cli_heatmap_segment"
_SHADES = " ░▒▓█"


def heatmap(
    lake: LakeOpt,
    segment: SegmentOpt = None,
    segments: SegmentsOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    min_deliveries: Annotated[int, typer.Option("--min-deliveries", help="Deliveries a cell needs before its "
                                                "click rate counts for the best time.")] = 30,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Activity heatmap (活跃热力图): weekday × hour, and the best time to push (最佳推送时间)."""
    from siyu.measure.heatmap import WEEKDAYS_EN, HeatmapSpec, activity_heatmap, best_time_hint

    try:
        if segments is not None and segment is None:
            raise SiyuError("--segments needs --segment NAME", code="bad_option", input_name="--segments")
        eng = lake_engine(engine, lake)
        if segment is not None:
            members = segment_members(eng, lake, [segment], segments)
            eng.register_arrow(_SEGMENT_VIEW, members.select(["one_id"]))
        spec = checked(HeatmapSpec, "bad_heatmap_spec", start=day_option(start, "--from"),
                       end=day_option(end, "--to"), segment=_SEGMENT_VIEW if segment is not None else None)
        cells = activity_heatmap(eng, spec)
        best = best_time_hint(eng, spec, min_deliveries=min_deliveries)
    except SiyuError as exc:
        fail(exc)
    best_dict = plain(vars(best)) if best is not None else None
    if as_json:
        print_json({"segment": segment, "start": spec.start, "end": spec.end, "cells": rows(cells),
                    "best_time": best_dict})
        return
    data = cells.to_pylist()
    top = max((r["people"] for r in data), default=0)
    grid = Table(title="active people by weekday × hour 活跃热力图" + (f" · {escape(segment)}" if segment else ""),
                 title_justify="left", caption=f"darkest = {top:,} people", box=None, padding=(0, 1, 0, 0))
    grid.add_column("")
    for h in range(24):
        grid.add_column(f"{h:02d}", justify="center", min_width=2)
    for d in range(1, 8):
        shade = [_SHADES[min(4, math.ceil(4 * r["people"] / top))] * 2 if top else "  "
                 for r in data if r["weekday"] == d]
        grid.add_row(WEEKDAYS_EN[d - 1][:3], *shade)
    out.print(grid)
    if best is None:
        out.print("best time: none (no activity in the range)")
    else:
        basis = "click rate" if best.basis == "click_rate" else "share of active people"
        out.print(f"{best.hint_zh}\n{best.hint_en} ({basis} {best.rate:.1%}, support {best.support:,})")
