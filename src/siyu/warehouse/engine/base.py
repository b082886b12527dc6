"""Engine protocol and factory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from siyu.core.errors import SiyuError

ENGINES = ("duckdb", "spark")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_identifier(name: str) -> str:
    """View names are ours, but check them anyway: nothing unquoted reaches SQL unchecked."""
    if not _IDENT.match(name):
        raise SiyuError(f"invalid view name {name!r}", code="invalid_identifier")
    return name


class Engine(Protocol):
    """What the warehouse needs from an engine. SQL is siyu's dialect (DuckDB's)."""

    name: str

    def register(self, name: str, files: list[str], schema: pa.Schema | None = None) -> None:
        """Expose parquet ``files`` (Hive ``dt=`` folders become a DATE column) as view ``name``.

        With no files, an empty view of ``schema`` is registered so queries still plan.
        """

    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Expose a small in-memory Arrow table as view ``name``."""

    def create_view(self, name: str, sql: str) -> None:
        """Name a query (siyu dialect, no parameters) so later queries can read it."""

    def materialize(self, name: str, sql: str) -> None:
        """Like ``create_view``, but computed once and kept (in memory, spilling to disk) for many reads."""

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Run a query and return its result as Arrow (for small results)."""

    def schema(self, sql: str, params: dict[str, Any] | None = None) -> pa.Schema:
        """The result schema of a query, without running it."""

    def write(self, sql: str, out_dir: Path, params: dict[str, Any] | None = None,
              partition_by: str | None = None) -> None:
        """Run a query and write its result as parquet into ``out_dir`` (a fresh folder)."""

    def close(self) -> None: ...


def open_engine(name: str = "duckdb", **options: Any) -> Engine:
    """Open ``duckdb`` (embedded default) or ``spark`` (needs pyspark and Java 17)."""
    if name == "duckdb":
        from siyu.warehouse.engine.duckdb_engine import DuckDBEngine

        return DuckDBEngine(**options)
    if name == "spark":
        from siyu.warehouse.engine.spark_engine import SparkEngine

        return SparkEngine(**options)
    raise SiyuError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}", code="unknown_engine")
