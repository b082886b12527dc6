"""Segment operations for the API: one DuckDB context per published segment store, one request at a time.

Rules run against the segment store the keeper publishes after each build (``segment_store``), so
a size is a scan of native DuckDB tables, and a build swapping lake files cannot change what a query
reads halfway through. Before the first store exists they run against the lake's views, holding the
lake lock shared so no build replaces a table under them. A DuckDB connection is not for concurrent
use, so calls take a lock and queue behind each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

from siyu.core.errors import SiyuError
from siyu.privacy.consent_ledger import ConsentLedger
from siyu.profile.rules import ExplainNode, explain_rule
from siyu.profile.rules.ast import Rule
from siyu.profile.segments import (
    SegmentContext,
    SegmentDefinition,
    export_segment,
    open_profile,
    people_data,
    segment_preview,
    segment_size,
)
from siyu.serving.consent_check import consented_members
from siyu.serving.keeper import lake_fingerprint
from siyu.serving.segment_store import open_segment_store
from siyu.serving.snapshot import current_file
from siyu.warehouse.engine import Engine
from siyu.warehouse.engine.duckdb_engine import DuckDBEngine
from siyu.warehouse.lake import Lake, LakeBusy

#: How long a request waits for a running build before answering 503 (only before the first store).
LAKE_WAIT_SECONDS = 20.0

T = TypeVar("T")


def explanation_dict(node: ExplainNode) -> dict[str, Any]:
    return asdict(node)


class SegmentService:
    """Size, preview, export and per-person membership of rules against the current lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._lock = threading.Lock()
        self._ctx: SegmentContext | None = None
        self._key: str | None = None

    @property
    def source(self) -> str | None:
        """``store:<file>`` or ``lake:<fingerprint>``: what the open context reads."""
        return self._key

    def _context(self, segments: dict[str, SegmentDefinition], store: Path | None) -> SegmentContext:
        key = f"store:{store.name}" if store else f"lake:{lake_fingerprint(self.lake)}"
        if self._ctx is None or key != self._key:
            old, self._ctx, self._key = self._ctx, None, None
            if old is not None:
                old.engine.close()
            self._ctx = open_segment_store(store, self.lake) if store else open_profile(self.lake, DuckDBEngine())
            self._key = key
        self._ctx.segments = segments
        return self._ctx

    def run(self, segments: dict[str, SegmentDefinition], work: Callable[[SegmentContext], T]) -> T:
        """Call ``work`` with a current context holding ``segments`` (for ``in_segment`` references)."""
        with self._lock:
            store = current_file(self.lake, "segments")
            if store is not None:
                return work(self._context(segments, store))
            try:
                with self.lake.lock(shared=True, timeout=LAKE_WAIT_SECONDS):
                    return work(self._context(segments, None))
            except LakeBusy:
                raise SiyuError("a build is rewriting the lake and no segment store is published yet; "
                                "try again shortly", code="not_ready") from None

    def refresh(self) -> None:
        """A new store was published: drop the old context now so its file can be removed."""
        with self._lock:
            if self._ctx is not None:
                self._ctx.engine.close()
            self._ctx, self._key = None, None

    def check(self, segments: dict[str, SegmentDefinition], rule: str | dict[str, Any]) -> Rule:
        return self.run(segments, lambda ctx: ctx.rule(rule))

    def size(self, segments: dict[str, SegmentDefinition], rule: Rule) -> tuple[int, int, date]:
        """Members, population and the day the facts are for."""
        def work(ctx: SegmentContext) -> tuple[int, int, date]:
            population = int(ctx.engine.query("SELECT count(*) AS n FROM profile")["n"][0].as_py())
            return segment_size(ctx, rule), population, ctx.as_of
        return self.run(segments, work)

    def preview(self, segments: dict[str, SegmentDefinition], rule: Rule, limit: int) -> tuple[list[dict[str, Any]],
                                                                                               date]:
        return self.run(segments, lambda ctx: (segment_preview(ctx, rule, limit).to_pylist(), ctx.as_of))

    def export(self, segments: dict[str, SegmentDefinition], rule: Rule, out: Path,
               fmt: Literal["csv", "parquet"], *, purpose: str, ledger: ConsentLedger | None) -> int:
        """Members who may be used for ``purpose`` (consent as of now: the store's facts plus the ledger)."""
        def work(ctx: SegmentContext) -> int:
            def allowed(engine: Engine, sql: str) -> str:
                return consented_members(engine, sql, purpose, ledger=ledger, snapshot_built_at=ctx.built_at)
            return export_segment(ctx, rule, out, fmt, allowed=allowed)
        return self.run(segments, work)

    def membership(self, segments: dict[str, SegmentDefinition], rule: Rule, one_id: str) -> tuple[ExplainNode, date]:
        def work(ctx: SegmentContext) -> tuple[ExplainNode, date]:
            person = people_data(ctx, [one_id])[one_id]
            return explain_rule(rule, person, ctx.as_of, segment_rule=ctx.segment_rule, schema=ctx.schema), ctx.as_of
        return self.run(segments, work)

    def close(self) -> None:
        self.refresh()
