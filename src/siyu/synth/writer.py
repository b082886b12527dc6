"""Files of the synthetic world: gzip JSON lines, entity Parquet with the core schemas, truth tables.

Every file is written aside and renamed into place, and everything that could vary between runs is
pinned (gzip mtime and file name, Parquet writer settings), so equal inputs give byte-identical files.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from siyu.core.entities import ENTITIES
from siyu.synth.catalog import Catalog
from siyu.synth.render import to_ms

GZIP_LEVEL = 1


def _aside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp")


def write_lines_gz(path: Path, lines: list[bytes]) -> None:
    """One JSON message per line, gzip-compressed with a fixed header (mtime 0, no file name)."""
    tmp = _aside(path)
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL,
                                               mtime=0) as gz:
        for k in range(0, len(lines), 20_000):
            gz.write(b"\n".join(lines[k:k + 20_000]) + b"\n")
    os.replace(tmp, path)


def write_lines_gb18030(path: Path, lines: Iterable[bytes]) -> int:
    """The WeCom admin export: the same JSON lines, re-encoded from UTF-8 to GB18030."""
    tmp = _aside(path)
    n = 0
    with open(tmp, "wb") as f:
        for line in lines:
            f.write(line.decode("utf-8").encode("gb18030") + b"\n")
            n += 1
    os.replace(tmp, path)
    return n


def write_table(path: Path, table: pa.Table) -> None:
    tmp = _aside(path)
    pq.write_table(table, tmp, compression="zstd", row_group_size=1_000_000)
    os.replace(tmp, path)


def ts_array(start_ms: int, days: Any) -> pa.Array:
    """Float day offsets (``None``/non-finite → null) as the entity timestamp type (µs, UTC)."""
    vals = np.asarray([np.nan if v is None else v for v in days], dtype=np.float64)
    ok = np.isfinite(vals)
    us = np.where(ok, to_ms(start_ms, np.where(ok, vals, 0.0)) * 1000, 0)
    return pa.array(us, type=pa.timestamp("us", tz="UTC"), mask=~ok)


def entity_table(name: str, columns: dict[str, Any], start_ms: int) -> pa.Table:
    """Build an entity table with exactly the schema in :data:`siyu.core.entities.ENTITIES`."""
    schema = ENTITIES[name].schema
    arrays = []
    for f in schema:
        col = columns[f.name]
        if pa.types.is_timestamp(f.type):
            arrays.append(ts_array(start_ms, col).cast(f.type))
        else:
            arrays.append(pa.array(col, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_static_entities(root: Path, cat: Catalog, start_ms: int, start_day: Any,
                          campaign_touches: list[int], acquired: Any = None) -> list[Path]:
    """products, content, staff, groups, campaigns (cost = fixed + touches x unit cost) and spend
    (each campaign's cost on its start day; acquisition spend = planted unit cost x persons acquired)."""
    import datetime as dt

    out = []
    tables: dict[str, dict[str, Any]] = {
        "products": {"sku": cat.skus, "name": cat.product_names, "category": cat.product_category,
                     "product_line": cat.product_line, "price": cat.product_price.tolist()},
        "content": {"content_id": cat.content_ids, "title": cat.content_titles, "content_type": cat.content_type,
                    "category": cat.content_category, "published_at": cat.content_published.tolist()},
        "staff": {"staff_id": cat.staff_ids, "name": cat.staff_names, "role": cat.staff_role,
                  "store_id": [cat.store_ids[s] if s >= 0 else None for s in cat.staff_store],
                  "region": [cat.store_region[s] if s >= 0 else None for s in cat.staff_store]},
        "groups": {"group_id": cat.group_ids, "name": cat.group_names,
                   "owner_staff_id": [cat.staff_ids[o] for o in cat.group_owner],
                   "created_at": cat.group_created.tolist()},
        "campaigns": {
            "campaign_id": [c.campaign_id for c in cat.campaigns], "name": [c.name for c in cat.campaigns],
            "channel": [c.channel for c in cat.campaigns],
            "start_date": [start_day + dt.timedelta(days=c.send_day) for c in cat.campaigns],
            "end_date": [start_day + dt.timedelta(days=c.send_day + 13) for c in cat.campaigns],
            "cost": [round(c.fixed_cost + c.unit_cost * k, 2) for c, k in zip(cat.campaigns, campaign_touches,
                                                                             strict=True)],
            "is_ab_test": [c.is_ab_test for c in cat.campaigns]},
        "spend": _spend(cat, start_day, campaign_touches, acquired),
    }
    for name, cols in tables.items():
        path = root / f"{name}.parquet"
        write_table(path, entity_table(name, cols, start_ms))
        out.append(path)
    return out


def _spend(cat: Catalog, start_day: Any, campaign_touches: list[int], acquired: Any) -> dict[str, list[Any]]:
    import datetime as dt

    from siyu.synth.config import ACQ_CHANNELS, ACQ_UNIT_COST

    cols: dict[str, list[Any]] = {"date": [], "channel": [], "campaign_id": [], "purpose": [], "amount": []}
    for c, k in zip(cat.campaigns, campaign_touches, strict=True):
        for key, value in (("date", start_day + dt.timedelta(days=c.send_day)), ("channel", c.channel),
                           ("campaign_id", c.campaign_id), ("purpose", "campaign"),
                           ("amount", round(c.fixed_cost + c.unit_cost * k, 2))):
            cols[key].append(value)
    if acquired is not None:
        for ch, unit in enumerate(ACQ_UNIT_COST):
            for day, n in enumerate(acquired[ch]):
                if n:
                    for key, value in (("date", start_day + dt.timedelta(days=day)), ("channel", ACQ_CHANNELS[ch]),
                                       ("campaign_id", None), ("purpose", "acquisition"),
                                       ("amount", round(unit * int(n), 2))):
                        cols[key].append(value)
    return cols


def concat_parquet(parts: list[Path], dest: Path) -> int:
    """Stream parquet parts into one file (row group by row group) and delete the parts."""
    tmp = _aside(dest)
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for part in parts:
            table = pq.read_table(part)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            if table.num_rows:
                writer.write_table(table, row_group_size=1_000_000)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, dest)
    for part in parts:
        part.unlink()
    return rows
