"""SIGKILL ``siyu serve`` under load: no acknowledged event is lost, none is duplicated after restart and retry.

Each case runs the real server as a subprocess on a private copy of the lake, store and spool, posts
``/v1/batch`` requests from a few client threads as fast as they go, and kills the server with
SIGKILL once a given number of batches has been acknowledged, with requests still in flight (and,
with draining on, usually in the middle of a drain or a build). It then restarts the server on the
same files and, as an SDK would, resends every batch that got no 200 (same messageIds) and nothing
else, lets the server drain and build, stops it with SIGTERM, and counts every messageId in
``ods/events``, ``dwd/events`` and the spool.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from siyu.collect.drain import drain, state_name
from siyu.collect.spool import Spool
from siyu.store.db import open_store
from siyu.store.keys import create_key
from siyu.warehouse.lake import Lake

PREFIX = "crash-"
EVENTS_PER_BATCH = 40
CLIENT_THREADS = 4
#: Bounds of the load loop: batches in all, and seconds until the kill must have happened.
MAX_BATCHES = 2000
LOAD_DEADLINE = 60.0
START_TIMEOUT = 90.0
STOP_TIMEOUT = 120.0


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base_url: str
    log: Path


@dataclass
class Load:
    """What the client saw, per batch index."""

    acked: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)  # batch → why (exception or status)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def attempted(self) -> set[int]:
        return self.acked | set(self.failed)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _batch(b: int) -> dict[str, Any]:
    """Batch ``b``: always the same events (an SDK resends the very same messages)."""
    events = []
    for i in range(EVENTS_PER_BATCH):
        n = b * EVENTS_PER_BATCH + i
        events.append({"type": "track", "messageId": f"{PREFIX}{b}-{i}", "userId": f"crash-user-{n % 97}",
                       "event": "crash_probe", "properties": {"b": b, "i": i},
                       "timestamp": f"2026-03-0{2 + n % 2}T{n % 24:02d}:00:00Z"})
    return {"batch": events, "sentAt": "2026-03-03T23:59:00Z"}


def _ids(batches: set[int]) -> set[str]:
    return {f"{PREFIX}{b}-{i}" for b in batches for i in range(EVENTS_PER_BATCH)}


def _start(tmp: Path, lake: Path, store_url: str, spool: Path, port: int, *, drain_on: bool, run: int) -> Server:
    log = tmp / f"serve-{run}.log"
    cmd = [sys.executable, "-m", "siyu.cli.main", "serve", "--lake", str(lake), "--host", "127.0.0.1",
           "--port", str(port), "--store", store_url, "--spool", str(spool), "--drain-interval", "0.2",
           "--rate-limit", "10000000", "--snapshot-interval", "3600", "--drain" if drain_on else "--no-drain"]
    env = {**os.environ, "SIYU_HOME": str(tmp / "home"), "SIYU_LOG_LEVEL": "INFO", "SIYU_LOG_FORMAT": "json"}
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"server run {run} exited with {proc.returncode} while starting:\n{_tail(log)}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=2, trust_env=False).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            _kill(server)
            raise AssertionError(f"server run {run} did not answer /healthz in {START_TIMEOUT:g} s:\n{_tail(log)}")
        time.sleep(0.1)


def _kill(server: Server) -> None:
    if server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def _log_events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def _post(client: httpx.Client, b: int) -> str | None:
    """None when batch ``b`` was acknowledged (200, every event accepted or a known duplicate); else why not.

    A 200 whose body does not account for every event is reported as ``bad answer`` (the test fails on it).
    """
    try:
        r = client.post("/v1/batch", json=_batch(b))
    except httpx.HTTPError as exc:
        return type(exc).__name__
    if r.status_code != 200:
        return f"HTTP {r.status_code}"
    try:
        body = r.json()
        ok = body["rejected"] == [] and body["accepted"] + body["duplicates"] == EVENTS_PER_BATCH
    except (ValueError, KeyError, TypeError):
        ok = False
    return None if ok else f"bad answer: {r.text[:200]}"


def _load_until_kill(server: Server, write_key: str, kill_after: int,
                     moment: Callable[[], bool]) -> tuple[Load, int, float]:
    """Post batches from several threads; SIGKILL the server once ``kill_after`` batches are acknowledged,
    requests are in flight and ``moment()`` says so. Returns (load, requests in flight, seconds of load)."""
    load = Load()
    stop = threading.Event()
    next_batch = itertools.count()
    in_flight = [0]

    def worker() -> None:
        with httpx.Client(base_url=server.base_url, auth=(write_key, ""), timeout=30, trust_env=False) as client:
            while not stop.is_set():
                b = next(next_batch)
                if b >= MAX_BATCHES:
                    return
                with load.lock:
                    in_flight[0] += 1
                why = _post(client, b)
                with load.lock:
                    in_flight[0] -= 1
                    if why is None:
                        load.acked.add(b)
                    else:
                        load.failed[b] = why

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(CLIENT_THREADS)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    try:
        while True:
            with load.lock:
                acked, busy = len(load.acked), in_flight[0]
            if acked >= kill_after and busy > 0 and moment():
                break
            if time.monotonic() - t0 > LOAD_DEADLINE or not any(t.is_alive() for t in threads):
                raise AssertionError(f"{acked} batches acknowledged, and the moment to kill did not come; failures: "
                                     f"{Counter(load.failed.values())}\n{_tail(server.log)}")
            time.sleep(0.002)
        with load.lock:
            busy = in_flight[0]
        os.kill(server.proc.pid, signal.SIGKILL)
        seconds = time.monotonic() - t0
    finally:
        stop.set()
        server.proc.wait(timeout=30)
        for t in threads:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a client thread hung after the kill"
    return load, busy, seconds


def _retry(server: Server, write_key: str, batches: set[int]) -> Counter[str]:
    """Resend every unacknowledged batch until acknowledged (bounded); returns how the first tries went."""
    outcomes: Counter[str] = Counter()
    with httpx.Client(base_url=server.base_url, auth=(write_key, ""), timeout=60, trust_env=False) as client:
        for b in sorted(batches):
            for attempt in range(5):
                r = client.post("/v1/batch", json=_batch(b))
                if r.status_code == 200:
                    body = r.json()
                    assert body["rejected"] == [], body
                    assert body["accepted"] + body["duplicates"] == EVENTS_PER_BATCH, body
                    if attempt == 0:
                        outcomes["new" if body["duplicates"] == 0 else
                                 "already stored" if body["accepted"] == 0 else "partly stored"] += 1
                    break
                time.sleep(0.5)
            else:
                raise AssertionError(f"batch {b} was not acknowledged after a restart: HTTP {r.status_code} {r.text}")
    return outcomes


def _stop(server: Server) -> None:
    """SIGTERM: the server stops taking requests, drains a last time and builds."""
    os.kill(server.proc.pid, signal.SIGTERM)
    try:
        server.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill(server)
        raise AssertionError(f"the server did not stop within {STOP_TIMEOUT:g} s of SIGTERM:\n"
                             f"{_tail(server.log)}") from None
    assert server.proc.returncode in (0, -signal.SIGTERM), \
        f"the server exited with {server.proc.returncode}:\n{_tail(server.log)}"


def _message_ids(lake: Lake, layer: str, table: str) -> Counter[str]:
    files = lake.files(layer, table)
    if not files:
        return Counter()
    return Counter(pq.read_table(files, columns=["message_id"])["message_id"].to_pylist())


class _LogWatch:
    """Reads the server's JSON log as it grows; ``saw(event, step)`` once such a line has appeared."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = log.stat().st_size if log.exists() else 0
        self.seen: list[str] = []

    def saw(self, event: str, step: str | None = None) -> bool:
        with self.log.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        for line in chunk[:end].splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if isinstance(e, dict):
                self.seen.append(f"{e.get('event')}:{e.get('step', '')}")
        return any(x == f"{event}:{step or ''}" for x in self.seen)


