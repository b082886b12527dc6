"""The service benchmark: `siyu serve`'s collector, profile look-ups and freshness, against baselines in the same run.

``python -m benchmarks.service_run --lake BUILT_LAKE_WITH_TAGS [--out bench-out] [--events 20000]
[--track-events 5000] [--connections 16] [--lookups 2000] [--naive-lookups 200] [--probes 10] [--seconds 30]``

1. ``OUT/service-lake``: a hard-linked copy of the lake (the server writes to its lake); the few small
   files rewritten in place (``_state/*``, the snapshot pointer) are real copies, so the source is never
   touched. A fresh operational store and spool, a write key (source ``bench``) and user keys.
2. **Serving snapshot**: built in a child process (timed; size), as ``SnapshotKeeper`` would.
3. **Look-ups**: ``GET /v1/profiles/member_no/{value}`` for a random sample of the snapshot's member
   numbers, at each ``--lookup-concurrency``; baseline: the same requests to a bare uvicorn app that
   answers each from the lake's Parquet with DuckDB, no snapshot (``benchmarks.service_floor``).
4. **Collector**: ``POST /v1/batch`` (``--batch-size`` events) and ``POST /v1/track`` from
   ``--connections`` keep-alive connections of a separate load process (``benchmarks.service_load``);
   baseline: a bare uvicorn app answering ``{"success": true}`` to the same requests (the HTTP floor).
   The server runs with ``--no-drain``; afterwards ``siyu collect drain`` lands and builds (timed) and
   every acknowledged messageId is counted in ``ods`` (and ``dwd``): each must be there exactly once.
5. **Freshness**: a server with ``--drain-interval 1``; ``--probes`` times, one ``/v1/track`` for a known
   ``user_id``, then ``GET /v1/profiles/user_id/{id}/events?event=…`` every ``--poll-interval`` until it
   shows: the delay from sending to queryable.
6. Peak RSS of the server's process tree during each phase; ``OUT/service-results.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import httpx
import psutil

from benchmarks.frames import dump_json
from benchmarks.profile_run import source_fingerprint
from benchmarks.run import GIB, REPO, _tree_rss, console, link_copy, machine
from benchmarks.service_report import markdown, print_results
from siyu.serving.snapshot import current_snapshot
from siyu.store.db import open_store
from siyu.store.keys import KeyKind, Role, create_key
from siyu.warehouse.lake import Lake

MIB = 1024**2
#: Per-key limit for the benchmark's keys: high enough never to answer 429 (the default is 6000 a minute).
KEY_RATE_LIMIT = 100_000_000
PROBE_EVENT = "bench_freshness_probe"
PARTS = ("lookups", "collector", "freshness")
NEEDED = (("ads", "profiles"), ("ads", "lifecycle"), ("ads", "tag_values"), ("identity", "nodes"))


# --- set-up -------------------------------------------------------------------------------------


def service_copy(src: Path, dst: Path) -> None:
    """``link_copy``, then real copies of every file that is not Parquet or a DuckDB snapshot: those (state
    files, the snapshot pointer and fingerprint) may be rewritten in place, which would write through a
    hard link into the source lake."""
    link_copy(src, dst)
    for path in dst.rglob("*"):
        if path.is_file() and path.suffix not in (".parquet", ".duckdb") and path.stat().st_nlink > 1:
            tmp = path.with_name(f".bench-copy-{path.name}")
            shutil.copy2(path, tmp)
            os.replace(tmp, path)


def child_env(out: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "SIYU_HOME": str(out / "home"), "SIYU_LOG_LEVEL": os.environ.get("SIYU_LOG_LEVEL", "INFO")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_keys(store_url: str) -> dict[str, str]:
    store = open_store(store_url)
    try:
        _, write = create_key(store, kind=KeyKind.WRITE, name="bench load", source="bench",
                              rate_limit_per_minute=KEY_RATE_LIMIT)
        _, analyst = create_key(store, kind=KeyKind.USER, name="bench analyst", role=Role.ANALYST,
                                rate_limit_per_minute=KEY_RATE_LIMIT)
        _, admin = create_key(store, kind=KeyKind.USER, name="bench admin", role=Role.ADMIN,
                              rate_limit_per_minute=KEY_RATE_LIMIT)
    finally:
        store.close()
    return {"write": write, "analyst": analyst, "admin": admin}


def sample_identifiers(snapshot: Path, kind: str, n: int, seed: int) -> list[str]:
    """``n`` random identifiers of one type from the snapshot's ``id_map`` (deterministic for a seed)."""
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        rows = con.execute("SELECT identifier_value FROM id_map WHERE identifier_type = ? "
                           "ORDER BY md5(identifier_value || ?) LIMIT ?", [kind, str(seed), n]).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


