"""A person's events, newest first, read straight from ``dwd/events`` so new data shows within a build.

Pagination is by keyset (event time, message id), so pages stay stable while events arrive; the
cursor is opaque to callers. Only the day partitions inside the asked window are scanned.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import orjson

from siyu.core.errors import SiyuError
from siyu.warehouse.lake import Lake

TIMELINE_COLUMNS = ("message_id", "type", "event", "event_time", "received_at", "source", "channel", "order_id",
                    "amount", "properties")


@dataclass(frozen=True)
class TimelinePage:
    events: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(event_time: datetime, message_id: str) -> str:
    raw = orjson.dumps([event_time.isoformat(), message_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (event_time, message_id) a cursor stands for; anything else is a ``bad_cursor`` error."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, mid = orjson.loads(raw)
        when = datetime.fromisoformat(ts)
        if not isinstance(mid, str) or when.tzinfo is None:
            raise ValueError("malformed")
        return when, mid
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise SiyuError("the cursor is not one this API returned", code="bad_cursor", input_name="cursor") from None


def _files(lake: Lake, since: date, until: date) -> list[str]:
    out: list[str] = []
    for day in lake.partitions("dwd", "events"):
        if since.isoformat() <= day <= until.isoformat():
            out.extend(str(p) for p in sorted(lake.partition_dir("dwd", "events", day).glob("*.parquet"))
                       if not p.name.startswith((".", "_")))
    return out


def person_events(lake: Lake, one_ids: list[str], *, since: date, until: date, limit: int = 50,
                  cursor: str | None = None, event: str | None = None) -> TimelinePage:
    """One page of the events of ``one_ids`` (a person and its merged ids) between two business days."""
    if until < since:
        raise SiyuError("'until' is before 'since'", code="bad_period", input_name="until")
    if (until - since) > timedelta(days=3660):
        raise SiyuError("a timeline window is at most ten years", code="bad_period", input_name="since")
    after = decode_cursor(cursor) if cursor else None  # a bad cursor is refused even if the window is empty
    files = _files(lake, since, until)
    if not files:
        return TimelinePage([], None)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rel = con.read_parquet(files, hive_partitioning=True, union_by_name=True)
        con.register("timeline_ids", _ids_relation(con, one_ids))
        con.register("dwd_events_window", rel)
        where = ["e.one_id IN (SELECT one_id FROM timeline_ids)"]
        params: dict[str, Any] = {"lim": limit + 1}
        if event:
            where.append("e.event = $event")
            params["event"] = event
        if after is not None:
            at, mid = after
            where.append("(e.event_time < $at OR (e.event_time = $at AND e.message_id < $mid))")
            params.update(at=at, mid=mid)
        cols = ", ".join(f"e.{c}" for c in TIMELINE_COLUMNS)
        res = con.execute(f"SELECT {cols} FROM dwd_events_window AS e WHERE {' AND '.join(where)} "
                          "ORDER BY e.event_time DESC, e.message_id DESC LIMIT $lim", params)
        names = [d[0] for d in res.description or []]
        rows = [dict(zip(names, r, strict=True)) for r in res.fetchall()]
    finally:
        con.close()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["event_time"], rows[-1]["message_id"]) if more else None
    return TimelinePage([_shape(r) for r in rows], next_cursor)


def _ids_relation(con: duckdb.DuckDBPyConnection, one_ids: list[str]) -> duckdb.DuckDBPyRelation:
    import pyarrow as pa

    return con.from_arrow(pa.table({"one_id": pa.array(one_ids, pa.string())}))


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k == "properties":
            out[k] = orjson.loads(v) if v else {}
        elif isinstance(v, Decimal):
            out[k] = float(v)
        elif isinstance(v, datetime):
            out[k] = v.isoformat()
        else:
            out[k] = v
    return out
