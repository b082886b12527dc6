"""Build a serving snapshot in its own process, timed, for the service benchmark.

``python -m benchmarks.service_snapshot --lake LAKE --json RESULT``

Calls :func:`siyu.serving.snapshot.build_snapshot` and then records the lake's fingerprint exactly as
``SnapshotKeeper`` does after a build, so a ``siyu serve`` started afterwards serves this snapshot and does
not rebuild it. Writes seconds, file size and row counts per table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

from siyu.serving.keeper import lake_fingerprint
from siyu.serving.snapshot import build_snapshot, serving_dir
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
    (serving_dir(lake) / "fingerprint").write_text(fingerprint, encoding="utf-8")
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "ORDER BY table_name").fetchall()]
        rows = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # type: ignore[index]
    finally:
        con.close()
    args.json.write_text(json.dumps({"seconds": round(seconds, 3), "path": str(path),
                                     "bytes": path.stat().st_size, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