# --- processes ----------------------------------------------------------------------------------


def run_child(label: str, cmd: list[str], out: Path, sample_interval: float) -> dict[str, Any]:
    """Run a child to completion; wall time, peak RSS of its process tree, stdout kept in ``OUT/logs``."""
    logs = out / "logs"
    log_path = logs / f"{label}.log"
    peak = 0
    t = time.perf_counter()
    with log_path.open("w") as log, console.status(f"{label}…") as status:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=child_env(out))
        proc = psutil.Process(child.pid)
        while child.poll() is None:
            rss = _tree_rss(proc)
            peak = max(peak, rss)
            status.update(f"{label}… {time.perf_counter() - t:,.0f} s, RSS {rss / GIB:.2f} GiB")
            time.sleep(sample_interval)
    res = {"exit_code": child.returncode, "wall_seconds": round(time.perf_counter() - t, 3), "peak_rss_bytes": peak,
           "log": str(log_path)}
    if child.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        res["error"] = "\n".join(tail)
        console.print(f"[bold red]{label} failed[/] (exit {child.returncode}); log: {log_path}")
        console.print("\n".join(tail), markup=False)
    return res


#: Servers started and not yet stopped: stopped on the way out whatever happens.
RUNNING: list[Server] = []


class Server:
    """A server in a child process, with its process tree's RSS sampled in a thread (peak per phase)."""

    def __init__(self, label: str, cmd: list[str], port: int, out: Path, sample_interval: float) -> None:
        self.label, self.port, self.out, self.interval = label, port, out, sample_interval
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = out / "logs" / f"server-{label}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO, env=child_env(out))
        self._ps = psutil.Process(self.proc.pid)
        self._lock = threading.Lock()
        self.peak = self.phase_peak = 0
        self._cpu0 = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        RUNNING.append(self)

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = _tree_rss(self._ps)
            with self._lock:
                self.peak, self.phase_peak = max(self.peak, rss), max(self.phase_peak, rss)
            self._stop.wait(self.interval)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server's process tree so far (all threads)."""
        total = 0.0
        with contextlib.suppress(psutil.NoSuchProcess):
            for p in [self._ps, *self._ps.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    t = p.cpu_times()
                    total += t.user + t.system
        return total

    def start_phase(self) -> None:
        self._cpu0 = self.cpu_seconds()
        with self._lock:
            self.phase_peak = _tree_rss(self._ps)

    def end_phase(self) -> dict[str, Any]:
        """The server's peak RSS and CPU seconds since :meth:`start_phase`."""
        rss, cpu = _tree_rss(self._ps), self.cpu_seconds() - self._cpu0
        with self._lock:
            return {"server_peak_rss_bytes": max(self.phase_peak, rss), "server_cpu_seconds": round(cpu, 3)}

    def wait_ready(self, timeout: float, snapshot: bool = False) -> float:
        """Seconds until ``/healthz`` answers (and says ``snapshot_ready`` when asked); exits if the server dies."""
        t = time.perf_counter()
        with httpx.Client(timeout=5) as client:
            while time.perf_counter() - t < timeout:
                if self.proc.poll() is not None:
                    tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
                    console.print(f"[bold red]{self.label} exited[/] ({self.proc.returncode}):", "\n".join(tail),
                                  markup=False)
                    raise SystemExit(1)
                with contextlib.suppress(httpx.HTTPError):
                    r = client.get(f"{self.base}/healthz")
                    if r.status_code == 200 and (not snapshot or r.json().get("snapshot_ready")):
                        return time.perf_counter() - t
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{self.label} not ready after {timeout:g} s; log: {self.log_path}")

    def stop(self) -> int | None:
        """SIGINT (uvicorn's graceful shutdown: the runtime stops its threads), SIGKILL after a minute."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                console.print(f"[yellow]{self.label} did not stop in 60 s: killing pid {self.proc.pid}[/]")
                self.proc.kill()
                self.proc.wait()
        self._stop.set()
        self._thread.join(timeout=5)
        self._log.close()
        if self in RUNNING:
            RUNNING.remove(self)
        return self.proc.returncode


def load(server: Server, mode: str, *, count: int, connections: int, seconds: float, args: argparse.Namespace,
         key: str = "", prefix: str = "", paths: Path | None = None, acked: Path | None = None,
         label: str = "") -> dict[str, Any]:
    """One measurement: the load process against ``server``; its result plus the server's peak RSS meanwhile."""
    out: Path = args.out_dir
    result = out / "logs" / f"load-{label}.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.service_load", "--port", str(server.port), "--mode", mode,
           "--connections", str(connections), "--count", str(count), "--seconds", str(seconds),
           "--batch-size", str(args.batch_size), "--json", str(result)]
    if key:
        cmd += ["--key", key]
    if prefix:
        cmd += ["--prefix", prefix, "--users", str(out / "users.txt")]
    if paths:
        cmd += ["--paths", str(paths)]
    if acked:
        cmd += ["--acked", str(acked)]
    server.start_phase()
    res = run_child(f"load-{label}", cmd, out, args.sample_interval)
    res.update(server.end_phase())
    res["load_peak_rss_bytes"] = res.pop("peak_rss_bytes")
    if server.proc.poll() is not None:
        res["error"] = f"the server exited during the load ({server.proc.returncode}); see {server.log_path}"
    if result.exists():
        res.update(json.loads(result.read_text()))
    rate = res.get("events_per_s") or res.get("requests_per_s")
    lat = res.get("latency", {})
    console.print(f"{label}: {res.get('requests_ok', 0):,}/{res.get('requests', 0):,} ok, "
                  f"{rate or 0:,.0f}{' events' if 'events_per_s' in res else ' req'}/s, "
                  f"p50 {lat.get('p50_ms')} ms, p99 {lat.get('p99_ms')} ms, status {res.get('status')}, "
                  f"server RSS {res['server_peak_rss_bytes'] / MIB:,.0f} MiB")
    if res.get("errors"):
        console.print(f"[yellow]{label} errors:[/] {res['errors']}", markup=True)
    return res


