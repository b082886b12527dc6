"""Segment operations for the API: one DuckDB context per lake version, used one request at a time.

Opening the profile views costs a directory listing per table, so the context is kept and reopened
only when the lake's fingerprint changes. A DuckDB connection is not for concurrent use, so calls
take a lock: segment sizes are sub-second on DuckDB and queue behind each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

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
from siyu.serving.keeper import lake_fingerprint
from siyu.warehouse.engine.duckdb_engine import DuckDBEngine
from siyu.warehouse.lake import Lake

T = TypeVar("T")


def explanation_dict(node: ExplainNode) -> dict[str, Any]:
    return asdict(node)


class SegmentService:
    """Size, preview, export and per-person membership of rules against the current lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._lock = threading.Lock()
        self._ctx: SegmentContext | None = None
        self._fingerprint: str | None = None

    def _context(self, segments: dict[str, SegmentDefinition]) -> SegmentContext:
        fp = lake_fingerprint(self.lake)
        if self._ctx is None or fp != self._fingerprint:
            if self._ctx is not None:
                self._ctx.engine.close()
            self._ctx, self._fingerprint = open_profile(self.lake, DuckDBEngine()), fp
        self._ctx.segments = segments
        return self._ctx

    def run(self, segments: dict[str, SegmentDefinition], work: Callable[[SegmentContext], T]) -> T:
        """Call ``work`` with a current context holding ``segments`` (for ``in_segment`` references)."""
        with self._lock:
            return work(self._context(segments))

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
               fmt: Literal["csv", "parquet"]) -> int:
        return self.run(segments, lambda ctx: export_segment(ctx, rule, out, fmt))

    def membership(self, segments: dict[str, SegmentDefinition], rule: Rule, one_id: str) -> tuple[ExplainNode, date]:
        def work(ctx: SegmentContext) -> tuple[ExplainNode, date]:
            person = people_data(ctx, [one_id])[one_id]
            return explain_rule(rule, person, ctx.as_of, segment_rule=ctx.segment_rule, schema=ctx.schema), ctx.as_of
        return self.run(segments, work)

    def close(self) -> None:
        with self._lock:
            if self._ctx is not None:
                self._ctx.engine.close()
            self._ctx = None
