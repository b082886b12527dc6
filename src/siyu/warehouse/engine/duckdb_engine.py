"""DuckDB: the embedded default engine (in-process, only built-in extensions)."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from siyu.core.config import get_settings
from siyu.warehouse.engine.base import check_identifier


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = $tz", {"tz": get_settings().business_timezone})
        self.con.execute("SET preserve_insertion_order = false")
        self.con.execute("SET enable_progress_bar = false")  # our own progress and logs; not bars in server logs
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        # Leave room for the Python side (OneID, landing): DuckDB alone would take 80% of the machine.
        settings = get_settings()
        self.con.execute("SET memory_limit = $m", {"m": memory_limit or settings.duckdb_memory_limit or
                                                    f"{max(1, int(total_memory_gib() * 0.5))}GB"})
        self._spill = tempfile.mkdtemp(prefix="siyu-duckdb-")
        self.con.execute("SET temp_directory = $t", {"t": self._spill})
        weakref.finalize(self, shutil.rmtree, self._spill, True)
        self._arrow: dict[str, pa.Table] = {}
        self._tables: set[str] = set()

    def register(self, name: str, files: list[str], schema: pa.Schema | None = None) -> None:
        if files:
            self._forget(name)
            rel = self.con.read_parquet(files, hive_partitioning=True, union_by_name=True)
            rel.create_view(check_identifier(name), replace=True)
        else:
            if schema is None:
                raise ValueError(f"no files for {name} and no schema for an empty view")
            self.register_arrow(name, schema.empty_table())

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self._forget(name)
        self._arrow[name] = table  # keep a reference: DuckDB scans it lazily
        self.con.register(check_identifier(name), table)

    def _forget(self, name: str) -> None:
        """Drop whatever ``name`` meant before: a registered Arrow table would shadow a new view."""
        if self._arrow.pop(name, None) is not None:
            self.con.unregister(name)
        if name in self._tables:
            self._tables.discard(name)
            self.con.execute(f"DROP TABLE IF EXISTS {check_identifier(name)}")
        self.con.execute(f"DROP VIEW IF EXISTS {check_identifier(name)}")

    def create_view(self, name: str, sql: str) -> None:
        self._forget(name)
        self.con.sql(sql).create_view(check_identifier(name), replace=True)

    def materialize(self, name: str, sql: str) -> None:
        self._forget(name)
        self.con.execute(f"CREATE TEMP TABLE {check_identifier(name)} AS {sql}")
        self._tables.add(name)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        return self.con.sql(sql, params=params or None).to_arrow_table()

    def schema(self, sql: str, params: dict[str, Any] | None = None) -> pa.Schema:
        return self.query(f"SELECT * FROM ({sql}) AS q LIMIT 0", params).schema

    def write(self, sql: str, out_dir: Path, params: dict[str, Any] | None = None,
              partition_by: str | None = None) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        rel = self.con.sql(sql, params=params or {})
        if partition_by:
            rel.write_parquet(str(out_dir), compression="zstd", partition_by=[partition_by], overwrite=True)
        else:
            rel.write_parquet(str(out_dir / "part-0.parquet"), compression="zstd")

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._spill, ignore_errors=True)


def total_memory_gib() -> float:
    """This machine's memory in GiB (8 when the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 8.0
