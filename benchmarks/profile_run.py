"""The profile benchmark: 300 tags on DuckDB, Spark local and pandas in one run; segment size; real time.

``python -m benchmarks.profile_run [--lake BUILT_LAKE | --users 1000000 --days 180 --seed 7] [--out bench-out]
[--engines duckdb,spark,pandas] [--parts tags,segments,realtime]``

1. the lake: ``--lake`` (a lake ``siyu build`` / ``benchmarks.run`` built), or one built here from a synthetic
   world with ``benchmarks.run``'s world / import / build steps (``OUT/lake-duckdb``);
2. the tag set: 300 generated tags written to ``OUT/tags/`` and checked like ``siyu tags validate``;
3. per engine, a hard-linked copy ``OUT/profile-lake-<engine>`` without earlier profile outputs, built fully
   by ``python -m benchmarks.profile_one`` in its own process while the RSS of its process tree is sampled;
   pandas reads the profile facts from DuckDB's copy, so DuckDB runs first;
4. every engine's ``ads/tag_values`` must equal DuckDB's (scores within 1e-6);
5. segment sizes and real-time latency on DuckDB's copy; ``OUT/profile-results.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from benchmarks.frames import dump_json
from benchmarks.profile_report import markdown, print_results
from benchmarks.run import GIB, REPO, _tree_rss, check_disk, console, ensure_world, import_world, link_copy, machine
from benchmarks.run import run_engine as build_warehouse
from benchmarks.tag_check import compare_tag_values
from benchmarks.tag_set import TAG_COUNT, write_tag_set
from siyu.warehouse.lake import Lake

ENGINES = ("duckdb", "spark", "pandas")
PARTS = ("tags", "segments", "realtime")
#: Without it Spark runs out of memory broadcasting the hundreds of small join sides of one level's UNION ALL
#: (``Not enough memory to build and broadcast the table``), at 2,000 people already, with the default 4g.
SPARK_CONF = ("spark.sql.autoBroadcastJoinThreshold=-1",)
#: What a tag build writes: removed from each engine's copy so every build starts from the warehouse alone.
PROFILE_OUTPUTS = ("rfm", "lifecycle", "lifecycle_changes", "tiers", "tiers_changes", "tag_values",
                   "tag_values_changes", "tag_catalogue", "segment_members", "segment_members_changes")


def source_fingerprint() -> str:
    """Hash of siyu's source: others edit it while benchmarks run, so every result says which code it timed."""
    h = hashlib.sha256()
    for path in sorted((REPO / "src" / "siyu").rglob("*.py")):
        h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def fresh_copy(src: Path, dst: Path) -> None:
    """A hard-linked copy of ``src`` without profile outputs (builds write new files and rename them in)."""
    link_copy(src, dst)
    for table in PROFILE_OUTPUTS:
        shutil.rmtree(dst / "ads" / table, ignore_errors=True)
    for level in (dst / "ads").glob("_tag_level_*"):
        shutil.rmtree(level, ignore_errors=True)
    (dst / "_state" / "tags.json").unlink(missing_ok=True)


