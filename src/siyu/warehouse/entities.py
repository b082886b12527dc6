"""Landing of entity exports (orders, products, staff, …) into ``lake/ods/entities_<name>``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from siyu.core.entities import ENTITIES, EntitySpec
from siyu.core.errors import BadInputFile
from siyu.core.identifiers import BadIdentifier, IdentifierType, stored_value
from siyu.warehouse.lake import Lake
from siyu.warehouse.ods import FileReport, file_digest

ENTITY_SUFFIXES = (".parquet", ".csv", ".jsonl")


def entity_files(source: Path) -> Iterator[tuple[EntitySpec, Path]]:
    """``(spec, file)`` for ``source/entities/<name>.<ext>`` and ``source/entities/<name>/*.<ext>``."""
    root = source / "entities"
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if not path.is_file() or not path.name.endswith(ENTITY_SUFFIXES) or path.name.startswith((".", "_")):
            continue
        name = path.parent.name if path.parent != root else path.name.split(".")[0]
        spec = ENTITIES.get(name)
        if spec is not None:
            yield spec, path


def read_entity_file(spec: EntitySpec, path: Path) -> pa.Table:
    """Read and conform one entity file to its schema, or raise :class:`BadInputFile` saying why."""
    try:
        if path.name.endswith(".parquet"):
            table = pq.read_table(path)
        elif path.name.endswith(".csv"):
            table = pacsv.read_csv(path)
        else:
            table = pajson.read_json(path)
    except (pa.ArrowException, OSError) as exc:
        raise BadInputFile(f"cannot read {spec.name} file: {exc}", input_name=str(path)) from None
    missing = [f.name for f in spec.schema if f.name not in table.column_names]
    if missing:
        raise BadInputFile(f"{spec.name} file lacks column(s) {missing}; expected {spec.schema.names}",
                           code="missing_column", input_name=str(path))
    try:
        table = table.select(spec.schema.names).cast(spec.schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise BadInputFile(f"{spec.name} columns have wrong types: {exc}", code="wrong_type",
                           input_name=str(path)) from None
    for col in spec.phone_columns:
        table = table.set_column(table.schema.get_field_index(col), col, _hash_phones(table[col]))
    return table


def _hash_phones(column: pa.ChunkedArray) -> pa.Array:
    cache: dict[str, str | None] = {}
    out: list[str | None] = []
    for raw in column.to_pylist():
        if raw is None:
            out.append(None)
            continue
        if raw not in cache:
            try:
                cache[raw] = stored_value(IdentifierType.PHONE, raw)
            except BadIdentifier:
                cache[raw] = None
        out.append(cache[raw])
    return pa.array(out, pa.string())


def import_entities(source: Path, lake: Lake, batch_id: str) -> tuple[dict[str, int], list[FileReport]]:
    """Land entity files; an unreadable file is reported and the others still land."""
    ledger = lake.read_state("imports")
    counts: dict[str, int] = {}
    reports: list[FileReport] = []
    for spec, path in entity_files(source):
        fr = FileReport(path=str(path), encoding="n/a")
        reports.append(fr)
        digest = file_digest(path)
        if digest in ledger:
            fr.skipped_already_imported = True
            continue
        try:
            table = read_entity_file(spec, path)
        except BadInputFile as exc:
            fr.error = str(exc)
            continue
        table = table.append_column("batch_id", pa.array([batch_id] * table.num_rows, pa.string()))
        lake.write_file("ods", f"entities_{spec.name}", f"b-{digest}.parquet", table)
        fr.accepted = table.num_rows
        counts[spec.name] = counts.get(spec.name, 0) + table.num_rows
        ledger[digest] = {"path": str(path), "batch_id": batch_id, "accepted": table.num_rows,
                          "loaded_at": datetime.now(UTC).isoformat()}
        lake.write_state("imports", ledger)
    return counts, reports
