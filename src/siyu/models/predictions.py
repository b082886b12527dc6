"""Model outputs in the lake: ``models/<name>_predictions``, one row per person, read by predictive tags."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from siyu.core.errors import SiyuError
from siyu.warehouse.lake import Lake

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,50}$")


def predictions_table_name(model: str) -> str:
    """``churn`` → ``churn_predictions`` (the table under the lake's ``models/`` layer)."""
    if not _NAME.match(model):
        raise SiyuError(f"model name {model!r} must be lower-case letters, digits and _", code="bad_model_name")
    return f"{model}_predictions"


def write_predictions(lake: Lake, model: str, table: pa.Table) -> Path:
    """Atomically replace ``models/<model>_predictions`` with ``table``; it must have one row per ``one_id``.

    Readers (tags, the API) see the old table or the new one, never half of either.
    """
    if "one_id" not in table.column_names:
        raise SiyuError(f"predictions of {model!r} have no one_id column", code="bad_predictions")
    ids = table.column("one_id")
    if ids.null_count:
        raise SiyuError(f"predictions of {model!r} have {ids.null_count} rows without a one_id", code="bad_predictions")
    if len(pc.unique(ids)) != table.num_rows:
        raise SiyuError(f"predictions of {model!r} have more than one row for some one_id", code="bad_predictions")
    name = predictions_table_name(model)
    with lake.staging("models", name) as tmp:
        pq.write_table(table, tmp / "part-00000.parquet", compression="zstd")
        pq.write_table(table.schema.empty_table(), tmp / "_schema.parquet")
        lake.replace_table("models", name, tmp)
    return lake.table_dir("models", name)


def read_predictions(lake: Lake, model: str) -> pa.Table | None:
    """The model's current predictions, or None when it has not written any."""
    folder = lake.table_dir("models", predictions_table_name(model))
    part = folder / "part-00000.parquet"
    return pq.read_table(part) if part.exists() else None


def write_model_table(lake: Lake, name: str, table: pa.Table) -> Path:
    """Atomically replace the shared table ``models/<name>`` (a model output that is not one row per
    person, e.g. basket rules)."""
    predictions_table_name(name)  # the same naming rule
    with lake.staging("models", name) as tmp:
        pq.write_table(table, tmp / "part-00000.parquet", compression="zstd")
        pq.write_table(table.schema.empty_table(), tmp / "_schema.parquet")
        lake.replace_table("models", name, tmp)
    return lake.table_dir("models", name)
