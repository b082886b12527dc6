"""Apache Spark: the same SQL, transpiled by SQLGlot, on ``local[*]`` or any cluster."""

from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlglot

from siyu.core.config import get_settings
from siyu.core.errors import EngineUnavailable
from siyu.warehouse.engine.base import check_identifier


def find_java_home() -> str | None:
    """JAVA_HOME if set, else a Java 17+ under /usr/lib/jvm, else the one on PATH."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    jvm = Path("/usr/lib/jvm")
    if jvm.exists():
        for cand in sorted(jvm.iterdir()):
            if "17" in cand.name and (cand / "bin" / "java").exists():
                return str(cand)
    java = shutil.which("java")
    return str(Path(java).resolve().parent.parent) if java else None


@lru_cache(maxsize=4096)
def to_spark_sql(sql: str) -> str:
    """Transpile siyu's (DuckDB) dialect to Spark SQL; cached because queries are constants."""
    return ";\n".join(sqlglot.transpile(sql, read="duckdb", write="spark"))


class SparkEngine:
    name = "spark"

    def __init__(self, master: str | None = None, memory: str = "4g") -> None:
        java_home = find_java_home()
        if java_home is None:
            raise EngineUnavailable("Spark needs Java 17: set JAVA_HOME or install openjdk-17-jre")
        os.environ.setdefault("JAVA_HOME", java_home)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # stay on loopback
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise EngineUnavailable("pyspark is not installed: pip install 'siyu[spark]'") from None
        settings = get_settings()
        self.spark = (
            SparkSession.builder.master(master or settings.spark_master)
            .appName("siyu")
            .config("spark.sql.session.timeZone", settings.business_timezone)
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            .config("spark.sql.ansi.enabled", "false")
            .config("spark.driver.memory", memory)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")

    def register(self, name: str, files: list[str], schema: pa.Schema | None = None) -> None:
        if files:
            base = _common_table_dir(files)
            df = self.spark.read.option("basePath", base).option("mergeSchema", "true").parquet(*files)
            df.createOrReplaceTempView(name)
        else:
            if schema is None:
                raise ValueError(f"no files for {name} and no schema for an empty view")
            self.register_arrow(name, schema.empty_table())

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def create_view(self, name: str, sql: str) -> None:
        self._df(sql, None).createOrReplaceTempView(check_identifier(name))

    def materialize(self, name: str, sql: str) -> None:
        # cached on first use; Spark keeps what fits in memory and recomputes the rest
        self._df(sql, None).cache().createOrReplaceTempView(check_identifier(name))

    def _df(self, sql: str, params: dict[str, Any] | None) -> Any:
        return self.spark.sql(to_spark_sql(sql), args=params or None)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        return self._df(sql, params).toArrow()

    def schema(self, sql: str, params: dict[str, Any] | None = None) -> pa.Schema:
        return self.query(f"SELECT * FROM ({sql}) AS q LIMIT 0", params).schema

    def write(self, sql: str, out_dir: Path, params: dict[str, Any] | None = None,
              partition_by: str | None = None) -> None:
        df = self._df(sql, params)
        if partition_by:  # one task per partition value: one file per day instead of one per task per day
            df = df.repartition(partition_by)
        writer = df.write.mode("overwrite").option("compression", "zstd")
        if partition_by:
            writer = writer.partitionBy(partition_by)
        writer.parquet(str(out_dir))
        for junk in out_dir.rglob("*"):  # Spark's _SUCCESS and .crc files are not data
            if junk.is_file() and (junk.name.startswith("_") or junk.name.endswith(".crc")):
                junk.unlink()

    def close(self) -> None:
        """Spark sessions are process-wide and expensive; keep it for the next engine."""


def _common_table_dir(files: list[str]) -> str:
    common = Path(os.path.commonpath(files))
    if common.is_file():
        common = common.parent
    while common.name.startswith("dt="):
        common = common.parent
    return str(common)
