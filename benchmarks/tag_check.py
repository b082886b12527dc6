"""Same tags? ``ads/tag_values`` of one lake against another: rows, values exactly, scores within 1e-6.

The comparison is an Arrow hash join (compact and multi-threaded: at a million people each side holds
tens of millions of rows); only the differing rows are turned into pandas, to be printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console

from siyu.warehouse.lake import Lake

KEY = ["one_id", "tag"]


def read_tag_values(lake: Path) -> pa.Table:
    return pq.read_table(Lake(lake).files("ads", "tag_values"), columns=["one_id", "tag", "value", "score"])


def _duplicates(t: pa.Table) -> int:
    return t.num_rows - t.group_by(KEY).aggregate([]).num_rows


def _count(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


def compare_tag_values(mine: Path, ref: Path, *, tolerance: float = 1e-6, console: Console | None = None,
                       show: int = 10) -> dict[str, Any]:
    """Rows only in one lake, rows whose value differs, rows whose score differs by more than ``tolerance``."""
    a, b = read_tag_values(mine), read_tag_values(ref)
    dups = [_duplicates(a), _duplicates(b)]
    a = a.append_column("_mine", pa.array([True] * a.num_rows, pa.bool_()))
    b = b.append_column("_ref", pa.array([True] * b.num_rows, pa.bool_()))
    j = a.join(b, keys=KEY, join_type="full outer", right_suffix="_ref", coalesce_keys=True)
    only_mine = pc.is_null(j["_ref"])
    only_ref = pc.is_null(j["_mine"])
    both = pc.and_(pc.is_valid(j["_mine"]), pc.is_valid(j["_ref"]))
    same_value = pc.or_(pc.fill_null(pc.equal(j["value"], j["value_ref"]), False),
                        pc.and_(pc.is_null(j["value"]), pc.is_null(j["value_ref"])))
    gap = pc.abs(pc.subtract(j["score"], j["score_ref"]))
    same_score = pc.or_(pc.fill_null(pc.less_equal(gap, tolerance), False),
                        pc.and_(pc.is_null(j["score"]), pc.is_null(j["score_ref"])))
    value_diff = pc.and_(both, pc.invert(same_value))
    score_diff = pc.and_(both, pc.invert(same_score))
    bad = pc.or_(pc.or_(only_mine, only_ref), pc.or_(value_diff, score_diff))
    wrong = j.filter(bad)
    per_tag = {r["tag"]: r["tag_count"] for r in wrong.group_by("tag").aggregate([("tag", "count")]).to_pylist()}
    per_tag = dict(sorted(per_tag.items(), key=lambda kv: -kv[1]))
    biggest = pc.max(pc.filter(gap, both)).as_py() if j.num_rows else None
    result: dict[str, Any] = {
        "rows": [a.num_rows, b.num_rows], "duplicates": dups, "only_mine": _count(only_mine),
        "only_ref": _count(only_ref), "value_differs": _count(value_diff), "score_differs": _count(score_diff),
        "tags": [len(pc.unique(a["tag"])), len(pc.unique(b["tag"]))], "tags_differing": per_tag,
        "max_score_gap": float(biggest or 0.0),
    }
    result["identical"] = wrong.num_rows == 0 and dups == [0, 0]
    if console is not None and not result["identical"]:
        console.print(f"[red]{mine.name} vs {ref.name}: {wrong.num_rows:,} differing rows[/] in {len(per_tag)} "
                      f"tag(s): {dict(list(per_tag.items())[:10])}; duplicates {dups}")
        sample = wrong.slice(0, show).drop_columns(["_mine", "_ref"]).to_pandas()
        console.print(sample.to_string(index=False), markup=False)
    return result
