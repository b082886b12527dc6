"""``siyu privacy access | rectify``: data-subject requests (个人信息主体权利), each on the audit log."""

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
