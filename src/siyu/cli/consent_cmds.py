"""``siyu privacy consent``: the consent ledger — sync it from the lake, check a person, show the history."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from siyu.cli.common import JsonOpt, LakeOpt, fail
from siyu.cli.output import kv_table, out, print_json
from siyu.cli.store_cmds import StoreOpt
from siyu.cli.store_cmds import _open as open_store_or_fail
from siyu.core.errors import SiyuError
from siyu.profile.segments import mask_identifier
from siyu.warehouse.lake import Lake

consent_app = typer.Typer(help="The consent ledger (授权记录): sync from the lake, check, history.",
                          no_args_is_help=True)

PurposeOpt = Annotated[str, typer.Option("--purpose", help="marketing, analytics, personalisation, "
                                         "third_party_sharing or sensitive_data.")]
IdTypeArg = Annotated[str, typer.Argument(help="Identifier type: one_id, user_id, phone, unionid, openid, …")]
IdValueArg = Annotated[str, typer.Argument(help="Identifier value (a phone in plain digits is tokenised first).")]


@consent_app.command("sync")
def consent_sync(lake: LakeOpt, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Copy every consent_changed decision in the lake into the ledger (idempotent; imports and history)."""
    from siyu.privacy.consent_ledger import ConsentLedger, sync_from_lake

    with open_store_or_fail(store) as opened:
        try:
            seen, new = sync_from_lake(Lake(lake), ConsentLedger(opened))
        except SiyuError as exc:
            fail(exc)
    info = {"decisions_in_lake": seen, "newly_recorded": new}
    print_json(info) if as_json else out.print(kv_table("consent sync", info))


@consent_app.command("check")
def consent_check(identifier_type: IdTypeArg, value: IdValueArg, lake: LakeOpt, purpose: PurposeOpt = "marketing",
                  store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """May this person be used for the purpose now? (The serving snapshot plus the ledger.) Exit 1 when not."""
    from siyu.privacy.consent_ledger import ConsentLedger
    from siyu.serving.consent_check import ConsentChecker
    from siyu.serving.lookup import PersonLookup

    with open_store_or_fail(store) as opened:
        lookup = PersonLookup(Lake(lake))
        try:
            answer = ConsentChecker(lookup, ConsentLedger(opened)).check(identifier_type, value, purpose)
        except SiyuError as exc:
            fail(exc)
        finally:
            lookup.close()
    info = answer.as_dict()
    print_json(info) if as_json else out.print(kv_table("consent", info))
    if not answer.allowed:
        raise typer.Exit(1)


@consent_app.command("history")
def consent_history(identifier_type: IdTypeArg, value: IdValueArg, lake: LakeOpt, purpose: Annotated[
                        str | None, typer.Option("--purpose", help="Only this purpose.")] = None,
                    store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Every decision the ledger holds for the person, oldest first (subjects masked)."""
    from siyu.privacy.consent_ledger import ConsentLedger
    from siyu.serving.consent_check import person_subjects
    from siyu.serving.lookup import PersonLookup

    with open_store_or_fail(store) as opened:
        lookup = PersonLookup(Lake(lake))
        try:
            subjects, one_ids = person_subjects(lookup, identifier_type, value)
            rows = ConsentLedger(opened).history(subjects, one_ids, purpose)
        except SiyuError as exc:
            fail(exc)
        finally:
            lookup.close()
    shown = [_shown(r) for r in rows]
    if as_json:
        print_json(shown)
        return
    from rich.table import Table

    table = Table("occurred_at", "purpose", "granted", "counts", "reason", "source", "notice", "subject")
    for r in shown:
        table.add_row(r["occurred_at"], r["purpose"], str(r["granted"]), str(r["counts"]), r["reason"] or "",
                      r["source"] or "", r["notice_version"] or "", r["subject"])
    out.print(table)


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    kind, _, value = str(row["subject"]).partition(":")
    return {**{k: v for k, v in row.items() if k not in ("id", "recorded_at")},
            "occurred_at": row["occurred_at"].isoformat(), "recorded_at": row["recorded_at"].isoformat(),
            "subject": f"{kind}:{mask_identifier(value)}"}
