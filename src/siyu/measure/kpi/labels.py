"""Person labels for the ``segment`` and ``tag`` KPI breakdowns: (one_id, label) tables."""

from __future__ import annotations

import pyarrow as pa

from siyu.profile.segments import SegmentContext

LABELS_SCHEMA = pa.schema([("one_id", pa.string()), ("label", pa.string())])


def segment_labels(ctx: SegmentContext, names: list[str]) -> pa.Table:
    """Members of each named (or rule-text) segment labelled with the segment; a person in two segments
    counts in both groups, as a breakdown by overlapping audiences should."""
    parts = []
    for name in names:
        sql, params = ctx.members_sql(ctx.rule(name))
        members = ctx.engine.query(f"SELECT DISTINCT one_id FROM ({sql}) AS m", params).column("one_id")
        parts.append(pa.table({"one_id": members.cast(pa.string()),
                               "label": pa.array([name] * len(members), pa.string())}, schema=LABELS_SCHEMA))
    return pa.concat_tables(parts) if parts else LABELS_SCHEMA.empty_table()


def tag_labels(ctx: SegmentContext, tag: str) -> pa.Table:
    """Each person's value of ``tag`` (from ``ads/tag_values``) as the label."""
    got = ctx.engine.query("SELECT one_id, CAST(value AS VARCHAR) AS label FROM tag_values WHERE tag = $tag",
                           {"tag": tag})
    return got.cast(LABELS_SCHEMA)
