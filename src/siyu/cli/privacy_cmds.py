"""``siyu privacy``: the PII vault's keys, the audit log, and k-anonymous exports — thin over ``siyu.privacy``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from siyu.cli.common import JsonOpt, LakeOpt, cli_actor, fail
from siyu.cli.consent_cmds import consent_app
from siyu.cli.output import console, kv_table, out, print_json
from siyu.cli.store_cmds import StoreOpt
from siyu.cli.store_cmds import _open as open_store_or_fail
from siyu.cli.subject_cmds import register as register_subject_commands
from siyu.core.errors import SiyuError
from siyu.warehouse.lake import Lake

privacy_app = typer.Typer(help="Privacy under PIPL (个人信息保护): consent, vault keys, audit log, erasure, "
                                 "retention, anonymous exports.",
                          no_args_is_help=True)
vault_app = typer.Typer(help="The PII vault's keys (AES-256-GCM): create, rotate, status.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log: verify, head, list, alerts.", no_args_is_help=True)
privacy_app.add_typer(vault_app, name="vault")
privacy_app.add_typer(audit_app, name="audit")
privacy_app.add_typer(consent_app, name="consent")
register_subject_commands(privacy_app)

KeyFileOpt = Annotated[Path | None, typer.Option(
    "--key-file", help="The master key file (default: SIYU_VAULT_KEY_FILE, else vault.key in SIYU_HOME).")]



def _keyring(key_file: Path | None) -> Any:
    from siyu.privacy.keyring import Keyring

    return Keyring.load(key_file) if key_file else Keyring.from_env()


@vault_app.command("init")
def vault_init(key_file: Annotated[Path, typer.Option("--key-file", help="Where to write the new master key "
                                                      "(0600; never overwritten).")],
               as_json: JsonOpt = False) -> None:
    """Create a master key file and a keyring with its first data key. Keep the key file off the lake's disk."""
    from siyu.privacy.keyring import Keyring, keyring_path_for

    try:
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        ring = Keyring.create(key_file)
    except SiyuError as exc:
        fail(exc)
    except OSError as exc:
        fail(SiyuError(f"cannot write {key_file}: {exc.strerror}", code="bad_file", input_name="--key-file"))
    info = {"key_file": str(key_file), "keyring": str(keyring_path_for(key_file)), "active_version": ring.active}
    if as_json:
        print_json(info)
        return
    out.print(kv_table("vault created", info))
    console.print(f"set SIYU_VAULT_KEY_FILE={escape(str(key_file))} for siyu to use it")


@vault_app.command("rotate")
def vault_rotate(key_file: KeyFileOpt = None, as_json: JsonOpt = False) -> None:
    """Add a data key and make it active: new values use it, older ones still decrypt until re-encrypted."""
    from siyu.privacy.vault import Vault

    try:
        vault = Vault(_keyring(key_file))
        version = vault.rotate()
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json({"active_version": version})
    else:
        out.print(f"active data key: v{version}")


@vault_app.command("status")
def vault_status(key_file: KeyFileOpt = None, as_json: JsonOpt = False) -> None:
    """The keyring's data key versions and which one is active (no key material is printed)."""
    try:
        ring = _keyring(key_file)
    except SiyuError as exc:
        fail(exc)
    info = {"keyring": str(ring.path), "versions": ring.versions, "active_version": ring.active}
    if as_json:
        print_json(info)
    else:
        out.print(kv_table("vault", {k: str(v) for k, v in info.items()}))


