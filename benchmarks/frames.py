"""Small pandas ⇄ lake helpers for the pandas baseline: reading partitions, money as cents, writing.

Money is carried as integer cents (nullable ``Int64``) inside pandas, so sums are exact like the SQL's
``DECIMAL(18,2)``, and turned back into ``decimal128(18,2)`` when written.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from siyu.warehouse.lake import Lake

MONEY = pa.decimal128(18, 2)


def partition_files(lake: Lake, layer: str, table: str, day: str) -> list[str]:
    folder = lake.partition_dir(layer, table, day)
    if not folder.exists():
        return []
    return sorted(str(p) for p in folder.glob("*.parquet") if not p.name.startswith((".", "_")))


def read_files(files: list[str], columns: list[str] | None = None, money: tuple[str, ...] = (),
               filters: list[tuple[str, str, Any]] | None = None) -> pd.DataFrame:
    """Parquet files → pandas; decimal ``money`` columns become Int64 cents."""
    table = pq.read_table(files, columns=columns, filters=filters, partitioning=None) if files else None
    if table is None:
        return pd.DataFrame(columns=columns or [])
    for name in money:
        if name in table.column_names:
            table = table.set_column(table.schema.get_field_index(name), name, decimal_to_cents(table[name]))
    return table.to_pandas()


def read_partitioned(lake: Lake, layer: str, table: str, columns: list[str] | None = None,
                     money: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every ``dt=`` partition of a table, with ``dt`` as a ``datetime64`` day column."""
    frames = []
    for day in lake.partitions(layer, table):
        df = read_files(partition_files(lake, layer, table, day), columns, money)
        df["dt"] = pd.Timestamp(day)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=[*(columns or []), "dt"])
    return pd.concat(frames, ignore_index=True)


def decimal_to_cents(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``decimal128(18,2)`` (or a float) → int64 cents, nulls kept."""
    as_float = pc.cast(arr, pa.float64())
    return pc.cast(pc.round(pc.multiply(as_float, 100.0)), pa.int64())


def cents_to_decimal(cents: pd.Series) -> pa.Array:
    """Int64 cents → ``decimal128(18,2)`` exactly (the unscaled value *is* the cents)."""
    values = cents.astype("Int64")
    mask = values.isna().to_numpy()
    low = values.fillna(0).to_numpy(dtype=np.int64)
    words = np.empty(2 * len(low), dtype=np.int64)
    words[0::2] = low
    words[1::2] = np.where(low < 0, -1, 0)  # two's complement sign extension to 128 bits
    validity = pa.array(~mask).buffers()[1] if mask.any() else None
    return pa.Array.from_buffers(MONEY, len(low), [validity, pa.py_buffer(words.tobytes())],
                                 null_count=int(mask.sum()))


def to_arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """A frame → an Arrow table of ``schema`` (cents → decimals, day columns → date32)."""
    arrays = []
    for f in schema:
        col = df[f.name]
        if pa.types.is_decimal(f.type):
            arrays.append(cents_to_decimal(col))
        elif pa.types.is_date32(f.type):
            days = pd.to_datetime(col)
            arrays.append(pa.array(days.dt.date.where(days.notna(), None), f.type, from_pandas=True))
        elif pa.types.is_timestamp(f.type):
            arrays.append(pa.array(pd.to_datetime(col, utc=True), f.type, from_pandas=True))
        else:
            arrays.append(pa.array(col, f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_table(folder: Path, table: pa.Table) -> None:
    """Replace ``folder`` by one zstd parquet file holding ``table`` (written aside, then renamed)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    pq.write_table(table, tmp / "part-0.parquet", compression="zstd")
    if folder.exists():
        old = folder.parent / f".old-{folder.name}-{uuid.uuid4().hex[:8]}"
        os.rename(folder, old)
        os.rename(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, folder)


def factor_min(keys: list[pd.Series], values: pd.Series) -> pd.Series:
    """Per-group minimum of a string column, via order-preserving codes (fast where ``min`` on objects is not)."""
    codes, uniques = pd.factorize(values, sort=True)
    best = pd.Series(codes, index=values.index).groupby(keys, sort=False).min()
    return pd.Series(np.asarray(uniques, dtype=object)[best.to_numpy()], index=best.index)


def row_count(lake: Lake, layer: str, table: str) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in lake.files(layer, table))


def json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, default=json_default, ensure_ascii=False))
