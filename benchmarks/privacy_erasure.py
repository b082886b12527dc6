"""Erasure part of ``benchmarks.privacy_run``: erase ``--erase`` random people from the lake copy, scan, and
time a rewrite of every data file once as the baseline (what erasing by rewriting everything would cost)."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from benchmarks.privacy_run import _sample_people, peak_rss, timed
from benchmarks.run import GIB, console


def rewrite_everything(lake_dir: Path, scratch: Path) -> dict[str, Any]:
    """Read and write every data file of the lake once (same codec), into ``scratch``; then delete it."""
    from siyu.privacy.erasure_rewrite import lake_tables
    from siyu.warehouse.lake import Lake

    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    files = nbytes = 0
    t0 = time.perf_counter()
    for name, paths in lake_tables(Lake(lake_dir)):
        for i, path in enumerate(paths):
            source = pq.ParquetFile(path)
            out = scratch / f"{name.replace('/', '-')}-{i}.parquet"
            with pq.ParquetWriter(out, source.schema_arrow, compression="zstd") as writer:
                for g in range(source.num_row_groups):
                    writer.write_table(source.read_row_group(g))
            files += 1
            nbytes += path.stat().st_size
    seconds = time.perf_counter() - t0
    shutil.rmtree(scratch, ignore_errors=True)
    return {"seconds": round(seconds, 1), "files": files, "gib": round(nbytes / GIB, 2)}


def erasure_part(lake_dir: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    from siyu.privacy.erasure import resolve_subjects
    from siyu.privacy.erasure_job import run_erasure
    from siyu.store import open_store
    from siyu.warehouse.lake import Lake

    lake = Lake(lake_dir)
    res: dict[str, Any] = {"people_requested": args.erase}
    people = _sample_people(lake_dir, args.erase, args.seed + 1)
    names = [f"user_id:{p['user_id']}" for p in people]
    with peak_rss(res, "resolve_peak_rss_gib"):
        subjects, res["resolve_seconds"] = timed(lambda: resolve_subjects(lake, names))
    res["subjects"] = subjects.summary()
    console.print(f"resolved {len(subjects.one_ids):,} people in {res['resolve_seconds']:.1f} s")
    store_path = out / "privacy-erasure-store.db"
    store_path.unlink(missing_ok=True)
    with open_store(f"sqlite:///{store_path}") as store, peak_rss(res, "erase_peak_rss_gib"):
        outcome, res["erase_and_scan_seconds"] = timed(
            lambda: run_erasure(lake, store, names, requested_by="bench", subjects=subjects))
    lake_report = outcome.report["lake"]
    res.update(clean=outcome.clean, rows_removed=lake_report["rows_removed"],
               files_rewritten=lake_report["files_rewritten"],
               files_scanned=sum(t["files_scanned"] for t in lake_report["tables"].values()),
               erase_seconds=lake_report["seconds"], serving_seconds=lake_report["serving"].get("seconds"),
               scan_seconds=outcome.report["scan"]["seconds"],
               slowest_tables={k: v["seconds"] for k, v in sorted(lake_report["tables"].items(),
                                                                  key=lambda kv: -kv[1]["seconds"])[:5]})
    console.print(f"erased: {res['rows_removed']:,} rows, {res['files_rewritten']:,} files in "
                  f"{res['erase_seconds']:.1f} s; scan {res['scan_seconds']:.1f} s; clean={outcome.clean}")
    with peak_rss(res, "baseline_peak_rss_gib"):
        res["baseline_rewrite_all"] = rewrite_everything(lake_dir, out / "rewrite-all-scratch")
    res["ratio_erase_to_rewrite_all"] = round(res["erase_seconds"] / res["baseline_rewrite_all"]["seconds"], 2)
    console.print(f"baseline rewrite of every file: {res['baseline_rewrite_all']['seconds']:.1f} s")
    return res
