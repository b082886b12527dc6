"""Micro-benchmark: spool appends per second with and without group commit.

``python -m benchmarks.spool_commit [--seconds 3] [--threads 1,16] [--sizes 1,100] [--dir /tmp/x]``

Each configuration runs ``threads`` callers appending ``size`` unique ~400-byte items per call for
``seconds`` into a fresh spool (WAL, synchronous=FULL), and reports calls/s and items/s. With group
commit the callers share the writer's fsyncs; without it every call commits (and fsyncs) alone.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from siyu.collect.spool import Spool, SpoolItem

BODY = b'{"type":"track","event":"page_viewed","userId":"u1","properties":{"path":"' + b"x" * 300 + b'"}}'


def run(folder: Path, *, group: bool, threads: int, size: int, seconds: float) -> tuple[float, float]:
    path = folder / f"spool-{group}-{threads}-{size}.db"
    counter = itertools.count()
    calls = [0] * threads
    now = datetime.now(UTC)
    with Spool(path, group_commit=group) as sp:
        stop = time.perf_counter() + seconds

        def worker(t: int) -> None:
            while time.perf_counter() < stop:
                sp.append([SpoolItem(BODY, "bench", now, message_id=f"m{next(counter)}") for _ in range(size)])
                calls[t] += 1

        started = time.perf_counter()
        pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        elapsed = time.perf_counter() - started
        assert sp.stats().accepted == sum(calls) * size
    return sum(calls) / elapsed, sum(calls) * size / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--threads", default="1,16")
    ap.add_argument("--sizes", default="1,100")
    ap.add_argument("--dir", type=Path, default=None, help="Where the spool files go (default: a temp folder).")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{'commit':<8} {'threads':>7} {'items/call':>10} {'calls/s':>10} {'items/s':>10}")
        for size in (int(s) for s in args.sizes.split(",")):
            for threads in (int(t) for t in args.threads.split(",")):
                for group in (False, True):
                    calls, items = run(Path(tmp), group=group, threads=threads, size=size, seconds=args.seconds)
                    mode = "group" if group else "direct"
                    print(f"{mode:<8} {threads:>7} {size:>10} {calls:>10,.0f} {items:>10,.0f}", flush=True)


if __name__ == "__main__":
    main()
