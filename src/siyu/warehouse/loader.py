"""``siyu import``: events and entities from one source directory, in one batch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from siyu.warehouse.entities import import_entities
from siyu.warehouse.lake import Lake
from siyu.warehouse.ods import ImportReport, import_events


def import_source(source: Path, lake: Lake | Path, *, progress: Callable[[int], None] | None = None) -> ImportReport:
    """Land ``source/events`` and ``source/entities`` in ``lake``; see :mod:`siyu.warehouse.ods`."""
    lk = lake if isinstance(lake, Lake) else Lake(lake)
    report = import_events(source, lk, progress=progress)
    if source.is_dir():
        counts, files = import_entities(source, lk, report.batch_id)
        report.entity_rows = counts
        report.entity_files.extend(files)
    return report
