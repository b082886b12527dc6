"""The baselines of the service benchmark: a bare ASGI app on uvicorn, the same server settings as ``siyu serve``.

``python -m benchmarks.service_floor --port P [--lake LAKE]``

* **Collector floor**: ``POST /v1/<anything>`` reads the whole body and answers ``200 {"success": true}``
  without parsing, validating, authenticating or storing anything: what HTTP alone costs on this machine
  with this server stack (uvicorn, its default event loop and HTTP parser, one process).
* **Naive look-up** (with ``--lake``): ``GET /naive/member_no/{value}`` answers a person the way one would
  without a serving snapshot: per request, DuckDB queries of the lake's Parquet — ``identity/nodes`` (with
  ``identity/redirects``) for the one_id, then ``ads/profiles`` and ``ads/tag_values`` filtered by it. The
  file lists are read once at start-up (cheaper than the naive way); each request runs on its own cursor
  in a worker thread, so concurrent requests run in parallel as DuckDB allows.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import duckdb
import orjson

from siyu.warehouse.lake import Lake

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SUCCESS = b'{"success":true}'
JSON_HEADERS = [(b"content-type", b"application/json")]


class NaiveLookup:
    """One person from the lake's Parquet, with no snapshot: three DuckDB queries per call."""

    def __init__(self, lake: Lake) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        files = {t: lake.files(layer, t) for layer, t in (("identity", "nodes"), ("identity", "redirects"),
                                                          ("ads", "profiles"), ("ads", "tag_values"))}
        if not (files["nodes"] and files["profiles"] and files["tag_values"]):
            raise SystemExit(f"{lake.root} lacks identity/nodes, ads/profiles or ads/tag_values")
        for name in ("nodes", "profiles", "tag_values"):  # views over our own lake files, no paths in SQL text
            self.con.read_parquet(files[name]).create_view(f"naive_{name}")
        if files["redirects"]:
            self.con.read_parquet(files["redirects"]).create_view("naive_redirects")
        else:
            self.con.execute("CREATE VIEW naive_redirects AS SELECT CAST(NULL AS VARCHAR) AS from_one_id, "
                             "CAST(NULL AS VARCHAR) AS to_one_id WHERE false")
        self.find_sql = ("SELECT coalesce(r.to_one_id, n.one_id) FROM naive_nodes AS n "
                         "LEFT JOIN naive_redirects AS r ON r.from_one_id = n.one_id "
                         "WHERE n.identifier_type = 'member_no' AND n.identifier_value = ?")
        self.profile_sql = "SELECT * FROM naive_profiles WHERE one_id = ?"
        self.tags_sql = "SELECT tag, value, score FROM naive_tag_values WHERE one_id = ? ORDER BY tag"

    def person(self, member_no: str) -> dict[str, Any] | None:
        cur = self.con.cursor()
        try:
            found = cur.execute(self.find_sql, [member_no]).fetchone()
            if found is None:
                return None
            one_id = found[0]
            res = cur.execute(self.profile_sql, [one_id])
            names = [d[0] for d in res.description or []]
            row = res.fetchone()
            tags = cur.execute(self.tags_sql, [one_id]).fetchall()
        finally:
            cur.close()
        return {"one_id": one_id, "profile": dict(zip(names, row, strict=True)) if row else None,
                "tags": {t: {"value": v, "score": s} for t, v, s in tags}}


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def make_app(naive: NaiveLookup | None) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def respond(send: Send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        more = True
        while more:  # read the whole body, as the collector must before it can answer
            message = await receive()
            more = message.get("more_body", False)
        path: str = scope["path"]
        if scope["method"] == "POST" and path.startswith("/v1/"):
            await respond(send, 200, SUCCESS)
        elif scope["method"] == "GET" and path == "/healthz":
            await respond(send, 200, b'{"status":"ok","snapshot_ready":true}')
        elif scope["method"] == "GET" and naive is not None and path.startswith("/naive/member_no/"):
            person = await asyncio.to_thread(naive.person, unquote(path.rsplit("/", 1)[1]))
            if person is None:
                await respond(send, 404, b'{"code":"unknown_person"}')
            else:
                await respond(send, 200, orjson.dumps(person, default=_default))
        else:
            await respond(send, 404, b'{"code":"not_found"}')

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    ap = argparse.ArgumentParser(prog="python -m benchmarks.service_floor", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--lake", default=None, help="serve naive look-ups from this lake's Parquet")
    args = ap.parse_args(argv)
    naive = NaiveLookup(Lake(args.lake)) if args.lake else None
    # the settings `siyu serve` passes to uvicorn (src/siyu/cli/serve_cmds.py)
    uvicorn.run(make_app(naive), host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=30)


if __name__ == "__main__":
    main()