def _phase_at_kill(log: Path) -> str:
    """The last loader event the killed server logged (where the kill landed, roughly)."""
    events = [e for e in _log_events(log) if str(e.get("event", "")).startswith(("collect.", "build.", "serving."))]
    if not events:
        return "no loader event logged"
    last = events[-1]
    return f"{last['event']}" + (f" ({last['step']})" if "step" in last else "")


@pytest.fixture(scope="module")
def template_counts(api_template: Path) -> dict[str, int]:
    lake = Lake(api_template / "lake")
    return {"ods.events": sum(_message_ids(lake, "ods", "events").values()),
            "dwd.events": sum(_message_ids(lake, "dwd", "events").values()),
            "ods.quarantine": _rows(lake, "quarantine")}


def _rows(lake: Lake, table: str) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in lake.files("ods", table))


#: (draining on, least acknowledged batches, when to kill): "now", "landing" (the loader's intent is
#: recorded and it is writing the batch's files), or "after <build step>" (the build is in its next step).
CASES = [
    pytest.param(True, 3, "now", id="drain-early"),
    pytest.param(True, 10, "landing", id="drain-mid-land"),
    pytest.param(True, 10, "after identity_extract", id="drain-mid-identity"),
    pytest.param(True, 10, "after dwd_events", id="drain-mid-dwd"),
    pytest.param(False, 15, "now", id="no-drain-mid-append"),
]


