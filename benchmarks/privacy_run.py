"""The privacy benchmark: consent checks and erasure on a built lake, against baselines in the same run.

``python -m benchmarks.privacy_run --lake BUILT_LAKE_WITH_TAGS [--out bench-out] [--parts consent,erasure]
[--checks 2000] [--ledger-rows 10000] [--erase 1000]``

1. ``OUT/privacy-lake``: a hard-linked copy of the lake (erasure and builds write new files and rename, so
   the source is never changed); a fresh SQLite operational store in ``OUT``.
2. **Consent** (``consent``): the serving snapshot is built (timed); ``siyu privacy consent sync`` fills the
   ledger from the lake (timed); ``--ledger-rows`` decisions are recorded "now" for random people, as the
   collector would. Then ``ConsentChecker.check`` (what ``GET /v1/consent/…`` and an activation step call)
   for ``--checks`` random people by member number: p50/p99/max. Baseline, same people, same process: the
   profile look-up (``PersonLookup.find`` + ``person``) that ``GET /v1/profiles/…`` answers from.
3. **Erasure** (``erasure``): ``--erase`` random people erased by user_id (``siyu.privacy.erasure``):
   resolve, rewrite the affected files, republish serving files; then the trace scan over the whole lake.
   Baseline: reading and rewriting every data file of the lake once (what a rebuild-everything erasure
   would at least cost), timed in the same run.
4. Peak RSS of this process (and children) during each phase; ``OUT/privacy-results.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import psutil

from benchmarks.frames import dump_json
from benchmarks.run import GIB, _tree_rss, console, link_copy, machine

PARTS = ("consent", "erasure")


@contextmanager
def peak_rss(into: dict[str, Any], key: str) -> Iterator[None]:
    """Sample this process tree's RSS every 50 ms; store the peak (GiB) in ``into[key]``."""
    proc, peak, stop = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss(proc))
            stop.wait(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        into[key] = round(peak[0] / GIB, 2)


def timed(f: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = f()
    return value, time.perf_counter() - t0


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    def q(p: float) -> float:
        return round(s[min(len(s) - 1, int(p * len(s)))] * 1000, 3)
    return {"p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "max_ms": round(s[-1] * 1000, 3),
            "mean_ms": round(statistics.fmean(s) * 1000, 3), "n": len(s)}


def _sample_people(lake: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` random people with a user_id (one_id, user_id)."""
    rows = duckdb.connect().execute("SELECT one_id, user_id FROM read_parquet($f) WHERE user_id IS NOT NULL "
                                    "ORDER BY one_id", {"f": f"{lake}/ads/profiles/*.parquet"}).fetchall()
    return [{"one_id": r[0], "user_id": r[1]} for r in random.Random(seed).sample(rows, min(n, len(rows)))]


def consent_part(lake_dir: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    from siyu.privacy.consent import ConsentDecision
    from siyu.privacy.consent_ledger import ConsentLedger, sync_from_lake
    from siyu.serving.consent_check import ConsentChecker
    from siyu.serving.lookup import PersonLookup
    from siyu.serving.snapshot import build_snapshot
    from siyu.store import open_store
    from siyu.warehouse.lake import Lake

    lake = Lake(lake_dir)
    res: dict[str, Any] = {}
    with peak_rss(res, "snapshot_peak_rss_gib"):
        path, res["snapshot_seconds"] = timed(lambda: build_snapshot(lake))
    res["snapshot_gib"] = round(path.stat().st_size / GIB, 2)
    console.print(f"snapshot {res['snapshot_seconds']:.1f} s")
    store_path = out / "privacy-store.db"
    store_path.unlink(missing_ok=True)
    store = open_store(f"sqlite:///{store_path}")
    ledger = ConsentLedger(store)
    with peak_rss(res, "sync_peak_rss_gib"):
        (seen, new), res["sync_seconds"] = timed(lambda: sync_from_lake(lake, ledger))
    res["ledger_rows_from_lake"] = new
    console.print(f"consent sync {seen:,} decisions in {res['sync_seconds']:.1f} s")
    people = _sample_people(lake_dir, max(args.checks, args.ledger_rows), args.seed)
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    recent = [ConsentDecision(f"bench-{i}", f"user_id:{p['user_id']}", "marketing", rng.random() < 0.5, now,
                              "bench", "2026-11", True, True, None, p["one_id"])
              for i, p in enumerate(rng.sample(people, min(args.ledger_rows, len(people))))]
    ledger.record(recent, recorded_by="bench")
    res["ledger_rows"] = ledger.count()
    checks = rng.sample(people, min(args.checks, len(people)))
    lookup = PersonLookup(lake)
    checker = ConsentChecker(lookup, ledger)
    try:
        for p in checks[:50]:  # warm the caches of both paths alike
            checker.check("user_id", p["user_id"], "marketing")
            lookup.person(lookup.find("user_id", p["user_id"]) or "")
        consent_s: list[float] = []
        lookup_s: list[float] = []
        allowed = 0
        with peak_rss(res, "checks_peak_rss_gib"):
            for p in checks:
                answer, t = timed(lambda p=p: checker.check("user_id", p["user_id"], "marketing"))
                consent_s.append(t)
                allowed += answer.allowed
                _, t = timed(lambda p=p: lookup.person(lookup.find("user_id", p["user_id"]) or ""))
                lookup_s.append(t)
    finally:
        lookup.close()
        store.close()
    res["consent_check"] = percentiles(consent_s)
    res["profile_lookup_baseline"] = percentiles(lookup_s)
    res["allowed_share"] = round(allowed / len(checks), 3)
    res["p99_ratio_to_lookup"] = round(res["consent_check"]["p99_ms"] / res["profile_lookup_baseline"]["p99_ms"], 2)
    console.print(f"consent check p50 {res['consent_check']['p50_ms']} ms p99 {res['consent_check']['p99_ms']} ms; "
                  f"profile look-up p99 {res['profile_lookup_baseline']['p99_ms']} ms")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lake", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--checks", type=int, default=2000)
    ap.add_argument("--ledger-rows", type=int, default=10_000)
    ap.add_argument("--erase", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s) {sorted(unknown)}; choose from {PARTS}")
    args.out.mkdir(parents=True, exist_ok=True)
    lake_dir = args.out / "privacy-lake"
    console.print(f"hard-linked copy of {args.lake} → {lake_dir}")
    link_copy(args.lake, lake_dir)
    results: dict[str, Any] = {"machine": machine(), "lake": str(args.lake), "started": datetime.now(UTC).isoformat()}
    if "consent" in parts:
        results["consent"] = consent_part(lake_dir, args.out, args)
    if "erasure" in parts:
        from benchmarks.privacy_erasure import erasure_part

        results["erasure"] = erasure_part(lake_dir, args.out, args)
    dump_json(args.out / "privacy-results.json", results)
    (args.out / "privacy-results.md").write_text(markdown(results), encoding="utf-8")
    console.print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1, default=str))


def markdown(results: dict[str, Any]) -> str:
    lines = ["# Privacy benchmark", "", f"lake: `{results['lake']}`", ""]
    c = results.get("consent")
    if c:
        lines += ["## Consent check", "", "| | p50 ms | p90 ms | p99 ms | max ms |", "|---|---|---|---|---|",
                  *(f"| {name} | {c[key]['p50_ms']} | {c[key]['p90_ms']} | {c[key]['p99_ms']} | {c[key]['max_ms']} |"
                    for name, key in (("consent check (snapshot + ledger)", "consent_check"),
                                      ("baseline: profile look-up", "profile_lookup_baseline"))),
                  "", f"p99 ratio to the look-up: {c['p99_ratio_to_lookup']}; "
                  f"snapshot build {c['snapshot_seconds']:.1f} s; "
                  f"ledger sync {c['sync_seconds']:.1f} s for {c['ledger_rows_from_lake']:,} decisions; "
                  f"ledger rows {c['ledger_rows']:,}; peak RSS {c['checks_peak_rss_gib']} GiB (checks), "
                  f"{c['snapshot_peak_rss_gib']} GiB (snapshot)", ""]
    e = results.get("erasure")
    if e:
        lines += ["## Erasure", "", "```", json.dumps(e, indent=1, default=str), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
