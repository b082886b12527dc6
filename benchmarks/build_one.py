"""One engine's full build of one lake, in its own process, so its memory can be measured alone.

``python -m benchmarks.build_one --engine duckdb|spark|pandas --lake DIR --json RESULT.json``
writes ``{"engine", "startup_seconds", "seconds": {step: s}, "rows": {table: n}, "identity": {...}}``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchmarks.frames import dump_json
from siyu.warehouse.build import build
from siyu.warehouse.engine import open_engine
from siyu.warehouse.lake import Lake


def run(engine: str, lake: Path, *, spark_master: str | None = None, spark_memory: str | None = None,
        duckdb_threads: int | None = None) -> dict[str, Any]:
    """Build ``lake`` fully with ``engine``; engine start-up is timed apart from the build steps."""
    t0 = time.perf_counter()
    if engine == "pandas":
        from benchmarks.pandas_build import build_pandas

        startup = time.perf_counter() - t0
        report = build_pandas(Lake(lake))
    else:
        options: dict[str, Any] = {}
        if engine == "spark":
            options = {k: v for k, v in (("master", spark_master), ("memory", spark_memory)) if v}
        elif engine == "duckdb" and duckdb_threads:
            options = {"threads": duckdb_threads}
        eng = open_engine(engine, **options)
        startup = time.perf_counter() - t0
        try:
            report = build(Lake(lake), eng, full=True)
        finally:
            eng.close()
    result = report.as_dict()
    result["startup_seconds"] = round(startup, 3)
    result.pop("days_built", None)
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.build_one", description=__doc__)
    ap.add_argument("--engine", required=True, choices=["duckdb", "spark", "pandas"])
    ap.add_argument("--lake", required=True, type=Path)
    ap.add_argument("--json", required=True, type=Path, help="where to write the result")
    ap.add_argument("--spark-master", default=None)
    ap.add_argument("--spark-memory", default=None)
    ap.add_argument("--duckdb-threads", type=int, default=None)
    args = ap.parse_args(argv)
    result = run(args.engine, args.lake, spark_master=args.spark_master, spark_memory=args.spark_memory,
                 duckdb_threads=args.duckdb_threads)
    dump_json(args.json, result)


if __name__ == "__main__":
    main()
