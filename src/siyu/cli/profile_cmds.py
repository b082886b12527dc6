"""``siyu profile | tags | segment``: thin commands over ``siyu.profile``."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.markup import escape
from rich.table import Table

from siyu.cli.common import AsOfOpt, EngineOpt, JsonOpt, LakeOpt, fail, parse_day
from siyu.cli.output import console, kv_table, out, print_json
from siyu.cli.store_cmds import StoreOpt
from siyu.core.errors import SiyuError
from siyu.warehouse.lake import Lake

profile_app = typer.Typer(help="Profile facts: RFM, lifecycle stages, member tiers.", no_args_is_help=True)
tags_app = typer.Typer(help="Tags (标签): build, list, show, history.", no_args_is_help=True)
segment_app = typer.Typer(help="Segments (人群圈选): validate, size, preview, export, diff.", no_args_is_help=True)

DefsOpt = Annotated[Path | None, typer.Option("--defs", help="Tag definitions: a YAML file or folder "
                                              "(default: the built-in example tags).")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="profile.yaml (RFM, lifecycle, tiers).")]
SegmentsOpt = Annotated[Path | None, typer.Option("--segments", help="Segment definitions (YAML file or folder).")]
RuleArg = Annotated[str, typer.Argument(help="A rule (text or JSON) or the name of a defined segment.")]


def default_tag_defs() -> Path:
    return Path(str(resources.files("siyu.profile.tags") / "defaults"))


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in rows[0] if rows else []:
        table.add_column(str(col))
    for row in rows:
        table.add_row(*(escape("" if v is None else f"{v:,}" if isinstance(v, int) else str(v))
                        for v in row.values()))
    return table


@profile_app.command("build")
def profile_build(lake: LakeOpt, engine: EngineOpt = "duckdb", as_of: AsOfOpt = None, config: ConfigOpt = None,
                  since: Annotated[str | None, typer.Option(
                      help="Backfill: build every day from this one to --as-of, so transitions get their own day."
                  )] = None, as_json: JsonOpt = False) -> None:
    """Compute RFM classes, lifecycle stages and member tiers (with their change history)."""
    from siyu.profile.build import backfill_profile, build_profile
    from siyu.profile.config import load_profile_config

    try:
        cfg = load_profile_config(config)
        with console.status("profile facts"):
            start = parse_day(since)
            if start is not None:
                report = backfill_profile(Lake(lake), engine, start=start, end=parse_day(as_of), config=cfg)[-1]
            else:
                report = build_profile(Lake(lake), engine, as_of=parse_day(as_of), config=cfg)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json(report.as_dict())
        return
    out.print(kv_table(f"profile facts as of {report.as_of}", {"people": report.people, **report.lifecycle}))
    out.print(kv_table("RFM classes", report.rfm_classes))
    out.print(kv_table("member tiers", report.tiers))


@tags_app.command("build")
def tags_build(lake: LakeOpt, defs: DefsOpt = None, engine: EngineOpt = "duckdb", as_of: AsOfOpt = None,
               goal: Annotated[str, typer.Option(help="Business goal for composite weights.")] = "default",
               full: Annotated[bool, typer.Option(help="Rebuild every tag, due or not.")] = False,
               config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Build profile facts and every due tag into ads/tag_values, with history and catalogue."""
    from siyu.profile.config import load_profile_config
    from siyu.profile.tags.build import build_tags

    try:
        with console.status("tags"):
            report = build_tags(Lake(lake), defs or default_tag_defs(), engine, as_of=parse_day(as_of), goal=goal,
                                full=full, config=load_profile_config(config))
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json(report.as_dict())
        return
    out.print(kv_table(f"tags as of {report.as_of} (goal: {report.goal})", {
        "built": len(report.built), "kept (not due)": len(report.carried), "pending": len(report.pending),
        "rows": report.rows, "changes recorded": report.changes}))
    for name, why in report.pending.items():
        out.print(f"[yellow]pending[/yellow] {escape(name)}: {escape(why)}", soft_wrap=True)
    for warning in report.warnings:
        out.print(f"[yellow]warning[/yellow] {escape(warning)}", soft_wrap=True)


@tags_app.command("validate")
def tags_validate(defs: DefsOpt = None) -> None:
    """Check tag definitions (schema, rules, statistics, dependencies) without touching a lake."""
    from siyu.profile.rules.schema import DEFAULT_SCHEMA
    from siyu.profile.tags.model import load_tag_definitions
    from siyu.profile.tags.plan import check_definitions

    try:
        tags = load_tag_definitions(defs or default_tag_defs())
        check_definitions(tags, DEFAULT_SCHEMA)
    except SiyuError as exc:
        fail(exc)
    out.print(f"{len(tags)} tag(s) OK")