@audit_app.command("verify")
def audit_verify(
    expected_head: Annotated[str | None, typer.Option("--expected-head", help="A head recorded earlier "
                                                      "(SEQ:HASH, from `siyu privacy audit head`): also "
                                                      "detects a deleted or rewritten tail.")] = None,
    no_hmac: Annotated[bool, typer.Option("--no-hmac", help="Check only the hash chain (e.g. after the "
                                          "hash key was rotated).")] = False,
    store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """Walk the whole audit log and report the first edited, deleted, reordered or truncated entry (exit 1)."""
    from siyu.privacy.audit import AuditLog

    try:
        with open_store_or_fail(store) as st:
            report = AuditLog(st).verify(expected_head, check_hmac=False if no_hmac else None)
    except SiyuError as exc:
        fail(exc)
    info = {"ok": report.ok, "checked": report.checked, "head": str(report.head) if report.head else None,
            "broken_at": report.broken_at, "reason": report.reason.value if report.reason else None,
            "message": report.message, "hmac_checked": report.hmac_checked}
    if as_json:
        print_json(info)
    else:
        colour = "green" if report.ok else "red"
        console.print(f"[{colour}]{'intact' if report.ok else 'BROKEN'}[/]: {escape(report.message)}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("head")
def audit_head(store: StoreOpt = None) -> None:
    """Print the last entry as SEQ:HASH — write it down elsewhere to detect a deleted tail later."""
    from siyu.privacy.audit import AuditLog

    with open_store_or_fail(store) as st:
        head = AuditLog(st).head()
    out.print(str(head) if head else "empty")


@audit_app.command("list")
def audit_list(
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. pii_read, export.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor (key id or cli:user).")] = None,
    limit: Annotated[int, typer.Option(help="Newest entries to show (≤ 1000).")] = 50,
    store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """The newest audit entries, optionally filtered."""
    from siyu.privacy.audit import AuditLog

    try:
        with open_store_or_fail(store) as st:
            entries = AuditLog(st).entries(action=action, actor=actor, limit=max(1, min(limit, 1000)),
                                           newest_first=True)
    except SiyuError as exc:
        fail(exc)
    rows: list[dict[str, Any]] = [
        {"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "role": e.actor_role, "action": str(e.action),
         "target": f"{e.target_type or ''}:{e.target or ''}", "details": e.details} for e in entries]
    if as_json:
        print_json(rows)
        return
    table = Table("seq", "at", "actor", "role", "action", "target", title="audit log (newest first)")
    for r in rows:
        table.add_row(str(r["seq"]), str(r["at"])[:19], escape(str(r["actor"])), escape(str(r["role"] or "")),
                      str(r["action"]), escape(str(r["target"])))
    out.print(table)


@audit_app.command("alerts")
def audit_alerts(
    working_hours: Annotated[str, typer.Option(help="Local working hours START-END (Asia/Shanghai).")] = "9-19",
    min_rows: Annotated[int, typer.Option(help="Off-hours export rows per key and day that raise an alert.")] = 1000,
    window: Annotated[str, typer.Option(help="Window for PII-read bursts, e.g. 1h, 30m.")] = "1h",
    store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """Risky behaviour in the log: bulk exports outside working hours, unusual bursts of PII reads by one key."""
    from siyu.privacy.audit import AuditLog
    from siyu.privacy.audit_alerts import after_hours_exports, entries_table, unusual_pii_reads

    try:
        start, _, end = working_hours.partition("-")
        hours = (int(start), int(end))
    except ValueError:
        fail(SiyuError(f"--working-hours must look like 9-19, got {working_hours!r}", code="bad_option",
                       input_name="--working-hours"))
    try:
        with open_store_or_fail(store) as st:
            entries = entries_table(AuditLog(st).scan())
        alerts = [*after_hours_exports(entries, working_hours=hours, min_rows=min_rows).to_pylist(),
                  *unusual_pii_reads(entries, window=window).to_pylist()]
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json(alerts)
        return
    if not alerts:
        out.print("no alerts")
        return
    table = Table(*alerts[0].keys(), title=f"{len(alerts)} alert(s)")
    for a in alerts:
        table.add_row(*[escape(str(v)) for v in a.values()])
    out.print(table)


@privacy_app.command("anonymize")
def anonymize_cmd(
    source: Annotated[Path, typer.Argument(help="A Parquet or CSV file to release.")],
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the anonymous copy (.parquet or .csv).")],
    qi: Annotated[str, typer.Option("--qi", help="Quasi-identifiers, comma-separated (e.g. age,region,gender).")],
    k: Annotated[int, typer.Option("--k", help="Every combination of quasi-identifiers at least k times.")] = 5,
    keep: Annotated[str, typer.Option(help="Other columns to release as they are, comma-separated.")] = "",
    max_suppression: Annotated[float, typer.Option(help="Share of rows that may be withheld.")] = 0.05,
    store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """A k-anonymous copy for a third party (匿名化导出): generalise, then suppress, until k holds; audited."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from siyu.privacy.anonymity import anonymize
    from siyu.privacy.audit import AuditAction, AuditLog

    names = [c.strip() for c in qi.split(",") if c.strip()]
    kept = [c.strip() for c in keep.split(",") if c.strip()]
    try:
        if not source.is_file():
            raise SiyuError(f"no such file: {source}", code="not_found", input_name=str(source))
        table = pq.read_table(source) if source.suffix == ".parquet" else pacsv.read_csv(source)
        result = anonymize(table, names, k, keep=kept, max_suppression=max_suppression)
    except SiyuError as exc:
        fail(exc)
    except Exception as exc:  # unreadable input: a clean message
        fail(SiyuError(f"cannot read {source}: {exc}", code="bad_file", input_name=str(source)))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix == ".parquet":
        pq.write_table(result.table, out_path)
    else:
        pacsv.write_csv(result.table, out_path)
    report = result.report()
    with open_store_or_fail(store) as st:
        AuditLog(st).record(cli_actor(), "cli", AuditAction.EXPORT, "anonymous_export", out_path.name,
                            {"rows": report["rows_out"], "k": report["k_achieved"], "qis": names,
                             "source": source.name})
    if as_json:
        print_json(report)
        return
    out.print(kv_table("anonymous export", {
        "written": str(out_path), "rows": f"{report['rows_out']:,} of {report['rows_in']:,} "
                                          f"({report['suppressed']:,} suppressed)",
        "k achieved": report["k_achieved"], "levels": ", ".join(f"{q}: {report['level_names'][q]}" for q in names),
        "information loss": f"{report['loss']:.3f}"}))


@privacy_app.command("retention")
def retention_cmd(
    lake: LakeOpt,
    days: Annotated[int, typer.Option(help="Days every day-partitioned table keeps (default: 3 years).")] = 1095,
    table: Annotated[list[str] | None, typer.Option(
        "--table", help="A table's own limit, LAYER/TABLE=DAYS (e.g. ods/quarantine=180); repeatable.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")] = False,
    store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """Delete day partitions older than their table's limit (保存期限); idempotent, audited."""
    from pydantic import ValidationError

    from siyu.privacy.audit import AuditAction, AuditLog
    from siyu.privacy.retention import RetentionPolicy, run_retention

    try:
        limits = {}
        for item in table or []:
            name, _, value = item.partition("=")
            limits[name.strip()] = int(value)
        policy = RetentionPolicy(default_days=days, tables=limits)
    except (ValueError, ValidationError) as exc:
        fail(SiyuError(f"bad retention policy: {exc}".splitlines()[0][:300], code="bad_option",
                       input_name="--table"))
    report = run_retention(Lake(lake), policy, dry_run=dry_run)
    if not dry_run:
        with open_store_or_fail(store) as st:
            AuditLog(st).record(cli_actor(), "cli", AuditAction.RETENTION_RUN, "lake", Path(lake).name,
                                {"partitions": report.partitions, "days": days, "tables": limits,
                                 "today": report.today.isoformat()})
    info = {"today": report.today.isoformat(), "dry_run": dry_run, "partitions": report.partitions,
            "deleted": report.deleted}
    if as_json:
        print_json(info)
        return
    verb = "would delete" if dry_run else "deleted"
    out.print(f"{verb} {report.partitions:,} day partition(s) older than their limit")
    for name, gone in report.deleted.items():
        out.print(f"  {escape(name)}: {len(gone)} ({gone[0]} … {gone[-1]})")
