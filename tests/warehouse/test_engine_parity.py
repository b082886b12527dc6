"""The same ODS built on DuckDB and on Spark gives identical ADS (and DWS) tables."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siyu.cli.profile_cmds import default_tag_defs
from siyu.profile.tags.build import build_tags
from siyu.synth import generate_world
from siyu.warehouse.build import build
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source

pytestmark = pytest.mark.spark


def _normalised(lake: Lake, layer: str, table: str) -> pa.Table:
    t = pq.read_table(lake.files(layer, table), partitioning="hive")
    # Engines name the same instant in different time-zone metadata; compare instants in UTC.
    cols = []
    for field in t.schema:
        col = t[field.name]
        if pa.types.is_timestamp(field.type):
            col = col.cast(pa.timestamp("us", tz="UTC"))
        elif pa.types.is_dictionary(field.type):
            col = col.cast(field.type.value_type)
        cols.append(col)
    t = pa.table(dict(zip(t.column_names, cols, strict=True)))
    if "dt" in t.column_names:
        t = t.set_column(t.column_names.index("dt"), "dt", t["dt"].cast(pa.string()))
    return t.sort_by([(c, "ascending") for c in t.column_names])


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory, spark_engine: Engine) -> dict[str, Lake]:
    """One small world built on each engine, then profiled and tagged with the example tag set."""
    tmp_path = tmp_path_factory.mktemp("parity")
    generate_world(tmp_path / "world", users=1200, days=40, seed=11)
    base = Lake(tmp_path / "base")
    import_source(tmp_path / "world", base)
    built = {}
    for name, eng in (("duckdb", open_engine("duckdb")), ("spark", spark_engine)):
        shutil.copytree(tmp_path / "base", tmp_path / name)
        built[name] = Lake(tmp_path / name)
        build(built[name], eng)
        build_tags(built[name], default_tag_defs(), eng)
    return built


def _same(lakes: dict[str, Lake], layer: str, table: str) -> None:
    d, s = _normalised(lakes["duckdb"], layer, table), _normalised(lakes["spark"], layer, table)
    assert d.num_rows > 0, (layer, table)
    assert d.column_names == s.column_names, (layer, table)
    for col in d.column_names:
        assert d[col].cast(s[col].type).to_pylist() == s[col].to_pylist(), (layer, table, col)


@pytest.mark.parametrize("table", ["rfm", "lifecycle", "tiers", "tag_values", "tag_values_changes",
                                   "lifecycle_changes"])
def test_duckdb_and_spark_profile_and_tags_are_identical(lakes: dict[str, Lake], table: str) -> None:
    _same(lakes, "ads", table)


def test_duckdb_and_spark_build_identical_tables(lakes: dict[str, Lake]) -> None:
    for layer, table in (("ads", "profiles"), ("ads", "kpi_daily"), ("ads", "id_map"), ("dws", "user_daily"),
                         ("dwd", "orders")):
        _same(lakes, layer, table)
