"""One profile-benchmark task in its own process, so its memory can be measured alone.

``python -m benchmarks.profile_one --task tags --engine duckdb|spark|pandas --lake DIR --tags DIR --json OUT``
(pandas also takes ``--facts DIR``: the DuckDB lake whose profile facts it reads);
``--task segments --lake DIR --json OUT [--repeats 5]``;
``--task realtime --lake DIR --json OUT [--people 10000] [--events 200000] [--seed 7]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchmarks.frames import dump_json
from siyu.warehouse.lake import Lake


def build_tags_on(engine: str, lake: Path, tags: Path, *, facts: Path | None = None, spark_master: str | None = None,
                  spark_memory: str | None = None) -> dict[str, Any]:
    """``build_tags`` (full) with one engine, or the pandas baseline; engine start-up timed apart."""
    t0 = time.perf_counter()
    if engine == "pandas":
        from benchmarks.pandas_tags import build_tags_pandas

        if facts is None:
            raise SystemExit("the pandas baseline needs --facts (the DuckDB lake with the profile facts)")
        startup = time.perf_counter() - t0
        result = build_tags_pandas(Lake(lake), tags, Lake(facts))
        result["startup_seconds"] = round(startup, 3)
        return result
    from siyu.profile.tags.build import build_tags
    from siyu.warehouse.engine import open_engine

    options = {k: v for k, v in (("master", spark_master), ("memory", spark_memory)) if v} if engine == "spark" else {}
    eng = open_engine(engine, **options)
    startup = time.perf_counter() - t0
    try:
        report = build_tags(Lake(lake), tags, eng, full=True)
        people = int(eng.query("SELECT count(*) AS n FROM profile")["n"][0].as_py())
    finally:
        eng.close()
    result = report.as_dict()
    result["built"] = len(report.built)
    result["carried"] = len(report.carried)
    result.update(people=people, startup_seconds=round(startup, 3))
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.profile_one", description=__doc__)
    ap.add_argument("--task", required=True, choices=["tags", "segments", "realtime"])
    ap.add_argument("--lake", required=True, type=Path)
    ap.add_argument("--json", required=True, type=Path, help="where to write the result")
    ap.add_argument("--engine", choices=["duckdb", "spark", "pandas"], default="duckdb")
    ap.add_argument("--tags", type=Path, help="folder of tag definitions (task tags)")
    ap.add_argument("--facts", type=Path, help="lake with the profile facts (pandas)")
    ap.add_argument("--spark-master", default=None)
    ap.add_argument("--spark-memory", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if args.task == "tags":
        if args.tags is None:
            ap.error("--task tags needs --tags")
        result = build_tags_on(args.engine, args.lake, args.tags, facts=args.facts, spark_master=args.spark_master,
                               spark_memory=args.spark_memory)
    elif args.task == "segments":
        from benchmarks.profile_live import segment_sizes

        result = segment_sizes(args.lake, args.repeats)
    else:
        from benchmarks.profile_live import realtime

        result = realtime(args.lake, args.people, args.events, args.seed)
    dump_json(args.json, result)


if __name__ == "__main__":
    main()
