"""``siyu collect``: the collector's spool — drain it into a lake, or look at what waits in it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siyu.cli.common import JsonOpt, LakeOpt, fail
from siyu.cli.output import kv_table, out, print_json
from siyu.core.errors import SiyuError

collect_app = typer.Typer(help="The collector's spool: drain it into the lake, show what waits.", no_args_is_help=True)
SpoolOpt = Annotated[Path | None, typer.Option("--spool", help="Spool file (default: SIYU_SPOOL_PATH, "
                                                              "else spool.db in SIYU_HOME).")]


@collect_app.command("drain")
def drain_cmd(
    lake: LakeOpt,
    spool: SpoolOpt = None,
    engine: Annotated[str, typer.Option("--engine", help="Engine for the incremental build afterwards.")] = "duckdb",
    no_build: Annotated[bool, typer.Option("--no-build", help="Land in ods only; do not build.")] = False,
    max_rows: Annotated[int, typer.Option(help="Rows per micro-batch.")] = 200_000,
    as_json: JsonOpt = False,
) -> None:
    """Land every pending spooled event in lake/ods (rejected ones in ods/quarantine), then build."""
    from siyu.collect.drain import drain
    from siyu.collect.spool import Spool, default_spool_path
    from siyu.warehouse.lake import Lake

    path = spool or default_spool_path()
    if not path.exists():
        fail(SiyuError(f"{path} does not exist", code="not_found", input_name="--spool"))
    try:
        with Spool(path, group_commit=False) as sp:
            report = drain(sp, Lake(lake), max_rows=max_rows, build_engine=None if no_build else engine)
    except (SiyuError, ValueError) as exc:
        fail(exc if isinstance(exc, SiyuError) else SiyuError(str(exc), code="bad_option", input_name="--max-rows"))
    if as_json:
        print_json(report.as_dict())
    else:
        rows = {"batches": len(report.batches) + len(report.redone), "accepted": report.accepted,
                "quarantined": report.quarantined,
                **{f"quarantine · {k}": v for k, v in sorted(report.quarantine_by_reason.items())},
                "days": len(report.days), "built": "yes" if report.build is not None else "no"}
        out.print(kv_table("collect drain", rows))
    if report.build_error:
        fail(SiyuError(f"landed, but the build failed: {report.build_error}", code="build_failed"))


@collect_app.command("stats")
def stats_cmd(spool: SpoolOpt = None, as_json: JsonOpt = False) -> None:
    """What waits in the spool, since when, and its totals."""
    from siyu.collect.spool import Spool, default_spool_path

    path = spool or default_spool_path()
    if not path.exists():
        fail(SiyuError(f"{path} does not exist", code="not_found", input_name="--spool"))
    with Spool(path, group_commit=False) as sp:
        stats = sp.stats().as_dict()
    if as_json:
        print_json(stats)
    else:
        out.print(kv_table("collect stats", stats))
