"""The load generator of the service benchmark: a separate process sending HTTP/1.1 over keep-alive connections.

``python -m benchmarks.service_load --port P --mode batch|track|lookup --connections 16 --count N
--seconds T --json RESULT [--key TOKEN] [--prefix ID] [--users FILE] [--paths FILE] [--acked FILE]``

Every connection is a coroutine that sends one request, reads the whole answer, and sends the next
(a closed loop, as SDK flush threads and API clients do); ``--connections`` of them run at once.
Each request's latency is ``time.perf_counter`` from just before the request is written to just
after the last byte of the answer is read. The run stops after ``--count`` requests or ``--seconds``,
whichever comes first (requests already sent are finished).

* ``batch``: ``POST /v1/batch`` with ``--batch-size`` track events (unique messageIds) per request, as
  the SDKs send; ``track``: one ``POST /v1/track`` per event. Write key as HTTP Basic user name.
  An event counts as *acknowledged* only when its request was answered ``200``; its messageId is
  written to ``--acked`` so the caller can check that every one of them landed once.
* ``lookup``: ``GET`` of the paths in ``--paths`` (one per line, cycled in order), user key as Bearer.

The client speaks raw HTTP/1.1 on asyncio streams instead of using httpx: on a 2-core machine shared
with the server, an httpx client spends several times more CPU per request than the answer costs a
bare server, and the floor measured would be the client's. The answers are parsed for status,
``Content-Length`` (or chunked encoding) and, for the collector, the JSON ``accepted`` count.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import resource
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

CATEGORIES = ("面霜", "精华", "洁面", "防晒", "面膜", "彩妆")
EVENTS = ("product_viewed", "page_viewed", "cart_added", "content_viewed")


class Stop(Exception):
    """The request source is exhausted or the time is up."""


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50 … max of latencies in seconds (nearest-rank), in milliseconds."""
    if not values:
        return {k: None for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms")}
    s = sorted(values)

    def rank(q: float) -> float:
        return s[min(len(s) - 1, max(0, int(q * len(s) + 0.999999) - 1))] * 1000

    return {"p50_ms": round(rank(0.50), 3), "p90_ms": round(rank(0.90), 3), "p99_ms": round(rank(0.99), 3),
            "p999_ms": round(rank(0.999), 3), "max_ms": round(s[-1] * 1000, 3),
            "mean_ms": round(sum(s) / len(s) * 1000, 3)}


def _request(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    if method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server will close the connection, of one HTTP/1.1 answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = await reader.read()
        return status, body, True
    return status, body, headers.get("connection", "").lower() == "close"


class Source:
    """Requests to send: ``(raw request, messageIds it carries)``; bounded by count and deadline."""

    def __init__(self, items: Iterator[tuple[bytes, list[str]]], count: int, deadline: float) -> None:
        self.items, self.left, self.deadline = items, count, deadline

    def next(self) -> tuple[bytes, list[str]]:
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            raise Stop
        self.left -= 1
        try:
            return next(self.items)
        except StopIteration:
            raise Stop from None


def collector_requests(args: argparse.Namespace, host: str, users: list[str]) -> Iterator[tuple[bytes, list[str]]]:
    """Segment track messages for known user_ids, each with a unique messageId ``<prefix>-<n>``."""
    auth = "Basic " + base64.b64encode(f"{args.key}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json", "User-Agent": "siyu-bench/1"}
    counter = itertools.count()
    per_request = args.batch_size if args.mode == "batch" else 1
    path = "/v1/batch" if args.mode == "batch" else "/v1/track"
    while True:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        msgs, ids = [], []
        for _ in range(per_request):
            n = next(counter)
            mid = f"{args.prefix}-{n}"
            ids.append(mid)
            msgs.append({"type": "track", "event": EVENTS[n % len(EVENTS)], "userId": users[n % len(users)],
                         "messageId": mid, "timestamp": now,
                         "properties": {"sku": f"SKU-{n % 997:04d}", "category": CATEGORIES[n % len(CATEGORIES)],
                                        "path": f"/pages/product/{n % 997}"},
                         "context": {"library": {"name": "siyu-bench", "version": "1"}}})
        if args.mode == "batch":
            body = orjson.dumps({"batch": msgs, "sentAt": now})
        else:
            body = orjson.dumps({**msgs[0], "sentAt": now})
        yield _request("POST", path, host, headers, body), ids


def lookup_requests(args: argparse.Namespace, host: str) -> Iterator[tuple[bytes, list[str]]]:
    headers = {"Authorization": f"Bearer {args.key}", "User-Agent": "siyu-bench/1"} if args.key else {}
    paths = [p for p in Path(args.paths).read_text().splitlines() if p]
    for path in itertools.cycle(paths):
        yield _request("GET", path, host, headers), []


class Results:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.status: Counter[int] = Counter()
        self.requests_ok = 0
        self.events_acked = 0
        self.accepted = 0  # what the server said it accepted (siyu's answer); None-safe for the floor
        self.duplicates = 0
        self.rejected = 0
        self.errors: Counter[str] = Counter()
        self.acked_ids: list[str] = []
        self.first_start: float | None = None
        self.last_end = 0.0


async def connection(host: str, port: int, source: Source, res: Results, collect: bool) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                raw, ids = source.next()
            except Stop:
                return
            t0 = time.perf_counter()
            if res.first_start is None:
                res.first_start = t0
            try:
                writer.write(raw)
                await writer.drain()
                status, body, close = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                res.errors[type(exc).__name__] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            t1 = time.perf_counter()
            res.latencies.append(t1 - t0)
            res.last_end = max(res.last_end, t1)
            res.status[status] += 1
            if status == 200:
                res.requests_ok += 1
                if collect:
                    res.events_acked += len(ids)
                    res.acked_ids.extend(ids)
                    try:
                        answer: Any = orjson.loads(body)
                    except orjson.JSONDecodeError:
                        answer = {}
                    res.accepted += int(answer.get("accepted", len(ids))) if isinstance(answer, dict) else len(ids)
                    if isinstance(answer, dict):
                        res.duplicates += int(answer.get("duplicates", 0))
                        res.rejected += len(answer.get("rejected") or [])
            elif len(res.errors) < 50:
                res.errors[f"{status}: {body[:160].decode(errors='replace')}"] += 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    host = f"{args.host}:{args.port}"
    collect = args.mode in ("batch", "track")
    if collect:
        users = [u for u in Path(args.users).read_text().splitlines() if u]
        items = collector_requests(args, host, users)
    else:
        items = lookup_requests(args, host)
    res = Results()
    started = time.perf_counter()
    source = Source(items, args.count, started + args.seconds)
    await asyncio.gather(*(connection(args.host, args.port, source, res, collect) for _ in range(args.connections)))
    wall = (res.last_end - res.first_start) if res.first_start is not None and res.last_end else 0.0
    if args.acked:
        Path(args.acked).write_text("".join(f"{m}\n" for m in res.acked_ids))
    requests = sum(res.status.values())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out: dict[str, Any] = {
        "mode": args.mode, "connections": args.connections, "requests": requests, "requests_ok": res.requests_ok,
        "status": {str(k): v for k, v in sorted(res.status.items())}, "errors": dict(res.errors.most_common(20)),
        "seconds": round(wall, 4), "requests_per_s": round(res.requests_ok / wall, 1) if wall else None,
        "latency": percentiles(res.latencies), "stopped_by": "count" if source.left <= 0 else "time",
        "client_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
    }
    if collect:
        out.update({"batch_size": args.batch_size if args.mode == "batch" else 1, "events_acked": res.events_acked,
                    "events_per_s": round(res.events_acked / wall, 1) if wall else None,
                    "accepted_by_server": res.accepted, "duplicates": res.duplicates, "rejected": res.rejected})
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.service_load", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=("batch", "track", "lookup"), required=True)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--count", type=int, required=True, help="requests to send at most")
    ap.add_argument("--seconds", type=float, default=60.0, help="stop sending after this long")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--key", default="", help="write key (collector) or user key (look-ups)")
    ap.add_argument("--prefix", default="bench", help="messageId prefix, unique per run and shape")
    ap.add_argument("--users", type=Path, help="user_ids for the events, one per line")
    ap.add_argument("--paths", type=Path, help="look-up paths, one per line")
    ap.add_argument("--acked", type=Path, help="write the messageIds answered 200 here")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)
    result = asyncio.run(run(args))
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