@pytest.mark.parametrize(("drain_on", "kill_after", "when"), CASES)
def test_sigkill_under_load_loses_and_duplicates_nothing(api_template: Path, template_counts: dict[str, int],
                                                        tmp_path: Path, drain_on: bool, kill_after: int,
                                                        when: str) -> None:
    tmp = tmp_path
    shutil.copytree(api_template / "lake", tmp / "lake")
    lake = Lake(tmp / "lake")
    store_url = f"sqlite:///{tmp / 'store.db'}"
    with open_store(store_url) as store:
        _info, write_key = create_key(store, kind="write", name="crash load", source="crashtest")
    spool_path = tmp / "spool.db"
    port = _free_port()

    first = _start(tmp, lake.root, store_url, spool_path, port, drain_on=drain_on, run=1)
    state_file = lake.state_path(f"collector-{_spool_id(spool_path)}")
    watch = _LogWatch(first.log)

    def moment() -> bool:
        if when == "now":
            return True
        if when == "landing":  # a batch's intent is recorded and its files are being written
            return (any(lake.table_dir("ods", "events").parent.glob(".tmp-collect-*")) and state_file.exists()
                    and "intent" in json.loads(state_file.read_text()))
        return watch.saw("build.step", when.removeprefix("after "))

    try:
        load, in_flight, seconds = _load_until_kill(first, write_key, kill_after, moment)
    finally:
        _kill(first)
    phase = _phase_at_kill(first.log) if drain_on else "no drain"
    intent_left = state_file.exists() and "intent" in json.loads(state_file.read_text())
    unacked = load.attempted - load.acked
    summary = (f"killed {when} after {seconds:.1f} s of load: acked {len(load.acked)} batches, unacked "
               f"{len(unacked)} ({dict(Counter(load.failed.values()))}), {in_flight} in flight at the kill, last "
               f"loader event: {phase}, intent left: {intent_left}")
    bad = [why for why in load.failed.values() if why.startswith("bad answer")]
    assert not bad, f"the server acknowledged batches without accounting for every event: {bad[:3]}"
    assert load.acked and unacked, f"the kill must fall between acknowledged and unanswered requests: {summary}"

    second = _start(tmp, lake.root, store_url, spool_path, port, drain_on=drain_on, run=2)
    try:
        outcomes = _retry(second, write_key, unacked)
        summary += f"; retried {len(unacked)}: {dict(outcomes)}"
        _stop(second)
    finally:
        _kill(second)
    restarted = _log_events(second.log)
    failures = [e for e in restarted if e.get("level") == "error"]
    assert not failures, f"the restarted server logged errors: {failures[:3]}; {summary}"
    redone = sum(1 for e in restarted if e.get("event") == "collect.redo")
    summary += f"; batches redone after restart: {redone}"

    # Whatever the server left (with draining off: everything) is landed and built now.
    with Spool(spool_path, group_commit=False) as spool:
        report = drain(spool, lake, build_engine="duckdb")
        state = lake.read_state(state_name(spool))
        stats = spool.stats()
    spooled = Counter(str(m) for (m,) in _spool_query(spool_path, "SELECT message_id FROM spool WHERE message_id "
                                                                  f"LIKE '{PREFIX}%'"))
    assert report.build_error is None, report.build_error
    if drain_on:
        assert report.landed == 0, f"the server's last drain left {report.landed} rows pending; {summary}"
    assert stats.pending == 0 and not state.get("intent") and state.get("build_pending") is False, (state, stats)
    stale = sorted(p.name for p in (lake.root / "ods").glob(".tmp-collect-*"))
    assert not stale, f"a killed loader's scratch folders are still there: {stale}; {summary}"
    leftovers = sorted(str(p.relative_to(lake.root)) for pattern in (".tmp-*", ".old-*")
                       for p in lake.root.rglob(pattern))
    summary += f"; other scratch left by the kill: {leftovers or 'none'}"

    sent = _ids(load.attempted)
    acked_ids, retried_ids = _ids(load.acked), _ids(unacked)
    ods, dwd = _message_ids(lake, "ods", "events"), _message_ids(lake, "dwd", "events")
    counts = {"sent": len(sent), "acked": len(acked_ids), "retried": len(retried_ids), "spooled": len(spooled),
              "ods": sum(n for m, n in ods.items() if m.startswith(PREFIX)),
              "dwd": sum(n for m, n in dwd.items() if m.startswith(PREFIX))}
    summary += f"; events {counts}"
    for where, ids in (("spool", spooled), ("ods/events", ods), ("dwd/events", dwd)):
        ours = {m: n for m, n in ids.items() if m.startswith(PREFIX)}
        lost_acked = acked_ids - ours.keys()
        lost_retried = retried_ids - ours.keys()
        twice = {m: n for m, n in ours.items() if n > 1}
        never_sent = ours.keys() - sent
        assert not lost_acked, f"{len(lost_acked)} acknowledged events missing from {where}; {summary}"
        assert not lost_retried, f"{len(lost_retried)} retried events missing from {where}; {summary}"
        assert not twice, f"{len(twice)} events more than once in {where} (e.g. {list(twice)[:3]}); {summary}"
        assert not never_sent, f"{len(never_sent)} events in {where} that were never sent; {summary}"
    dwd_rows = pq.read_table(lake.files("dwd", "events"), columns=["message_id", "one_id", "source"]).to_pylist()
    ours_dwd = [r for r in dwd_rows if r["message_id"].startswith(PREFIX)]
    assert all(r["one_id"] and r["source"] == "crashtest" for r in ours_dwd), summary
    # Nothing else moved: the lake's own rows are as many as before, nothing was quarantined.
    assert sum(ods.values()) - counts["ods"] == template_counts["ods.events"], summary
    assert sum(dwd.values()) - counts["dwd"] == template_counts["dwd.events"], summary
    assert _rows(lake, "quarantine") == template_counts["ods.quarantine"], summary
    assert stats.accepted == len(sent), f"spool counted {stats.accepted} accepted; {summary}"
    print(f"\n[{'drain' if drain_on else 'no-drain'}] {summary}")


def _spool_query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        return list(con.execute(sql).fetchall())
    finally:
        con.close()


def _spool_id(path: Path) -> str:
    return str(_spool_query(path, "SELECT value FROM meta WHERE key = 'spool_id'")[0][0])
