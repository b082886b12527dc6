"""Build the serving files in their own process, timed, for the service benchmark.

``python -m benchmarks.service_snapshot --lake LAKE --json RESULT``

Calls :func:`siyu.serving.snapshot.build_snapshot` and :func:`siyu.serving.segment_store.build_segment_store`
and records the lake's fingerprint for each exactly as ``SnapshotKeeper`` does, so a ``siyu serve``
started afterwards serves these and does not rebuild them. Writes seconds, file size and row counts per
table of the look-up snapshot, and seconds and size of the segment store.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

from siyu.serving.keeper import fingerprint_file, lake_fingerprint
from siyu.serving.segment_store import build_segment_store
from siyu.serving.snapshot import build_snapshot
from siyu.warehouse.lake import Lake


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.service_snapshot", description=__doc__)
    ap.add_argument("--lake", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)
    lake = Lake(args.lake)
    fingerprint = lake_fingerprint(lake)  # before the build, as the keeper does: changes meanwhile are seen later
    t = time.perf_counter()
    path = build_snapshot(lake)
    seconds = time.perf_counter() - t
    fingerprint_file(lake, "snapshot").write_text(fingerprint, encoding="utf-8")
    t = time.perf_counter()
    store = build_segment_store(lake)
    store_seconds = time.perf_counter() - t
    fingerprint_file(lake, "segments").write_text(fingerprint, encoding="utf-8")
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "ORDER BY table_name").fetchall()]
        rows = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # type: ignore[index]
    finally:
        con.close()
    args.json.write_text(json.dumps({"seconds": round(seconds, 3), "path": str(path),
                                     "bytes": path.stat().st_size, "rows": rows,
                                     "segment_store": {"seconds": round(store_seconds, 3),
                                                       "bytes": store.stat().st_size}}, indent=1))


if __name__ == "__main__":
    main()
