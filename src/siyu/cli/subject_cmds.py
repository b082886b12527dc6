"""``siyu privacy access | rectify | erase | erasures | purge-inactive``: data-subject requests (个人信息主体
权利) and account purges, each on the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from siyu.cli.common import JsonOpt, LakeOpt, cli_actor, fail
from siyu.cli.consent_cmds import IdTypeArg, IdValueArg
from siyu.cli.output import kv_table, out, print_json
from siyu.cli.store_cmds import StoreOpt
from siyu.cli.store_cmds import _open as open_store_or_fail
from siyu.core.errors import SiyuError
from siyu.warehouse.lake import Lake


def register(app: typer.Typer) -> None:
    """Add the data-subject commands to ``siyu privacy``."""
    app.command("access")(access_cmd)
    app.command("rectify")(rectify_cmd)
    app.command("erase")(erase_cmd)
    app.command("erasures")(erasures_cmd)
    app.command("purge-inactive")(purge_inactive_cmd)


def access_cmd(identifier_type: IdTypeArg, value: IdValueArg, lake: LakeOpt,
               to: Annotated[Path, typer.Option("--out", help="The JSON file to write.")],
               store: StoreOpt = None) -> None:
    """Everything held about one person — identifiers, profile, tags, segments, events, orders, consent
    history — as one JSON file (PIPL access request, 查阅复制). Recorded on the audit log."""
    from siyu.privacy.audit import AuditAction, AuditLog
    from siyu.privacy.consent_ledger import ConsentLedger
    from siyu.privacy.subject_access import subject_access, write_access_document

    with open_store_or_fail(store) as opened:
        try:
            doc = subject_access(Lake(lake), identifier_type, value, ledger=ConsentLedger(opened))
            size = write_access_document(doc, to)
        except SiyuError as exc:
            fail(exc)
        rows = {name: len(r) for name, r in doc["tables"].items()}
        AuditLog(opened).record(cli_actor(), "admin", AuditAction.SUBJECT_ACCESS, "person", doc["one_id"],
                                {"via": identifier_type, "tables": rows, "bytes": size})
    out.print(f"{sum(rows.values()):,} row(s) from {len(rows)} table(s) about {doc['one_id']} → "
              f"{escape(str(to))}", soft_wrap=True)


def rectify_cmd(identifier_type: IdTypeArg, value: IdValueArg, lake: LakeOpt,
                sets: Annotated[list[str], typer.Option("--set", help="field=value to correct (repeatable); "
                                                        "field= (empty) removes the field.")],
                store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Correct profile attributes (更正): lands an identify event (source rectification) and audits the change
    with masked values; run `siyu build` (or let the service) to see it in profiles."""
    from siyu.privacy.audit import AuditAction, AuditLog
    from siyu.privacy.rectification import rectify

    changes: dict[str, str | None] = {}
    for item in sets:
        key, sep, new = item.partition("=")
        if not sep:
            fail(SiyuError(f"--set {item[:40]!r}: expected field=value", code="bad_rectification",
                           input_name="--set"))
        changes[key.strip()] = new if new != "" else None
    with open_store_or_fail(store) as opened:
        try:
            done = rectify(Lake(lake), identifier_type, value, changes)
        except SiyuError as exc:
            fail(exc)
        AuditLog(opened).record(cli_actor(), "admin", AuditAction.RECTIFICATION, "person", done.one_id,
                                done.as_dict())
    print_json(done.as_dict()) if as_json else out.print(kv_table("rectified", {
        "one_id": done.one_id, "message_id": done.message_id,
        **{f"{k}": f"{o} → {n}" for k, (o, n) in done.changed.items()}}))


def _default_spool() -> Path | None:
    from siyu.core.config import get_settings

    settings = get_settings()
    path = Path(settings.spool_path or Path(settings.home) / "spool.db")
    return path if path.exists() else None


def _default_exports() -> Path | None:
    """The service's export folder (SIYU_HOME/exports), where segment export files wait to be downloaded."""
    from siyu.core.config import get_settings

    path = Path(get_settings().home) / "exports"
    return path if path.is_dir() else None


SpoolOpt = Annotated[Path | None, typer.Option("--spool", help="The collector's spool to erase from too "
                                               "(default: SIYU_SPOOL_PATH or SIYU_HOME/spool.db when it exists).")]


