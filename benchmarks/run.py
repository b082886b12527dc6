"""The warehouse benchmark: one command, every engine, ratios against pandas measured in the same run.

``python -m benchmarks.run [--users 1000000] [--days 180] [--seed 7] [--out bench-out]
[--engines duckdb,spark,pandas]``

1. synthesise the world into ``OUT/world`` (reused when ``OUT/world.json`` holds the same parameters);
2. import it into ``OUT/base-lake`` (timed: events/s);
3. per engine, hard-link-copy the base lake to ``OUT/lake-<engine>`` and build it fully in a separate
   process (:mod:`benchmarks.build_one`), sampling the RSS of that process and all its descendants
   (Spark's JVM is a child) every 0.2 s for the peak;
4. check that every engine produced the same KPIs and profiles as DuckDB (pandas included, which
   proves the baseline did the same work), and print/write ``OUT/results.json`` and ``OUT/results.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks.frames import dump_json
from benchmarks.pandas_build import check_same_as_duckdb
from siyu.synth import generate_world
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source

STEPS = ("identity_extract", "identity_resolve", "dwd_events", "dwd_orders", "dws", "ads")
ENGINES = ("duckdb", "spark", "pandas")
BASELINE = "pandas"
REPO = Path(__file__).resolve().parents[1]
GIB = 1024**3

#: piped output (a log, CI) gets a width that fits the table instead of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 132)


# --- machine ------------------------------------------------------------------------------------


def _pkg(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _java() -> str | None:
    java = shutil.which("java", path=os.path.join(os.environ.get("JAVA_HOME", ""), "bin") + os.pathsep
                        + os.environ.get("PATH", ""))
    if not java:
        return None
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    lines = (out.stderr or out.stdout).splitlines()
    return lines[0] if lines else None


def machine() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(), "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False), "ram_gib": round(psutil.virtual_memory().total / GIB, 1),
        "os": platform.platform(), "python": platform.python_version(),
        "duckdb": _pkg("duckdb"), "pyspark": _pkg("pyspark"), "pandas": _pkg("pandas"), "pyarrow": _pkg("pyarrow"),
        "java": _java(),
    }


# --- stages -------------------------------------------------------------------------------------


#: Disk a run takes per user-day (world + base lake + three built lakes), measured at 50k users × 180 days.
BYTES_PER_USER_DAY = 1.6 * GIB / (50_000 * 180)


def check_disk(out: Path, min_free_gb: float, users: int, days: int) -> float:
    """Free GiB where ``out`` lives; exits with a clear message below ``min_free_gb``."""
    probe = out
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free / GIB
    if free < min_free_gb:
        console.print(f"[bold red]Not enough disk:[/] {free:.1f} GiB free at {probe}, the benchmark needs at least "
                      f"{min_free_gb:g} GiB (world + base lake + one lake per engine). Free some space or "
                      "point --out at a bigger disk.")
        sys.exit(2)
    expected = users * days * BYTES_PER_USER_DAY / GIB
    if expected * 1.3 > free:
        console.print(f"[yellow]Warning:[/] this run will write about {expected:.0f} GiB (plus engine spill) and "
                      f"only {free:.0f} GiB are free at {probe}.")
    return free


def generator_fingerprint() -> str:
    """Hash of the synthesiser's source: a world written by other generator code is not reused."""
    import siyu.synth

    h = hashlib.sha256()
    for path in sorted(Path(siyu.synth.__file__).parent.rglob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def ensure_world(out: Path, users: int, days: int, seed: int) -> dict[str, Any]:
    """Synthesise ``OUT/world`` unless ``OUT/world.json`` says it already holds these parameters."""
    world, meta_path = out / "world", out / "world.json"
    params = {"users": users, "days": days, "seed": seed, "generator": generator_fingerprint()}
    if meta_path.exists() and (world / "events").is_dir():
        meta = json.loads(meta_path.read_text())
        if meta.get("params") == params:
            console.print(f"world: reusing {world} ({users:,} users, {days} days, seed {seed})")
            return {**meta, "reused": True}
    meta_path.unlink(missing_ok=True)
    with _progress() as bar:
        task = bar.add_task("synthesising world (persons)", total=users)
        t = time.perf_counter()
        summary = generate_world(world, users=users, days=days, seed=seed,
                                 progress=lambda done: bar.update(task, completed=done))
        seconds = time.perf_counter() - t
    meta = {"params": params, "seconds": round(seconds, 3), "lines_written": summary.lines_written,
            "valid_events": summary.valid_events, "orders": summary.orders, "identifiers": summary.identifiers,
            "defects": summary.defects}
    dump_json(meta_path, meta)
    return {**meta, "reused": False}


def import_world(out: Path, world_meta: dict[str, Any]) -> dict[str, Any]:
    base = out / "base-lake"
    shutil.rmtree(base, ignore_errors=True)
    with _progress() as bar:
        task = bar.add_task("importing into base-lake (lines)", total=world_meta.get("lines_written") or None)
        t = time.perf_counter()
        report = import_source(out / "world", Lake(base), progress=lambda n: bar.advance(task, n))
        seconds = time.perf_counter() - t
    return {"seconds": round(seconds, 3), "accepted": report.accepted, "quarantined": report.quarantined,
            "events_per_s": round(report.accepted / seconds) if seconds else None, "entity_rows": report.entity_rows}


def link_copy(src: Path, dst: Path) -> None:
    """A copy of the lake made of hard links: instant, no extra disk; builds only ever write new files."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, copy_function=os.link)


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):  # a child may end mid-sample
            total += p.memory_info().rss
    return total


def run_engine(engine: str, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Build ``OUT/lake-<engine>`` in a child process; wall time and peak RSS of its whole process tree."""
    lake = out / f"lake-{engine}"
    link_copy(out / "base-lake", lake)
    (out / "logs").mkdir(exist_ok=True)
    result_path = out / "logs" / f"result-{engine}.json"
    result_path.unlink(missing_ok=True)
    log_path = out / "logs" / f"build-{engine}.log"
    cmd = [sys.executable, "-m", "benchmarks.build_one", "--engine", engine, "--lake", str(lake),
           "--json", str(result_path)]
    if engine == "spark":
        cmd += ["--spark-master", args.spark_master] + (["--spark-memory", args.spark_memory]
                                                        if args.spark_memory else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    peak = 0
    t = time.perf_counter()
    with log_path.open("w") as log, console.status(f"building with {engine}…") as status:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        proc = psutil.Process(child.pid)
        while child.poll() is None:
            rss = _tree_rss(proc)
            peak = max(peak, rss)
            status.update(f"building with {engine}… {time.perf_counter() - t:,.0f} s, "
                          f"RSS {rss / GIB:.2f} GiB (peak {peak / GIB:.2f})")
            time.sleep(args.sample_interval)
    wall = time.perf_counter() - t
    res: dict[str, Any] = {"engine": engine, "exit_code": child.returncode, "wall_seconds": round(wall, 3),
                           "peak_rss_bytes": peak, "log": str(log_path)}
    if child.returncode == 0 and result_path.exists():
        res.update(json.loads(result_path.read_text()))
        total = sum(res["seconds"].get(s, 0.0) for s in STEPS)
        res["total_seconds"] = round(total, 3)
        console.print(f"{engine}: {total:,.1f} s in steps, {wall:,.1f} s wall, peak RSS {peak / GIB:.2f} GiB")
    else:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        res["error"] = "\n".join(tail)
        console.print(f"[bold red]{engine} failed[/] (exit {child.returncode}); log: {log_path}")
        console.print("\n".join(tail), markup=False)
    return res


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


# --- report -------------------------------------------------------------------------------------


def _eps(events: int, seconds: float | None) -> str:
    return f"{events / seconds:,.0f}" if seconds else "–"


def _ratio(base: float | None, mine: float | None) -> str:
    if not (base and mine):
        return "–"
    x = base / mine
    return f"{x:.1f}×" if x >= 1 else f"{x:.2g}×"


def table_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the results table (shared by the console and the markdown)."""
    engines = [e for e, r in results["engines"].items() if "seconds" in r]
    base = results["engines"].get(BASELINE, {})
    have_base = "seconds" in base
    header = ["step"]
    for e in engines:
        header += [f"{e} s", f"{e} events/s"] + ([f"{e} vs {BASELINE}"] if have_base and e != BASELINE else [])
    rows: list[list[str]] = []
    for step in [*STEPS, "total"]:
        row = [step if step != "total" else "**total**"]
        for e in engines:
            r = results["engines"][e]
            sec = r["total_seconds"] if step == "total" else r["seconds"].get(step)
            events = r["rows"].get("dwd.events", 0)
            row += [f"{sec:,.1f}" if sec is not None else "–", _eps(events, sec)]
            if have_base and e != BASELINE:
                b = base["total_seconds"] if step == "total" else base["seconds"].get(step)
                row.append(_ratio(b, sec))
        rows.append(row)
    extra = [("engine start-up s", lambda r: f"{r.get('startup_seconds', 0):,.1f}"),
             ("process wall s", lambda r: f"{r['wall_seconds']:,.1f}"),
             ("peak RSS GiB", lambda r: f"{r['peak_rss_bytes'] / GIB:.2f}")]
    for label, fmt in extra:
        row = [label]
        for e in engines:
            row += [fmt(results["engines"][e]), ""] + ([""] if have_base and e != BASELINE else [])
        rows.append(row)
    return header, rows


def _compact(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else f"{n:.0f}"


def console_table(results: dict[str, Any]) -> Table:
    """The results as a narrow table: one column per engine, "seconds · events/s · speed-up" per cell."""
    engines = [e for e, r in results["engines"].items() if "seconds" in r]
    base = results["engines"].get(BASELINE, {})
    t = Table("step", *engines, title=f"full build: seconds · dwd events/s · speed-up vs {BASELINE} "
              f"({BASELINE} s / engine s)")
    for step in [*STEPS, "total"]:
        cells = []
        for e in engines:
            r = results["engines"][e]
            sec = r["total_seconds"] if step == "total" else r["seconds"].get(step)
            if not sec:
                cells.append("–")
                continue
            cell = f"{sec:,.1f} s · {_compact(r['rows'].get('dwd.events', 0) / sec)}/s"
            b = base.get("total_seconds") if step == "total" else base.get("seconds", {}).get(step)
            if b and e != BASELINE:
                cell += f" · {_ratio(b, sec)}"
            cells.append(cell)
        t.add_row(f"[bold]{step}[/]" if step == "total" else step, *cells)
    t.add_section()
    t.add_row("engine start-up", *[f"{results['engines'][e].get('startup_seconds', 0):,.1f} s" for e in engines])
    t.add_row("process wall", *[f"{results['engines'][e]['wall_seconds']:,.1f} s" for e in engines])
    t.add_row("peak RSS", *[f"{results['engines'][e]['peak_rss_bytes'] / GIB:.2f} GiB" for e in engines])
    return t


def print_results(results: dict[str, Any]) -> None:
    m, p = results["machine"], results["params"]
    console.rule("siyu warehouse benchmark")
    console.print(f"{p['users']:,} users × {p['days']} days (seed {p['seed']}); "
                  f"{m['cpu_model']}, {m['cores_logical']} logical / {m['cores_physical']} physical cores, "
                  f"{m['ram_gib']} GiB RAM; Python {m['python']}, duckdb {m['duckdb']}, pyspark {m['pyspark']}, "
                  f"pandas {m['pandas']}, pyarrow {m['pyarrow']}; {m['java']}")
    imp = results["import"]
    console.print(f"import: {imp['accepted']:,} events in {imp['seconds']:,.1f} s = {imp['events_per_s']:,} events/s "
                  f"({imp['quarantined']:,} quarantined)")
    console.print(console_table(results))
    for name, c in results.get("comparisons", {}).items():
        verdict = "[green]identical[/]" if c["identical"] else (
            "[yellow]KPI totals match, details differ[/]" if c["kpi_totals_match"] else "[red]KPI totals DIFFER[/]")
        console.print(f"{name}: {verdict} — kpi days differing {c['kpi_days_differing']}, profiles differing "
                      f"{c['profiles_differing']} of {c['profiles'][1]:,}; totals {c['kpi_totals']}")
    for e, r in results["engines"].items():
        if "error" in r:
            console.print(f"[red]{e} failed[/], see {r['log']}")


def markdown(results: dict[str, Any]) -> str:
    m, p, imp = results["machine"], results["params"], results["import"]
    header, rows = table_rows(results)
    lines = [
        f"### Warehouse build: {p['users']:,} users × {p['days']} days",
        "",
        f"Machine: {m['cpu_model']}, {m['cores_logical']} logical / {m['cores_physical']} physical cores, "
        f"{m['ram_gib']} GiB RAM, {m['os']}. Python {m['python']}, duckdb {m['duckdb']}, pyspark {m['pyspark']} "
        f"({m['java']}), pandas {m['pandas']}, pyarrow {m['pyarrow']}. Run {results['started']}.",
        "",
        f"Import (ODS landing): {imp['accepted']:,} events in {imp['seconds']:,.1f} s "
        f"= {imp['events_per_s']:,} events/s.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        *["| " + " | ".join(row) + " |" for row in rows],
        "",
        f"Full build of every day, each engine in its own process. events/s = dwd.events rows / step seconds; "
        f"'vs {BASELINE}' = {BASELINE} seconds / engine seconds (higher is faster), {BASELINE} measured in the "
        "same run. Peak RSS sums the process and all its children (Spark's JVM), sampled every "
        f"{results['sample_interval']} s.",
    ]
    for name, c in results.get("comparisons", {}).items():
        lines.append("")
        lines.append(f"Same result check, {name}: kpi totals {'match' if c['kpi_totals_match'] else 'DIFFER'} "
                     f"({c['kpi_days_differing']} day(s) differ); profiles differing on orders/monetary/"
                     f"active_days/interactions: {c['profiles_differing']} of {c['profiles'][1]:,}.")
    return "\n".join(lines) + "\n"


def compare(out: Path, engines: dict[str, Any]) -> dict[str, Any]:
    ok = [e for e, r in engines.items() if "seconds" in r]
    if "duckdb" not in ok:
        return {}
    comparisons = {}
    for e in ok:
        if e != "duckdb":
            console.print(f"checking {e} against duckdb…")
            comparisons[f"{e} vs duckdb"] = check_same_as_duckdb(out / f"lake-{e}", out / "lake-duckdb",
                                                                 console=console)
    return comparisons


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, of duckdb,spark,pandas")
    ap.add_argument("--spark-master", default="local[*]", help="Spark master URL (default: every core)")
    ap.add_argument("--spark-memory", default=None, help="Spark driver memory, e.g. 8g (default: the engine's)")
    ap.add_argument("--min-free-gb", type=float, default=30.0, help="abort when less disk than this is free")
    ap.add_argument("--sample-interval", type=float, default=0.2, help="seconds between RSS samples")
    args = ap.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        ap.error(f"unknown engine(s) {unknown}; choose from {', '.join(ENGINES)}")
    out = args.out.resolve()
    free = check_disk(out, args.min_free_gb, args.users, args.days)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "params": {"users": args.users, "days": args.days, "seed": args.seed, "engines": engines,
                   "spark_master": args.spark_master, "spark_memory": args.spark_memory},
        "sample_interval": args.sample_interval, "disk_free_gib_at_start": round(free, 1),
    }
    world = ensure_world(out, args.users, args.days, args.seed)
    results["world"] = {k: world.get(k) for k in ("reused", "seconds", "lines_written", "valid_events", "orders",
                                                  "identifiers")}
    results["import"] = import_world(out, world)
    console.print(f"import: {results['import']['accepted']:,} events in {results['import']['seconds']:,.1f} s")
    results["engines"] = {}
    for e in engines:  # write what is known after every engine, so a long run that is cut short still reports
        results["engines"][e] = run_engine(e, out, args)
        dump_json(out / "results.partial.json", results)
    results["comparisons"] = compare(out, results["engines"])
    dump_json(out / "results.json", results)
    (out / "results.md").write_text(markdown(results))
    print_results(results)
    console.print(f"written: {out / 'results.json'}, {out / 'results.md'}")
    if any("error" in r for r in results["engines"].values()):
        sys.exit(1)
    if not all(c["kpi_totals_match"] for c in results["comparisons"].values()):
        console.print("[bold red]KPI totals differ between engines: the timings do not compare equal work.[/]")
        sys.exit(3)


if __name__ == "__main__":
    main()