@tags_app.command("schema")
def tags_schema() -> None:
    """Print the JSON Schema of tag definition files (for editors and CI)."""
    from siyu.profile.tags.model import tag_json_schema

    print_json(tag_json_schema())


def _catalogue(lake: Path) -> pa.Table:
    lk = Lake(lake)
    if not lk.exists("ads", "tag_catalogue"):
        fail(SiyuError("no tag catalogue in this lake: run `siyu tags build` first", code="tags_not_built"))
    return pq.read_table(lk.files("ads", "tag_catalogue"))


@tags_app.command("list")
def tags_list(lake: LakeOpt, as_json: JsonOpt = False) -> None:
    """Every tag with kind, owner, refresh, version, status, coverage and freshness."""
    rows = _catalogue(lake).to_pylist()
    if as_json:
        print_json(rows)
        return
    out.print(_table("tag catalogue (标签目录)", [
        {"tag": r["tag"], "名称": r["name_zh"], "kind": r["kind"], "status": r["status"], "holders": r["holders"],
         "coverage": f"{r['coverage']:.1%}", "as_of": r["as_of"]} for r in rows]))


@tags_app.command("show")
def tags_show(tag: Annotated[str, typer.Argument(help="Tag name.")], lake: LakeOpt, as_json: JsonOpt = False) -> None:
    """One tag: its catalogue entry and how its values are distributed."""
    from siyu.profile.tags.query import tag_value_counts

    cat = [r for r in _catalogue(lake).to_pylist() if r["tag"] == tag]
    if not cat:
        fail(SiyuError(f"no tag named {tag!r} in the catalogue", code="unknown_tag", input_name=tag))
    values = tag_value_counts(Lake(lake), tag)
    if as_json:
        print_json({**cat[0], "values": values})
        return
    out.print(kv_table(f"{tag} ({cat[0]['name_zh']})", {k: v for k, v in cat[0].items() if k != "tag"}))
    out.print(_table("values", values))


@tags_app.command("history")
def tags_history(tag: Annotated[str, typer.Argument(help="Tag name.")], lake: LakeOpt,
                 on: Annotated[str | None, typer.Option(help="Who had the tag on this day (YYYY-MM-DD).")] = None,
                 week: Annotated[str | None, typer.Option(help="Who entered/left during this day's week.")] = None,
                 limit: Annotated[int, typer.Option(help="People listed (counts are always complete).")] = 20,
                 as_json: JsonOpt = False) -> None:
    """Who had TAG on a day, or who entered / left it in a week — answered from stored history."""
    from siyu.profile.tags.query import tag_changes_in_week, tag_holders_on

    try:
        if week is not None:
            result = tag_changes_in_week(Lake(lake), tag, parse_day(week) or parse_day(on), limit=limit)
        else:
            result = tag_holders_on(Lake(lake), tag, parse_day(on), limit=limit)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json(result)
        return
    out.print(kv_table(f"{tag}: {result['question']}", result["counts"]))
    if result["people"]:
        out.print(_table(f"first {len(result['people'])}", result["people"]))


def _context(lake: Path, engine: str, as_of: str | None, segments: Path | None) -> Any:
    from siyu.profile.segments import load_segments, open_profile

    return open_profile(Lake(lake), engine, as_of=parse_day(as_of),
                        segments=load_segments(segments) if segments else None)


@segment_app.command("validate")
def segment_validate(rule: RuleArg, segments: SegmentsOpt = None, as_json: JsonOpt = False) -> None:
    """Parse and check a rule; print its canonical text and JSON forms, or the error with its position."""
    from siyu.profile.rules import check_rule, incremental_support, parse_rule, to_json, to_text
    from siyu.profile.rules.schema import DEFAULT_SCHEMA
    from siyu.profile.segments import load_segments

    try:
        defined = load_segments(segments) if segments else {}
        parsed = check_rule(parse_rule(defined[rule].rule if rule in defined else rule), DEFAULT_SCHEMA)
    except SiyuError as exc:
        fail(exc)
    ok, why = incremental_support(parsed, DEFAULT_SCHEMA)
    result: dict[str, Any] = {"text": to_text(parsed), "json": to_json(parsed), "realtime": ok, "realtime_note": why}
    if as_json:
        print_json(result)
        return
    out.print("[green]valid[/green] " + escape(result["text"]), soft_wrap=True)
    out.print(escape(json.dumps(result["json"], ensure_ascii=False)), soft_wrap=True)
    out.print(f"real-time: {'yes' if ok else 'no'}" + (f" ({escape(why)})" if why else ""), soft_wrap=True)


@segment_app.command("size")
def segment_size_cmd(rule: RuleArg, lake: LakeOpt, engine: EngineOpt = "duckdb", as_of: AsOfOpt = None,
                     segments: SegmentsOpt = None, as_json: JsonOpt = False) -> None:
    """How many people the rule selects."""
    from siyu.profile.segments import segment_size

    try:
        ctx = _context(lake, engine, as_of, segments)
        n = segment_size(ctx, ctx.rule(rule))
    except SiyuError as exc:
        fail(exc)
    print_json({"size": n, "as_of": ctx.as_of}) if as_json else out.print(f"{n:,}")


