"""``siyu keys | store``: API keys and the operational store's schema, thin commands over ``siyu.store``."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from siyu.cli.common import JsonOpt, cli_actor, fail
from siyu.cli.output import console, out, print_json
from siyu.core.errors import SiyuError

keys_app = typer.Typer(help="API keys: create (token shown once), list, revoke.", no_args_is_help=True)
store_app = typer.Typer(help="The operational store (运营库): schema upgrade and revision.", no_args_is_help=True)

StoreOpt = Annotated[str | None, typer.Option(
    "--store", help="Store URL (default: SIYU_STORE_URL, else sqlite:///$SIYU_HOME/siyu.db).")]


def _open(url: str | None) -> Any:
    from siyu.store import open_store

    try:
        return open_store(url)
    except SiyuError:
        raise
    except Exception as exc:  # a bad URL or an unreachable server: a clean message, not a trace
        fail(SiyuError(f"cannot open the store: {exc}", code="store_unavailable", input_name="--store"))


def _audit(store: Any, action: str, info: Any, details: dict[str, Any]) -> None:
    """Key changes are on the audit record, made by the operating-system user running the command."""
    from siyu.privacy.audit import AuditLog

    AuditLog(store).record(cli_actor(), "cli", action, "key", info.key_id, details)


def _key_dict(info: Any) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in dataclasses.asdict(info).items()}


@keys_app.command("create")
def keys_create(
    kind: Annotated[str, typer.Option("--kind", help="write (sends events for one source) or user (has a role).")],
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for.")],
    role: Annotated[str | None, typer.Option(help="User keys: admin, analyst, operator or auditor.")] = None,
    source: Annotated[str | None, typer.Option(help="Write keys: the source events are stamped with.")] = None,
    rate_limit: Annotated[int | None, typer.Option("--rate-limit", help="Requests per minute (default: the "
                                                   "server's).")] = None,
    description: Annotated[str, typer.Option(help="A note kept with the key.")] = "",
    created_by: Annotated[str | None, typer.Option("--by", help="Who is creating it (kept with the key).")] = None,
    store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create an API key and print its token — once: only a hash of it is kept."""
    from siyu.store import create_key

    try:
        with _open(store) as st:
            info, token = create_key(st, kind=kind, name=name, role=role, source=source, created_by=created_by,
                                     rate_limit_per_minute=rate_limit, description=description)
            _audit(st, "key_created", info, {"kind": str(info.kind), "role": str(info.role) if info.role else None,
                                             "name": info.name})
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json({"key": _key_dict(info), "token": token})
    else:
        typer.echo(token)
    console.print(f"[yellow]warning[/yellow] key {info.key_id} created: copy the token now, it cannot be shown "
                  "again (only a hash of it is stored).", soft_wrap=True)


@keys_app.command("list")
def keys_list(all_: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
              store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Every key: id, name, kind, role or source, created, last used, revoked (never secrets or hashes)."""
    from siyu.store import list_keys

    try:
        with _open(store) as st:
            keys = list_keys(st, include_revoked=all_)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json([_key_dict(k) for k in keys])
        return
    table = Table(title="API keys (times in UTC)", title_justify="left")
    cols = ["key_id", "name", "kind", "role/source", "rate/min", "created", "last used"] + (["revoked"] if all_ else [])
    for col in cols:
        table.add_column(col, no_wrap=col == "key_id")
    for k in keys:
        row = [k.key_id, escape(k.name), k.kind.value, escape(str(k.role or k.source)),
               str(k.rate_limit_per_minute or "default"), _when(k.created_at), _when(k.last_used_at)]
        table.add_row(*row, *([_when(k.revoked_at)] if all_ else []))
    out.print(table)


def _when(value: Any) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's public id (as in `siyu keys list`).")],
                store: StoreOpt = None) -> None:
    """Revoke a key: it is refused at once here, and by running servers within seconds."""
    from siyu.store import revoke_key

    try:
        with _open(store) as st:
            info = revoke_key(st, key_id)
            _audit(st, "key_revoked", info, {"name": info.name})
    except SiyuError as exc:
        fail(exc)
    out.print(f"revoked {info.key_id} ({escape(info.name)}) at {_when(info.revoked_at)} UTC")


@store_app.command("upgrade")
def store_upgrade(store: StoreOpt = None) -> None:
    """Upgrade the store's schema to the newest migration (commands that open the store do this too)."""
    from siyu.store import current_revision, default_store_url, head_revision, upgrade

    url = store or default_store_url()
    try:
        before = current_revision(url)
        after = upgrade(url)
    except SiyuError as exc:
        fail(exc)
    except Exception as exc:
        fail(SiyuError(f"cannot upgrade the store: {exc}", code="store_unavailable", input_name="--store"))
    note = "already up to date" if before == after else f"upgraded from {before or 'empty'}"
    out.print(f"store at revision {after} (head {head_revision()}): {note}")


@store_app.command("current")
def store_current(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Print the store's schema revision and the newest one this siyu ships."""
    from siyu.store import current_revision, default_store_url, head_revision

    try:
        current = current_revision(store or default_store_url())
    except Exception as exc:
        fail(SiyuError(f"cannot read the store: {exc}", code="store_unavailable", input_name="--store"))
    result = {"current": current, "head": head_revision(), "up_to_date": current == head_revision()}
    if as_json:
        print_json(result)
        return
    out.print(f"current {current or '(empty: never migrated)'}, head {result['head']}"
              + ("" if result["up_to_date"] else " — run `siyu store upgrade`"))
