"""Retention (保存期限): day partitions older than their table's limit are deleted, idempotently.

The source reports advise keeping personal data at most three years, so every day-partitioned table
of the lake (``LAKE/<layer>/<table>/dt=YYYY-MM-DD``: ods events and quarantine, the identity graph's
raw days, dwd, dws, history tables) keeps ``default_days`` unless the policy names a shorter or longer
limit for it. A partition is deleted whole when its day is older than ``today − days``; running again
deletes nothing more. Derived whole-table layers (profiles, KPIs) are recomputed by the next build,
which sees the vanished days. The identity map is not day-partitioned: identifiers (as tokens) of
people whose every event has expired stay until erasure of inactive accounts removes them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from siyu.warehouse.lake import LAYERS, Lake


class RetentionPolicy(BaseModel):
    """How many days each table keeps; ``tables`` maps ``layer/table`` to its own limit."""

    model_config = ConfigDict(extra="forbid")

    default_days: int = Field(3 * 365, ge=1, le=100 * 365)
    tables: dict[str, int] = Field(default_factory=dict)

    @field_validator("tables")
    @classmethod
    def _known_layers(cls, tables: dict[str, int]) -> dict[str, int]:
        for name, days in tables.items():
            layer, _, table = name.partition("/")
            if layer not in LAYERS or not table or "/" in table:
                raise ValueError(f"{name!r}: expected layer/table with a layer among {', '.join(LAYERS)}")
            if not 1 <= days <= 100 * 365:
                raise ValueError(f"{name!r}: days must be within 1..36500, got {days}")
        return tables

    def days_for(self, layer: str, table: str) -> int:
        return self.tables.get(f"{layer}/{table}", self.default_days)


@dataclass
class RetentionReport:
    """What a run deleted (or, in a dry run, would delete): partitions per ``layer/table``."""

    today: date
    dry_run: bool
    deleted: dict[str, list[str]] = field(default_factory=dict)

    @property
    def partitions(self) -> int:
        return sum(len(days) for days in self.deleted.values())


def expired_partitions(lake: Lake, policy: RetentionPolicy, today: date) -> dict[str, list[str]]:
    """``layer/table`` → its day partitions older than the table's limit, oldest first."""
    out: dict[str, list[str]] = {}
    for layer in LAYERS:
        base = lake.root / layer
        if not base.is_dir():
            continue
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            cutoff = today - timedelta(days=policy.days_for(layer, folder.name))
            old = [d for d in _days(folder) if d < cutoff.isoformat()]
            if old:
                out[f"{layer}/{folder.name}"] = old
    return out


def run_retention(lake: Lake, policy: RetentionPolicy | None = None, *, today: date | None = None,
                  dry_run: bool = False) -> RetentionReport:
    """Delete every expired day partition (holding the lake lock, so no build runs meanwhile)."""
    policy = policy or RetentionPolicy(default_days=3 * 365)
    report = RetentionReport(today=today or date.today(), dry_run=dry_run)
    with lake.lock():
        report.deleted = expired_partitions(lake, policy, report.today)
        if not dry_run:
            for name, days in report.deleted.items():
                layer, table = name.split("/", 1)
                for day in days:
                    shutil.rmtree(lake.partition_dir(layer, table, day))
    return report


def _days(folder: Path) -> list[str]:
    out = []
    for p in folder.iterdir():
        if p.is_dir() and p.name.startswith("dt="):
            try:
                out.append(date.fromisoformat(p.name[3:]).isoformat())
            except ValueError:
                continue  # not a day partition: never ours to delete
    return sorted(out)