def _erase(lake: Path, store: str | None, identifiers: list[str], *, reason: str, requested_at: str | None,
           spool: Path | None, as_json: bool) -> None:
    from datetime import datetime

    from siyu.privacy.erasure_job import run_erasure

    asked = None
    if requested_at:
        try:
            asked = datetime.fromisoformat(requested_at)
        except ValueError:
            fail(SiyuError(f"--requested-at {requested_at[:40]!r} is not an ISO time", code="bad_time",
                           input_name="--requested-at"))
        if asked.tzinfo is None:
            fail(SiyuError("--requested-at needs a time zone (e.g. +08:00)", code="bad_time",
                           input_name="--requested-at"))
    with open_store_or_fail(store) as opened:
        try:
            outcome = run_erasure(Lake(lake), opened, identifiers, requested_by=cli_actor(), reason=reason,
                                  requested_at=asked, spool=spool or _default_spool(), exports=_default_exports())
        except SiyuError as exc:
            fail(exc)
    report = outcome.report
    info = {"request": outcome.request_id, "people": outcome.people, "unknown": len(outcome.unknown),
            "rows_removed": report["lake"]["rows_removed"], "files_rewritten": report["lake"]["files_rewritten"],
            "spool_rows": report["spool_rows"], "consent_rows": report["ledger_rows"],
            "export_files_deleted": report.get("export_files_deleted", 0),
            "audit_entries_kept": report["store_traces"]["audit_log_retained"],
            "shared_identifiers_kept": report["shared_kept"], "trace_scan": "clean" if outcome.clean else "TRACES",
            "seconds": report["seconds"]}
    print_json({**info, "report": report}) if as_json else out.print(kv_table("erased", info))
    if not outcome.clean:
        raise typer.Exit(1)


def erase_cmd(identifiers: Annotated[list[str], typer.Argument(help="type:value of the person, e.g. user_id:u_1, "
                                                              "phone:13812345678, one_id:o_… (several allowed).")],
              lake: LakeOpt, store: StoreOpt = None, spool: SpoolOpt = None,
              requested_at: Annotated[str | None, typer.Option(
                  "--requested-at", help="When the person asked (ISO with zone; default now): the 72-hour "
                  "deadline runs from it.")] = None,
              as_json: JsonOpt = False) -> None:
    """Erase people everywhere (删除) — lake, serving files, spool, consent ledger — and prove it with a trace
    scan (exit 1 if anything is left). Recorded as an erasure request with its deadline, and audited."""
    _erase(lake, store, identifiers, reason="request", requested_at=requested_at, spool=spool, as_json=as_json)


def purge_inactive_cmd(lake: LakeOpt, days: Annotated[int, typer.Option(
                           "--days", help="Idle longer than this before the lake's last day.")] = 180,
                       store: StoreOpt = None, spool: SpoolOpt = None,
                       dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count them.")] = False,
                       as_json: JsonOpt = False) -> None:
    """Erase every account with no activity for --days (default 180, as the source reports advise)."""
    from siyu.privacy.erasure_job import inactive_people

    try:
        people, as_of = inactive_people(Lake(lake), days)
    except SiyuError as exc:
        fail(exc)
    if dry_run or not people:
        info = {"inactive_people": len(people), "days": days, "as_of": str(as_of) if as_of else None,
                "erased": "no (dry run)" if dry_run else "nobody to erase"}
        print_json(info) if as_json else out.print(kv_table("purge inactive", info))
        return
    _erase(lake, store, [f"one_id:{p}" for p in people], reason=f"inactive_{days}d", requested_at=None,
           spool=spool, as_json=as_json)


def erasures_cmd(store: StoreOpt = None, overdue: Annotated[bool, typer.Option(
                     "--overdue", help="Only requests past their deadline and not done.")] = False,
                 limit: int = 50, as_json: JsonOpt = False) -> None:
    """Erasure requests, newest first: deadline, status, whether they were on time."""
    from rich.table import Table

    from siyu.privacy.erasure_requests import list_requests

    with open_store_or_fail(store) as opened:
        rows = list_requests(opened, limit=limit, overdue_only=overdue)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "requested_at", "due_at", "completed_at", "status", "on time", "people", "reason",
                  "subjects")
    for r in rows:
        table.add_row(str(r["id"]), r["requested_at"][:19], r["due_at"][:19], (r["completed_at"] or "")[:19],
                      r["status"] + (" OVERDUE" if r["overdue"] else ""), str(r["on_time"]), str(r["people"]),
                      r["reason"], escape(r["subjects"][:40]))
    out.print(table)
