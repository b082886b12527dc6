"""Options and error handling shared by every command module."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from siyu.cli.output import console
from siyu.core.errors import SiyuError

LakeOpt = Annotated[Path, typer.Option("--lake", help="Lake directory.")]
EngineOpt = Annotated[str, typer.Option("--engine", help="duckdb (default) or spark.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="Business day YYYY-MM-DD (default: the lake's last).")]


def fail(exc: SiyuError) -> NoReturn:
    """Print a typed error (code, input, message) and exit 2; never a stack trace."""
    console.print(f"[red]error[/red] {escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(2)


def day_option(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option value (None when not given); a bad one is a SiyuError naming ``option``."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SiyuError(f"not a date (YYYY-MM-DD): {value!r}", code="bad_date", input_name=option) from None


def parse_day(value: str | None, option: str = "--as-of") -> date | None:
    """Like :func:`day_option`, but a bad value ends the command with the error (exit 2)."""
    try:
        return day_option(value, option)
    except SiyuError as exc:
        fail(exc)


def cli_actor() -> str:
    """Who runs a command, for audit entries: ``cli:<operating-system user>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
