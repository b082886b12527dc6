"""``siyu`` — entry point. Each command parses its options, calls one room, and prints the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from siyu.cli.collect_cmds import collect_app
from siyu.cli.common import EngineOpt, JsonOpt, LakeOpt
from siyu.cli.common import fail as _fail
from siyu.cli.measure_cmds import measure_app
from siyu.cli.model_cmds import models_app
from siyu.cli.output import console, kv_table, out, print_json, progress_bar
from siyu.cli.privacy_cmds import privacy_app
from siyu.cli.profile_cmds import profile_app, segment_app, tags_app
from siyu.cli.serve_cmds import serve
from siyu.cli.store_cmds import keys_app, store_app
from siyu.core.errors import SiyuError
from siyu.warehouse.lake import Lake

app = typer.Typer(help="siyu — private-domain (私域) customer data and growth platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
identity_app = typer.Typer(help="OneID: explain and split profiles.", no_args_is_help=True)
events_app = typer.Typer(help="The standard event catalogue.", no_args_is_help=True)
app.add_typer(identity_app, name="identity")
app.add_typer(events_app, name="events")
app.add_typer(profile_app, name="profile")
app.add_typer(tags_app, name="tags")
app.add_typer(segment_app, name="segment")
app.add_typer(collect_app, name="collect")
app.add_typer(keys_app, name="keys")
app.add_typer(store_app, name="store")
app.add_typer(privacy_app, name="privacy")
app.add_typer(measure_app, name="measure")
app.add_typer(models_app, name="models")
app.command()(serve)

@app.command()
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")],
    users: Annotated[int, typer.Option(help="Number of people.")] = 20_000,
    days: Annotated[int, typer.Option(help="Days of history.")] = 180,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 7,
) -> None:
    """Generate a synthetic private-domain world with planted ground truth in DIR/truth."""
    from siyu.synth import generate_world

    with progress_bar("synthesising people", users) as advance:
        done = 0

        def on_progress(n: int) -> None:
            nonlocal done
            advance(n - done)
            done = n

        summary = generate_world(out_dir, users=users, days=days, seed=seed, progress=on_progress)
    out.print(kv_table("synth", {k: v for k, v in summary.__dict__.items() if not isinstance(v, dict)}))


@app.command()
def report(
    lake: LakeOpt,
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
    lang: Annotated[str, typer.Option("--lang", help="zh (default) or en.")] = "zh",
    title: Annotated[str | None, typer.Option("--title", help="Page title.")] = None,
    engine: EngineOpt = "duckdb",
) -> None:
    """Write the measurement report: one self-contained HTML file (charts included; opens offline)."""
    from siyu.measure.report import write_report
    from siyu.measure.report_build import build_report_data

    try:
        with console.status("KPIs, funnel, cohorts, paths, attribution, experiments, heatmap, alerts"):
            data = build_report_data(Lake(lake), engine, title=title)
            path = write_report(data, out_file, lang=lang)
    except SiyuError as exc:
        _fail(exc)
    out.print(f"report: {path}")


@app.command("import")
def import_(
    source: Annotated[Path, typer.Argument(help="Directory with events/ and entities/ (or one event file).")],
    lake: LakeOpt,
    as_json: JsonOpt = False,
) -> None:
    """Land canonical events and entity exports in lake/ods; rejected rows go to ods/quarantine."""
    from siyu.warehouse.loader import import_source

    if not source.exists():
        _fail(SiyuError(f"{source} does not exist", code="not_found", input_name="source"))
    with progress_bar("importing lines", None) as advance:
        report = import_source(source, lake, progress=advance)
    if as_json:
        print_json(report.as_dict())
        return
    out.print(kv_table("import", {"accepted": report.accepted, "quarantined": report.quarantined,
                                  **{f"quarantine · {k}": v for k, v in sorted(report.quarantine_by_reason.items())},
                                  **{f"entity · {k}": v for k, v in report.entity_rows.items()}}))
    for f in [*report.files, *report.entity_files]:
        if f.error:
            console.print(f"[yellow]file problem[/yellow] {escape(f.path)}: {escape(f.error)}", soft_wrap=True)
        elif f.encoding != "utf-8" and f.encoding != "n/a":
            console.print(f"[cyan]note[/cyan] {f.path} read as {f.encoding}")


@app.command()
def build(lake: LakeOpt, engine: EngineOpt = "duckdb",
          full: Annotated[bool, typer.Option(help="Rebuild every day.")] = False, as_json: JsonOpt = False) -> None:
    """Build dwd, dws and ads from ods (only the days that changed)."""
    from siyu.warehouse.build import build as run_build

    try:
        with console.status("building") as status:
            report = run_build(_lake(lake), engine, full=full, step=lambda m: status.update(m))
    except SiyuError as exc:
        _fail(exc)
    if as_json:
        print_json(report.as_dict())
        return
    out.print(kv_table(f"build ({report.engine})", {"days built": len(report.days_built), **report.rows}))


@app.command()
def quality(lake: LakeOpt, as_json: JsonOpt = False,
            batch: Annotated[str | None, typer.Option(help="One load: an import batch id, or 'latest'.")] = None,
            fail_on_alert: Annotated[bool, typer.Option(help="Exit 1 when any alert fires.")] = False) -> None:
    """Data-quality report: quarantine reasons, missing fields, duplicates, clock skew, anomalies."""
    from siyu.warehouse.quality import quality_report

    try:
        rep = quality_report(_lake(lake), batch=batch)
    except SiyuError as exc:
        _fail(exc)
    if as_json:
        print_json(rep.as_dict())
    else:
        s = rep.sections
        out.print(kv_table("quarantine by reason", s["quarantine_by_reason"] or {"(none)": 0}))
        out.print(kv_table("accepted", {"rows": s["accepted_rows"], "duplicate rows": s["duplicates"]["rows"],
                                        "duplicate rate": f"{s['duplicates']['rate']:.2%}",
                                        **s["identifiers"], **s.get("clock", {})}))
        if s["missing_required_fields"]:
            out.print(kv_table("missing required fields (rate)", {
                f"{m['event']} · {m['field']}": f"{m['missing']}/{m['of']} = {m['rate']:.2%}"
                for m in s["missing_required_fields"]}))
        for warning in rep.warnings:
            console.print(f"[yellow]warning[/yellow] {escape(warning)}", soft_wrap=True)
        for alert in rep.alerts:
            console.print(f"[red]alert[/red] {escape(alert)}", soft_wrap=True)
        if not rep.alerts:
            console.print("[green]no alerts[/green]")
    if fail_on_alert and rep.alerts:
        raise typer.Exit(1)


@identity_app.command("explain")
def identity_explain(identifier: Annotated[str, typer.Argument(help="TYPE:VALUE, e.g. phone:13812345678")],
                     lake: LakeOpt, as_json: JsonOpt = False) -> None:
    """Show the profile an identifier belongs to and the evidence for every link."""
    from siyu.warehouse.identity.explain import explain

    try:
        info = explain(_lake(lake), identifier)
    except SiyuError as exc:
        _fail(exc)
    if as_json:
        print_json(info)
        return
    out.print(f"[bold]{info['one_id']}[/bold] (seed {escape(info['seed'])}, created {info['created_at']})")
    out.print("members: " + escape(", ".join(info["members"])), soft_wrap=True)
    for link in info["links"]:
        out.print(escape(f"  {link['a']} — {link['b']}  [{link['rule']}] evidence {link['evidence']} "
                         f"at {link['first_seen']}"), soft_wrap=True)
    for link in info["refused_links"]:
        out.print("  [yellow]refused[/yellow] " + escape(f"{link['a']} — {link['b']}  [{link['rule']}] "
                                                          f"evidence {link['evidence']}"), soft_wrap=True)
    if info["merged_from"]:
        out.print("merged from: " + ", ".join(info["merged_from"]))


@identity_app.command("split")
def identity_split(a: Annotated[str, typer.Argument(help="TYPE:VALUE")], b: Annotated[str, typer.Argument()],
                   lake: LakeOpt, engine: EngineOpt = "duckdb",
                   note: Annotated[str, typer.Option(help="Why (kept with the block).")] = "") -> None:
    """Block the wrong link(s) between two identifiers and re-resolve the affected profiles."""
    from siyu.warehouse.build import build as run_build
    from siyu.warehouse.identity.explain import request_split

    lk = _lake(lake)
    try:
        blocked = request_split(lk, a, b, note)
        report = run_build(lk, engine)
    except SiyuError as exc:
        _fail(exc)
    for x, y in blocked:
        out.print(escape(f"blocked {x} — {y}"), soft_wrap=True)
    out.print(f"re-resolved; rewrote {len(report.days_built)} day(s)")


@events_app.command("catalogue")
def events_catalogue(schema: Annotated[str | None, typer.Option(help="Print the JSON Schema of one event.")] = None
                     ) -> None:
    """List the standard events and their typed properties."""
    from siyu.core.catalogue import STANDARD_EVENTS, json_schema

    if schema:
        if schema not in STANDARD_EVENTS:
            _fail(SiyuError(f"{schema!r} is not a standard event", code="not_found", input_name="schema"))
        print_json(json_schema(schema))
        return
    for spec in STANDARD_EVENTS.values():
        props = ", ".join(f"{p.name}{'*' if p.required else ''}:{p.type.value}" for p in spec.props)
        out.print(f"[bold]{spec.name}[/bold] — {spec.description}\n    {props}")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the world and the lake go.")] = Path("demo-out"),
    users: Annotated[int, typer.Option(help="Number of people.")] = 20_000,
    days: Annotated[int, typer.Option(help="Days of history.")] = 180,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    engine: EngineOpt = "duckdb",
) -> None:
    """Synthesise a world, import it, build the lake and summarise it against the truth."""
    from siyu.cli.demo import run_demo

    run_demo(out_dir, users=users, days=days, seed=seed, engine=engine)


def _lake(path: Path) -> Lake:
    return Lake(path)


if __name__ == "__main__":
    app()
