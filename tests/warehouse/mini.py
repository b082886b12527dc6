"""Hand-written tiny worlds whose right answers can be worked out on paper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def msg(mid: str, day: int, hour: int = 10, *, type_: str = "track", event: str | None = "page_viewed",
        props: dict[str, Any] | None = None, **ids: Any) -> dict[str, Any]:
    ts = f"2026-01-{day:02d}T{hour:02d}:00:00Z"
    m: dict[str, Any] = {"type": type_, "messageId": mid, "timestamp": ts, "sentAt": ts, "receivedAt": ts}
    if event is not None and type_ == "track":
        m["event"] = event
    if props is not None:
        m["properties"] = props
    ctx: dict[str, Any] = {}
    traits: dict[str, Any] = {}
    for key, value in ids.items():
        if key == "user_id":
            m["userId"] = value
        elif key == "anonymous_id":
            m["anonymousId"] = value
        elif key == "device_id":
            ctx["device"] = {"id": value}
        elif key == "openid":
            ctx.setdefault("externalIds", []).append({"type": "openid", "id": value, "collection": "wx_mp"})
        else:
            traits[key] = value
    if traits:
        ctx["traits"] = traits
    if ctx:
        m["context"] = ctx
    if "userId" not in m and "anonymousId" not in m:
        m["anonymousId"] = f"anon-{mid}"
    return m


def order(mid: str, day: int, order_id: str, amount: float, **ids: Any) -> dict[str, Any]:
    return msg(mid, day, 12, event="order_paid",
               props={"order_id": order_id, "amount": amount, "currency": "CNY"}, **ids)


def write_lines(path: Path, rows: list[dict[str, Any] | bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for r in rows:
            f.write((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n")
    return path


def small_world() -> list[dict[str, Any] | bytes]:
    """Three people, a shared tablet, a duplicate and two bad lines; answers worked out in the tests."""
    return [
        # person A: anonymous → identify with phone → orders
        msg("a1", 1, anonymous_id="anonA"),
        msg("a2", 1, 11, type_="identify", event=None, anonymous_id="anonA", user_id="uA", phone="13800000001"),
        order("a3", 2, "oA1", 100.0, user_id="uA"),
        order("a3", 2, "oA1", 100.0, user_id="uA"),  # duplicate delivery
        order("a4", 5, "oA2", 50.5, user_id="uA"),
        # person B: openid in the mini program, phone on an order → same person as uB
        msg("b1", 2, openid="opB", anonymous_id="anonB"),
        msg("b2", 3, type_="identify", event=None, user_id="uB", anonymous_id="anonB"),
        order("b3", 3, "oB1", 20.0, user_id="uB"),
        # person C: only anonymous
        msg("c1", 4, anonymous_id="anonC"),
        # the store tablet, used by A, B and a third phone: must not merge them
        msg("t1", 4, event="store_visited", props={"store_id": "s1"}, device_id="tablet", phone="13800000001"),
        msg("t2", 4, event="store_visited", props={"store_id": "s1"}, device_id="tablet", user_id="uB"),
        msg("t3", 4, event="store_visited", props={"store_id": "s1"}, device_id="tablet", phone="13800000009"),
        msg("t4", 5, event="store_visited", props={"store_id": "s1"}, device_id="tablet", phone="13800000008"),
        b'{"type": "track", "messageId": "bad1", ',
        orjson.dumps(order("bad2", 3, "oX", "abc", user_id="uA")),  # type: ignore[arg-type]
    ]