@segment_app.command("preview")
def segment_preview_cmd(rule: RuleArg, lake: LakeOpt, engine: EngineOpt = "duckdb", as_of: AsOfOpt = None,
                        limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
                        segments: SegmentsOpt = None, as_json: JsonOpt = False) -> None:
    """The first members with their profile (member numbers masked)."""
    from siyu.profile.segments import segment_preview

    try:
        ctx = _context(lake, engine, as_of, segments)
        rows = segment_preview(ctx, ctx.rule(rule), limit).to_pylist()
    except SiyuError as exc:
        fail(exc)
    print_json(rows) if as_json else out.print(_table("preview", rows))


@segment_app.command("export")
def segment_export_cmd(rule: RuleArg, lake: LakeOpt,
                       to: Annotated[Path, typer.Option("--out", help="File to write (.csv or .parquet).")],
                       purpose: Annotated[str, typer.Option(
                           "--purpose", help="What the export is for: only members whose latest consent for it is "
                           "a grant are written (marketing, analytics, personalisation, third_party_sharing, "
                           "sensitive_data).")] = "marketing",
                       store: StoreOpt = None,
                       engine: EngineOpt = "duckdb", as_of: AsOfOpt = None, segments: SegmentsOpt = None) -> None:
    """Write the members who consented to the purpose to CSV or Parquet (consent: the lake plus the ledger)."""
    from siyu.cli.store_cmds import _open as open_store_or_fail
    from siyu.privacy.consent_ledger import ConsentLedger
    from siyu.profile.segments import export_segment, segment_size
    from siyu.serving.consent_check import check_purpose, consented_members

    with open_store_or_fail(store) as opened:
        ledger = ConsentLedger(opened)
        try:
            p = check_purpose(purpose).value
            ctx = _context(lake, engine, as_of, segments)
            members = segment_size(ctx, ctx.rule(rule))
            n = export_segment(ctx, ctx.rule(rule), to, "parquet" if to.suffix == ".parquet" else "csv",
                               allowed=lambda eng, sql: consented_members(eng, sql, p, ledger=ledger))
        except SiyuError as exc:
            fail(exc)
    out.print(f"{n:,} member(s) → {escape(str(to))}  ({members - n:,} left out: no {p} consent)", soft_wrap=True)


@segment_app.command("diff")
def segment_diff_cmd(a: RuleArg, b: RuleArg, lake: LakeOpt, engine: EngineOpt = "duckdb", as_of: AsOfOpt = None,
                     segments: SegmentsOpt = None, as_json: JsonOpt = False) -> None:
    """Overlap of two segments: A only, B only, both, Jaccard."""
    from siyu.profile.segments import segment_overlap

    try:
        ctx = _context(lake, engine, as_of, segments)
        result = segment_overlap(ctx, ctx.rule(a), ctx.rule(b))
    except SiyuError as exc:
        fail(exc)
    print_json(result) if as_json else out.print(kv_table("overlap (重合)", result))


@segment_app.command("explain")
def segment_explain_cmd(rule: RuleArg, person: Annotated[str, typer.Option(
                            "--person", help="TYPE:VALUE, e.g. member_no:M0001 or one_id:o_…")],
                        lake: LakeOpt, engine: EngineOpt = "duckdb", as_of: AsOfOpt = None,
                        segments: SegmentsOpt = None, as_json: JsonOpt = False) -> None:
    """Why is this person in (or out of) the segment? Every condition with what was measured."""
    from siyu.profile.segments import explain_membership

    try:
        ctx = _context(lake, engine, as_of, segments)
        one_id, node = explain_membership(ctx, ctx.rule(rule), person)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json({"one_id": one_id, "in_segment": node.value, "explanation": dataclasses.asdict(node)})
        return
    out.print(f"{escape(one_id)} is [bold]{'IN' if node.value else 'OUT'}[/bold] (as of {ctx.as_of})")
    out.print(escape(node.render()), soft_wrap=True)


@segment_app.command("snapshot")
def segment_snapshot_cmd(lake: LakeOpt, segments: Annotated[Path, typer.Option(
                             "--segments", help="Segment definitions (YAML file or folder).")],
                         engine: EngineOpt = "duckdb", as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """Today's members of every defined segment into ads/segment_members, with enter/exit records."""
    from siyu.profile.segments import snapshot_segments

    try:
        ctx = _context(lake, engine, as_of, segments)
        sizes = snapshot_segments(ctx)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json(sizes)
        return
    out.print(kv_table(f"segments as of {ctx.as_of}", sizes))