def run_child(label: str, args: list[str], out: Path, sample_interval: float,
              extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """``python -m benchmarks.profile_one ARGS --json …`` with its process tree's peak RSS and wall time."""
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    result_path, log_path = logs / f"profile-{label}.json", logs / f"profile-{label}.log"
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.profile_one", *args, "--json", str(result_path)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           **(extra_env or {})}
    peak = 0
    t = time.perf_counter()
    with log_path.open("w") as log, console.status(f"{label}…") as status:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        proc = psutil.Process(child.pid)
        while child.poll() is None:
            rss = _tree_rss(proc)
            peak = max(peak, rss)
            status.update(f"{label}… {time.perf_counter() - t:,.0f} s, RSS {rss / GIB:.2f} GiB (peak {peak / GIB:.2f})")
            time.sleep(sample_interval)
    wall = time.perf_counter() - t
    res: dict[str, Any] = {"exit_code": child.returncode, "wall_seconds": round(wall, 3), "peak_rss_bytes": peak,
                           "log": str(log_path)}
    if child.returncode == 0 and result_path.exists():
        res.update(json.loads(result_path.read_text()))
        console.print(f"{label}: {wall:,.1f} s wall, peak RSS {peak / GIB:.2f} GiB")
    else:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        res["error"] = "\n".join(tail)
        console.print(f"[bold red]{label} failed[/] (exit {child.returncode}); log: {log_path}")
        console.print("\n".join(tail), markup=False)
    return res


def source_lake(args: argparse.Namespace, out: Path, results: dict[str, Any]) -> Path:
    """``--lake``, or a world synthesised, imported and built with DuckDB by ``benchmarks.run``'s steps."""
    if args.lake is not None:
        lake = args.lake.resolve()
        if not Lake(lake).exists("ads", "profiles"):
            console.print(f"[bold red]{lake} is not a built lake[/] (no ads/profiles): run `siyu build` first")
            sys.exit(2)
        meta = lake.parent / "world.json"  # a lake benchmarks.run built: say which world it holds
        if meta.exists():
            results["params"].update({k: json.loads(meta.read_text())["params"].get(k) for k in ("users", "days")})
        return lake
    results["disk_free_gib_at_start"] = round(check_disk(out, args.min_free_gb, args.users, args.days), 1)
    world = ensure_world(out, args.users, args.days, args.seed)
    results["world"] = {k: world.get(k) for k in ("reused", "seconds", "lines_written", "valid_events", "orders")}
    results["import"] = import_world(out, world)
    warehouse = build_warehouse("duckdb", out, args)
    results["warehouse_build"] = {k: warehouse.get(k) for k in ("exit_code", "total_seconds", "wall_seconds",
                                                                "peak_rss_bytes", "rows")}
    if "error" in warehouse:
        sys.exit(1)
    return out / "lake-duckdb"


def run_tags(engines: list[str], lake: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for engine in engines:
        copy = out / f"profile-lake-{engine}"
        fresh_copy(lake, copy)
        cmd = ["--task", "tags", "--engine", engine, "--lake", str(copy), "--tags", str(out / "tags")]
        if engine == "pandas":
            if "seconds" not in found.get("duckdb", {}):
                found[engine] = {"error": "pandas reads the profile facts DuckDB built: run duckdb first",
                                 "exit_code": None, "log": None}
                continue
            cmd += ["--facts", str(out / "profile-lake-duckdb")]
        env = {}
        if engine == "spark":
            cmd += ["--spark-master", args.spark_master] + (["--spark-memory", args.spark_memory]
                                                            if args.spark_memory else [])
            if args.spark_conf:  # e.g. spark.sql.autoBroadcastJoinThreshold=-1, through spark-submit's arguments
                confs = " ".join(f"--conf {c}" for c in args.spark_conf)
                env["PYSPARK_SUBMIT_ARGS"] = f"{confs} pyspark-shell"
        found[engine] = run_child(f"tags-{engine}", cmd, out, args.sample_interval, env)
    return found


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.profile_run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lake", type=Path, default=None, help="a built lake (default: build one from --users/--days)")
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, of duckdb,spark,pandas")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated, of tags,segments,realtime")
    ap.add_argument("--spark-master", default="local[*]", help="Spark master URL (default: every core)")
    ap.add_argument("--spark-memory", default=None, help="Spark driver memory, e.g. 8g (default: the engine's)")
    ap.add_argument("--spark-conf", action="append", default=None, metavar="KEY=VALUE",
                    help="Spark setting for the tag build, repeatable; replaces the default "
                         f"{' '.join(SPARK_CONF)}")
    ap.add_argument("--repeats", type=int, default=5, help="timed segment_size runs per rule")
    ap.add_argument("--people", type=int, default=10_000, help="people in the real-time stream")
    ap.add_argument("--events", type=int, default=200_000, help="events in the real-time stream")
    ap.add_argument("--min-free-gb", type=float, default=30.0, help="abort when less disk than this is free")
    ap.add_argument("--sample-interval", type=float, default=0.2, help="seconds between RSS samples")
    args = ap.parse_args(argv)
    args.spark_conf = [c for c in (SPARK_CONF if args.spark_conf is None else args.spark_conf) if c]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if set(engines) - set(ENGINES) or set(parts) - set(PARTS):
        ap.error(f"engines are {', '.join(ENGINES)}; parts are {', '.join(PARTS)}")
    engines = [e for e in ENGINES if e in engines]  # duckdb first: pandas reads its facts
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "params": {"users": None if args.lake else args.users, "days": None if args.lake else args.days,
                   "seed": args.seed, "engines": engines, "parts": parts, "spark_master": args.spark_master,
                   "spark_memory": args.spark_memory, "spark_conf": args.spark_conf, "people": args.people,
                   "events": args.events, "repeats": args.repeats},
        "sample_interval": args.sample_interval, "engines": {}, "failed": {}, "siyu_source": source_fingerprint(),
    }
    lake = source_lake(args, out, results)
    results["source_lake"] = str(lake)
    kinds = write_tag_set(out / "tags")
    results["tag_set"] = {"tags": TAG_COUNT, "kinds": kinds, "folder": str(out / "tags")}
    console.print(f"tag set: {TAG_COUNT} tags {kinds} in {out / 'tags'} (checked)")
    if "tags" in parts:
        results["engines"] = run_tags(engines, lake, out, args)
        results["as_of"] = next((r["as_of"] for r in results["engines"].values() if "as_of" in r), None)
        dump_json(out / "profile-results.partial.json", results)
        results["comparisons"] = {}
        for e, r in results["engines"].items():
            if e != "duckdb" and "seconds" in r and "seconds" in results["engines"].get("duckdb", {}):
                console.print(f"checking {e}'s tag_values against duckdb's…")
                results["comparisons"][f"{e} vs duckdb"] = compare_tag_values(
                    out / f"profile-lake-{e}", out / "profile-lake-duckdb", console=console)
    duck = out / "profile-lake-duckdb"
    live = {"segments", "realtime"} & set(parts)
    if live and "tags" not in parts and not Lake(duck).exists("ads", "tag_values"):
        fresh_copy(lake, duck)  # segments read tags: build them with DuckDB first
        results["engines"]["duckdb"] = run_child("tags-duckdb", ["--task", "tags", "--engine", "duckdb", "--lake",
                                                                 str(duck), "--tags", str(out / "tags")],
                                                 out, args.sample_interval)
    if live and not Lake(duck).exists("ads", "tag_values"):
        console.print("[red]no DuckDB tag build to time segments on: skipping segments and real time[/]")
        live = set()
    for part, cmd in (("segments", ["--repeats", str(args.repeats)]),
                      ("realtime", ["--people", str(args.people), "--events", str(args.events),
                                    "--seed", str(args.seed)])):
        if part in live:
            results[part] = run_child(part, ["--task", part, "--lake", str(duck), *cmd], out, args.sample_interval)
    if results["siyu_source"] != source_fingerprint():
        console.print("[yellow]siyu's source changed during the run: the parts may have timed different code[/]")
        results["siyu_source_at_end"] = source_fingerprint()
    results["failed"] = {k: v for k, v in [*results["engines"].items(), *((p, results.get(p, {})) for p in PARTS)]
                         if "error" in v}
    dump_json(out / "profile-results.json", results)
    (out / "profile-results.md").write_text(markdown(results))
    print_results(console, results)
    console.print(f"written: {out / 'profile-results.json'}, {out / 'profile-results.md'}")
    if results["failed"]:
        sys.exit(1)
    if not all(c["identical"] for c in results.get("comparisons", {}).values()):
        console.print("[bold red]tag values differ between engines: the timings do not compare equal work.[/]")
        sys.exit(3)


if __name__ == "__main__":
    main()