def serve_cmd(lake: Path, port: int, out: Path, args: argparse.Namespace, *, drain: bool) -> list[str]:
    cmd = [sys.executable, "-c", "from siyu.cli.main import app; app()", "serve", "--lake", str(lake),
           "--port", str(port), "--store", f"sqlite:///{out / 'store.db'}", "--spool", str(out / "spool.db"),
           "--build-engine", "duckdb", "--rate-limit", str(KEY_RATE_LIMIT),
           "--snapshot-interval", str(args.snapshot_interval)]
    return cmd + (["--drain-interval", str(args.drain_interval)] if drain else ["--no-drain"])


def floor_cmd(port: int, lake: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "benchmarks.service_floor", "--port", str(port),
            *(["--lake", str(lake)] if lake else [])]


# --- phases -------------------------------------------------------------------------------------


def lookups(server: Server, paths: Path, count: int, args: argparse.Namespace, key: str, name: str
            ) -> dict[str, Any]:
    found: dict[str, Any] = {}
    warm = load(server, "lookup", count=min(count, 200), connections=1, seconds=10, args=args, key=key,
                paths=paths, label=f"{name}-warmup")
    found["warmup"] = {k: warm.get(k) for k in ("requests", "requests_ok", "status")}
    for c in args.lookup_concurrency:
        found[f"c{c}"] = load(server, "lookup", count=count, connections=c, seconds=args.seconds, args=args,
                              key=key, paths=paths, label=f"{name}-c{c}")
    return found


