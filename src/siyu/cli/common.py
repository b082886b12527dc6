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


def parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(SiyuError(f"not a date (YYYY-MM-DD): {value!r}", code="bad_date", input_name="--as-of"))


def cli_actor() -> str:
    """Who runs a command, for audit entries: ``cli:<operating-system user>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