def collector(server: Server, args: argparse.Namespace, key: str, name: str, run_id: str, check: bool
              ) -> dict[str, Any]:
    """Both shapes, each after a short warm-up; ``check``: keep the acknowledged messageIds for the ods check."""
    out: Path = args.out_dir
    found: dict[str, Any] = {}
    for shape, events in (("batch", args.events), ("track", args.track_events)):
        per = args.batch_size if shape == "batch" else 1
        requests = max(1, events // per)
        for part, count, secs in (("warmup", max(args.connections * 4, requests // 50), 10.0),
                                  ("run", requests, args.seconds)):
            label = f"{name}-{shape}" + ("-warmup" if part == "warmup" else "")
            prefix = f"sb-{run_id}-{name}-{shape}-{part}"
            acked = out / "acked" / f"{label}.txt" if check else None
            res = load(server, shape, count=count, connections=args.connections, seconds=secs, args=args,
                       key=key, prefix=prefix, acked=acked, label=label)
            if part == "warmup":
                found[f"{shape}_warmup"] = {k: res.get(k) for k in ("requests", "requests_ok", "events_acked")}
            else:
                found[shape] = res
    return found


def ods_check(lake: Path, acked_dir: Path) -> dict[str, Any]:
    """Every acknowledged messageId, counted in the collected ods files and in dwd: each exactly once?"""
    ods_files = sorted(str(p) for p in (lake / "ods" / "events").glob("dt=*/b-spool-*.parquet"))
    acked_files = sorted(str(p) for p in acked_dir.glob("*.txt") if p.stat().st_size)
    days = sorted({Path(f).parent.name for f in ods_files})
    dwd_files = sorted(str(p) for d in days for p in (lake / "dwd" / "events" / d).glob("*.parquet")
                       if not p.name.startswith((".", "_")))
    quarantine = sorted(str(p) for p in (lake / "ods" / "quarantine").glob("dt=*/b-spool-*.parquet"))
    con = duckdb.connect()
    try:
        if acked_files:
            con.execute("CREATE TABLE acked AS SELECT * FROM read_csv($f, header = false, "
                        "columns = {'message_id': 'VARCHAR'})", {"f": acked_files})
        else:
            con.execute("CREATE TABLE acked (message_id VARCHAR)")
        for table, files in (("ods", ods_files), ("dwd", dwd_files)):
            if files:
                con.execute(f"CREATE TABLE {table} AS SELECT message_id, count(*) AS n FROM read_parquet($f, "
                            "union_by_name = true) WHERE message_id LIKE 'sb-%' GROUP BY message_id", {"f": files})
            else:
                con.execute(f"CREATE TABLE {table} (message_id VARCHAR, n BIGINT)")

        def counts(table: str) -> dict[str, int]:
            row = con.execute(f"""
                SELECT count(*), count(*) FILTER (WHERE t.n = 1), count(*) FILTER (WHERE t.n IS NULL),
                       count(*) FILTER (WHERE t.n > 1),
                       (SELECT count(*) FROM {table} WHERE message_id NOT IN (SELECT message_id FROM acked))
                FROM acked AS a LEFT JOIN {table} AS t USING (message_id)""").fetchone()
            assert row is not None
            return {"acked": row[0], "exactly_once": row[1], "missing": row[2], "more_than_once": row[3],
                    "stored_not_acked": row[4]}

        res: dict[str, Any] = {"ods": counts("ods"), "dwd": counts("dwd"), "ods_files": len(ods_files),
                               "days": days, "quarantined": 0}
        if quarantine:  # rejected items keep their payload, messageId included
            row = con.execute("SELECT count(*) FROM read_parquet($f, union_by_name = true) "
                              "WHERE payload LIKE '%\"sb-%'", {"f": quarantine}).fetchone()
            res["quarantined"] = row[0] if row else 0
    finally:
        con.close()
    o = res["ods"]
    res["ok"] = o["acked"] == o["exactly_once"] and o["acked"] > 0
    return res


def _background_events(server: Server, users: list[str], keys: dict[str, str], args: argparse.Namespace,
                       run_id: str, stop: threading.Event) -> None:
    """Known people doing things at ``--background-rate`` events/s while the probes run (production traffic)."""
    rng = random.Random(args.seed + 1)
    i = 0
    with httpx.Client(base_url=server.base, timeout=60) as client:
        while not stop.is_set():
            body = {"type": "track", "event": "page_viewed", "userId": users[rng.randrange(len(users))],
                    "messageId": f"sb-{run_id}-bg-{i}", "properties": {"path": "/bench"}}
            client.post("/v1/track", json=body, auth=(keys["write"], ""))
            i += 1
            stop.wait(1.0 / args.background_rate)


def freshness(server: Server, users: list[str], keys: dict[str, str], args: argparse.Namespace, run_id: str
              ) -> dict[str, Any]:
    """Send one event for a known person, poll their timeline until it shows; ``--probes`` times."""
    rng = random.Random(args.seed)
    since = (date.today() - timedelta(days=1)).isoformat()
    probes: list[dict[str, Any]] = []
    server.start_phase()
    stop_background = threading.Event()
    background = threading.Thread(target=_background_events, args=(server, users, keys, args, run_id, stop_background),
                                  daemon=True)
    if args.background_rate > 0:
        background.start()
    with httpx.Client(base_url=server.base, timeout=60) as client:
        status_before = client.get("/v1/status", headers={"Authorization": f"Bearer {keys['admin']}"}).json()
        for i in range(args.probes):
            user = users[(i * 7919) % len(users)]
            mid = f"sb-{run_id}-probe-{i}"
            body = {"type": "track", "event": PROBE_EVENT, "userId": user, "messageId": mid,
                    "properties": {"probe": i}}
            t0 = time.perf_counter()
            r = client.post("/v1/track", json=body, auth=(keys["write"], ""))
            t_ack = time.perf_counter() - t0
            if r.status_code != 200:
                probes.append({"i": i, "error": f"{r.status_code} {r.text[:200]}"})
                continue
            polls, seen = 0, None
            path = f"/v1/profiles/user_id/{quote(user, safe='')}/events"
            params = {"event": PROBE_EVENT, "since": since, "limit": "50"}
            headers = {"Authorization": f"Bearer {keys['analyst']}"}
            while time.perf_counter() - t0 < args.probe_timeout:
                polls += 1
                p = client.get(path, params=params, headers=headers)
                if p.status_code == 200 and any(e.get("message_id") == mid for e in p.json().get("events", [])):
                    seen = time.perf_counter() - t0
                    break
                time.sleep(args.poll_interval)
            probes.append({"i": i, "user_id": user, "ack_ms": round(t_ack * 1000, 2), "polls": polls,
                           "delay_s": None if seen is None else round(seen, 3)})
            console.print(f"freshness probe {i}: ack {t_ack * 1000:,.0f} ms, queryable after "
                          f"{'never (timeout)' if seen is None else f'{seen:,.2f} s'} ({polls} polls)")
            time.sleep(rng.uniform(0, 1))  # spread probes over the loader's cycle
        status_after = client.get("/v1/status", headers={"Authorization": f"Bearer {keys['admin']}"}).json()
    stop_background.set()
    if background.is_alive():
        background.join(timeout=30)
    delays = sorted(p["delay_s"] for p in probes if p.get("delay_s") is not None)
    return {"probes": probes, "seen": len(delays), "sent": args.probes,
            "p50_s": delays[(len(delays) - 1) // 2] if delays else None, "max_s": delays[-1] if delays else None,
            "min_s": delays[0] if delays else None, "status_before": status_before, "status_after": status_after,
            "drain_interval_s": args.drain_interval, "poll_interval_s": args.poll_interval,
            "background_rate": args.background_rate,
            "snapshot_rebuilt_during": status_after.get("snapshot") != status_before.get("snapshot"),
            **server.end_phase()}


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.service_run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lake", type=Path, required=True, help="a built lake with profile facts and tags (never written)")
    ap.add_argument("--out", type=Path, default=Path("bench-out"), help="working folder")
    ap.add_argument("--events", type=int, default=20_000, help="events sent as /v1/batch requests")
    ap.add_argument("--track-events", type=int, default=5_000, help="events sent as single /v1/track requests")
    ap.add_argument("--batch-size", type=int, default=100, help="events per /v1/batch request")
    ap.add_argument("--connections", type=int, default=16, help="concurrent connections for the collector")
    ap.add_argument("--lookups", type=int, default=2_000, help="look-ups per concurrency level (snapshot)")
    ap.add_argument("--naive-lookups", type=int, default=200, help="look-ups per concurrency level (naive)")
    ap.add_argument("--lookup-concurrency", default="1,8", help="comma-separated connection counts")
    ap.add_argument("--sample", type=int, default=2_000, help="random member numbers (and user_ids) to use")
    ap.add_argument("--seconds", type=float, default=30.0, help="time limit of each measurement")
    ap.add_argument("--probes", type=int, default=10, help="freshness probes")
    ap.add_argument("--poll-interval", type=float, default=0.1, help="seconds between freshness polls")
    ap.add_argument("--probe-timeout", type=float, default=600.0, help="give a probe up after this long")
    ap.add_argument("--drain-interval", type=float, default=1.0, help="the freshness server's --drain-interval")
    ap.add_argument("--background-rate", type=float, default=0.0,
                    help="events/s from known people sent alongside the freshness probes (0: probes only)")
    ap.add_argument("--snapshot-interval", type=float, default=60.0, help="the servers' --snapshot-interval")
    ap.add_argument("--start-timeout", type=float, default=600.0, help="seconds a server may take to be ready")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--parts", default=",".join(PARTS),
                    help=f"comma-separated, of {','.join(PARTS)} (the snapshot is always built)")
    ap.add_argument("--sample-interval", type=float, default=0.2, help="seconds between RSS samples")
    args = ap.parse_args(argv)
    args.lookup_concurrency = [int(c) for c in args.lookup_concurrency.split(",") if c.strip()]
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if unknown := set(args.parts) - set(PARTS):
        ap.error(f"unknown parts: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> None:
    try:
        run(parse_args(argv))
    finally:
        for server in list(RUNNING):
            server.stop()


def run(args: argparse.Namespace) -> None:
    out = args.out_dir = args.out.resolve()
    src = args.lake.resolve()
    missing = [f"{layer}/{t}" for layer, t in NEEDED if not Lake(src).exists(layer, t)]
    if missing:
        console.print(f"[bold red]{src} lacks {', '.join(missing)}[/]: build it (`siyu build`) and its tags "
                      "(`siyu tags build`, or `python -m benchmarks.profile_run`) first")
        sys.exit(2)
    out.mkdir(parents=True, exist_ok=True)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out_dir"},
        "source_lake": str(src), "siyu_source": source_fingerprint(), "run_id": run_id,
        "key_rate_limit_per_minute": KEY_RATE_LIMIT,
    }
    meta = src.parent / "world.json"  # a lake benchmarks.run built says which world it holds
    if meta.exists():
        results["world"] = {k: json.loads(meta.read_text())["params"].get(k) for k in ("users", "days")}

    lake = out / "service-lake"
    for name in ("store.db", "spool.db"):
        for suffix in ("", "-wal", "-shm", ".drain-lock"):
            (out / f"{name}{suffix}").unlink(missing_ok=True)
    for folder in ("logs", "acked", "home"):
        shutil.rmtree(out / folder, ignore_errors=True)
        (out / folder).mkdir()
    with console.status("hard-linking the lake…"):
        t = time.perf_counter()
        service_copy(src, lake)
    console.print(f"lake: {src} → {lake} (hard links, {time.perf_counter() - t:,.1f} s)")
    keys = make_keys(f"sqlite:///{out / 'store.db'}")
    profiles = duckdb.connect().execute("SELECT count(*) FROM read_parquet($f)",
                                        {"f": Lake(lake).files("ads", "profiles")}).fetchone()
    results["profiles"] = profiles[0] if profiles else None

    # 1. the serving snapshot
    snap_json = out / "logs" / "snapshot.json"
    results["snapshot"] = run_child("snapshot-build", [sys.executable, "-m", "benchmarks.service_snapshot",
                                                       "--lake", str(lake), "--json", str(snap_json)],
                                    out, args.sample_interval)
    if "error" in results["snapshot"]:
        sys.exit(1)
    results["snapshot"].update(json.loads(snap_json.read_text()))
    s = results["snapshot"]
    console.print(f"snapshot: {s['seconds']:,.1f} s, {s['bytes'] / MIB:,.1f} MiB, peak RSS "
                  f"{s['peak_rss_bytes'] / GIB:.2f} GiB, rows {s['rows']}")
    snapshot = current_snapshot(Lake(lake))
    assert snapshot is not None
    members = sample_identifiers(snapshot, "member_no", args.sample, args.seed)
    users = sample_identifiers(snapshot, "user_id", args.sample, args.seed)
    if not members or not users:
        sys.exit(f"the snapshot's id_map has no member_no or no user_id values ({len(members)}, {len(users)})")
    (out / "users.txt").write_text("".join(f"{u}\n" for u in users))
    siyu_paths, naive_paths = out / "paths-siyu.txt", out / "paths-naive.txt"
    siyu_paths.write_text("".join(f"/v1/profiles/member_no/{quote(m, safe='')}\n" for m in members))
    naive_paths.write_text("".join(f"/naive/member_no/{quote(m, safe='')}\n" for m in members))
    results["sample"] = {"member_no": len(members), "user_id": len(users)}

    if "lookups" in args.parts or "collector" in args.parts:
        load_and_lookups(args, results, lake, keys, siyu_paths, naive_paths, run_id)
    if "freshness" in args.parts:
        fresh(args, results, lake, keys, users, run_id)

    if results["siyu_source"] != source_fingerprint():
        console.print("[yellow]siyu's source changed during the run: the parts may have timed different code[/]")
        results["siyu_source_at_end"] = source_fingerprint()
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    dump_json(out / "service-results.json", results)
    (out / "service-results.md").write_text(markdown(results))
    print_results(console, results)
    console.print(f"written: {out / 'service-results.json'}, {out / 'service-results.md'}")
    if (results.get("exactly_once") and not results["exactly_once"]["ok"]) or (
            results.get("freshness") and results["freshness"]["seen"] < results["freshness"]["sent"]):
        sys.exit(3)


def load_and_lookups(args: argparse.Namespace, results: dict[str, Any], lake: Path, keys: dict[str, str],
                     siyu_paths: Path, naive_paths: Path, run_id: str) -> None:
    """Steps 2–4: the naive and floor baselines, siyu's look-ups and collector, then the drain check."""
    out = args.out_dir
    # 2. baselines: naive look-ups, then the HTTP floor
    port = free_port()
    naive = Server("naive", floor_cmd(port, lake), port, out, args.sample_interval)
    naive.wait_ready(args.start_timeout)
    results["lookups"] = {"naive": lookups(naive, naive_paths, args.naive_lookups, args, "", "naive")}
    naive.stop()
    results["lookups"]["naive"]["server_peak_rss_bytes"] = naive.peak
    port = free_port()
    floor = Server("floor", floor_cmd(port), port, out, args.sample_interval)
    floor.wait_ready(args.start_timeout)
    results["collector"] = {"floor": collector(floor, args, "", "floor", run_id, check=False)}
    floor.stop()
    results["collector"]["floor"]["server_peak_rss_bytes"] = floor.peak
    dump_json(out / "service-results.partial.json", results)

    # 3. siyu serve, collect only: look-ups, then the collector
    port = free_port()
    siyu = Server("siyu-collect", serve_cmd(lake, port, out, args, drain=False), port, out, args.sample_interval)
    results["siyu_start_seconds"] = round(siyu.wait_ready(args.start_timeout, snapshot=True), 2)
    results["lookups"]["siyu"] = lookups(siyu, siyu_paths, args.lookups, args, keys["analyst"], "siyu")
    results["collector"]["siyu"] = collector(siyu, args, keys["write"], "siyu", run_id, check=True)
    results["collector"]["siyu"]["server_exit_code"] = siyu.stop()
    results["collector"]["siyu"]["server_peak_rss_bytes"] = siyu.peak
    dump_json(out / "service-results.partial.json", results)

    # 4. land and build what was acknowledged; every messageId exactly once
    drain_out = out / "logs" / "drain.log"
    results["drain"] = run_child("drain", [sys.executable, "-c", "from siyu.cli.main import app; app()", "collect",
                                           "drain", "--lake", str(lake), "--spool", str(out / "spool.db"), "--json"],
                                 out, args.sample_interval)
    with contextlib.suppress(ValueError):
        text = drain_out.read_text()
        results["drain"]["report"] = json.loads(text[text.index("{"):])
    with console.status("counting acknowledged events in ods and dwd…"):
        results["exactly_once"] = ods_check(lake, out / "acked")
    e = results["exactly_once"]
    console.print(f"exactly once: {'[green]yes[/]' if e['ok'] else '[red]NO[/]'} — ods {e['ods']}, dwd {e['dwd']}, "
                  f"quarantined {e['quarantined']}")



def fresh(args: argparse.Namespace, results: dict[str, Any], lake: Path, keys: dict[str, str], users: list[str],
          run_id: str) -> None:
    """Step 5: freshness, with the loader on (after a snapshot rebuild, as after the collector's load)."""
    out = args.out_dir
    snap2_json = out / "logs" / "snapshot-after-load.json"
    results["snapshot_after_load"] = run_child(
        "snapshot-rebuild", [sys.executable, "-m", "benchmarks.service_snapshot", "--lake", str(lake),
                             "--json", str(snap2_json)], out, args.sample_interval)
    if snap2_json.exists():
        results["snapshot_after_load"].update(json.loads(snap2_json.read_text()))
    port = free_port()
    live = Server("siyu-live", serve_cmd(lake, port, out, args, drain=True), port, out, args.sample_interval)
    live.wait_ready(args.start_timeout, snapshot=True)
    results["freshness"] = freshness(live, users, keys, args, run_id)
    results["freshness"]["server_exit_code"] = live.stop()
    results["freshness"]["server_whole_peak_rss_bytes"] = live.peak


if __name__ == "__main__":
    main()
