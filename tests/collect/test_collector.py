"""The collector: Segment's HTTP API normalisation, validation into reasons, and full accounting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.collect.collector import UNPROCESSABLE, BatchTooLarge, Collector, normalise
from siyu.collect.spool import Spool
from siyu.core.validation import Accepted, validate_line

NOW = datetime(2026, 3, 1, 8, 0, 0, 123000, tzinfo=UTC)
NOW_ISO = "2026-03-01T08:00:00.123000Z"


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool.db") as sp:
        yield sp


@pytest.fixture
def collector(spool: Spool) -> Collector:
    return Collector(spool)


def stored(spool: Spool) -> list[dict[str, Any]]:
    return [orjson.loads(r.body) for r in spool.pending(1000)]


def track(mid: str | None = "m1", **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"userId": "u1", "event": "page_viewed", **extra}
    if mid is not None:
        msg["messageId"] = mid
    return msg


# --- normalisation, as Segment's HTTP tracking API documents it --------------------------------
def test_type_comes_from_the_endpoint_only_when_missing(collector: Collector, spool: Spool) -> None:
    res = collector.collect([track("m1"), {**track("m2"), "type": "identify"}], source="web", received_at=NOW,
                            type_hint="track")
    assert res.accepted == 2
    assert [m["type"] for m in stored(spool)] == ["track", "identify"]


def test_batch_context_is_merged_under_each_messages_own(collector: Collector, spool: Spool) -> None:
    batch_ctx = {"library": {"name": "analytics-python", "version": "2.3.0"}, "ip": "10.0.0.1",
                 "locale": "zh-CN"}
    own = {"library": {"version": "2.3.1"}, "page": {"path": "/"}, "locale": "en-US"}
    msgs = [track("m1", type="track", context=own), track("m2", type="track")]
    collector.collect(msgs, source="web", received_at=NOW, batch_context=batch_ctx)
    first, second = stored(spool)
    assert first["context"] == {"library": {"name": "analytics-python", "version": "2.3.1"}, "ip": "10.0.0.1",
                                "locale": "en-US", "page": {"path": "/"}}
    assert second["context"] == batch_ctx
    assert msgs[0]["context"] == own and "receivedAt" not in msgs[0]  # the caller's objects are not changed


def test_batch_sent_at_applies_to_messages_without_their_own(collector: Collector, spool: Spool) -> None:
    msgs = [track("m1", type="track", timestamp="2026-03-01T07:00:00Z"),
            track("m2", type="track", timestamp="2026-03-01T07:00:00Z", sentAt="2026-03-01T07:30:00Z")]
    collector.collect(msgs, source="web", received_at=NOW, batch_sent_at="2026-03-01T07:59:00Z")
    assert [m["sentAt"] for m in stored(spool)] == ["2026-03-01T07:59:00Z", "2026-03-01T07:30:00Z"]


def test_missing_timestamp_means_the_event_happened_when_received() -> None:
    plain = normalise(track("m1"), received_at=NOW, type_hint="track")
    assert plain["timestamp"] == plain["receivedAt"] == NOW_ISO
    # With a (skewed) sentAt, timestamp takes the client's clock so the skew correction cancels out.
    skewed = normalise(track("m1", sentAt="2026-03-01T09:00:00Z"), received_at=NOW, type_hint="track")
    assert skewed["timestamp"] == "2026-03-01T09:00:00Z"
    verdict = validate_line(orjson.dumps(skewed), max_bytes=10**6)
    assert isinstance(verdict, Accepted) and verdict.event_time == NOW


def test_server_stamps_received_at_over_the_clients(collector: Collector, spool: Spool) -> None:
    collector.collect([track("m1", type="track", receivedAt="1999-01-01T00:00:00Z")], source="web", received_at=NOW)
    assert stored(spool)[0]["receivedAt"] == NOW_ISO


def test_missing_message_id_is_generated_and_cannot_be_deduplicated(collector: Collector, spool: Spool) -> None:
    first = collector.collect([track(None)], source="web", received_at=NOW, type_hint="track")
    again = collector.collect([track(None)], source="web", received_at=NOW, type_hint="track")
    assert (first.accepted, again.accepted, again.duplicates) == (1, 1, 0)
    ids = [m["messageId"] for m in stored(spool)]
    assert len(set(ids)) == 2 and all(i.startswith("gen-") for i in ids)


def test_retries_and_in_batch_copies_are_duplicates(collector: Collector) -> None:
    res = collector.collect([track("m1"), track("m1"), track("m2")], source="web", received_at=NOW, type_hint="track")
    assert (res.accepted, res.duplicates, res.rejected) == (2, 1, [])
    retry = collector.collect([track("m1"), track("m2")], source="web", received_at=NOW, type_hint="track")
    assert (retry.accepted, retry.duplicates) == (0, 2)


# --- rejection, with reasons, and nothing dropped ----------------------------------------------
def test_each_bad_item_is_rejected_with_its_reason_and_spooled(collector: Collector, spool: Spool) -> None:
    msgs: list[Any] = [
        track("ok1", type="track"),
        [1, 2],
        {"type": "purchase", "messageId": "u", "userId": "u1"},
        {"type": "track", "messageId": "n", "event": "page_viewed"},
        track("ts", type="track", timestamp="yesterday"),
        track("op", type="track", event="order_paid", properties={"order_id": "o1", "amount": "abc",
                                                                  "currency": "CNY"}),
        track("big", type="track", properties={"pad": "x" * 40_000}),
        track("bigint", type="track", properties={"n": 2**70}),
        {"messageId": "nt", "userId": "u1", "event": "x"},
    ]
    res = collector.collect(msgs, source="mini-program", received_at=NOW)
    assert res.accepted == 1 and res.duplicates == 0
    assert [(e.index, e.message_id, e.reason) for e in res.rejected] == [
        (1, None, "not_an_object"), (2, "u", "unknown_type"), (3, "n", "missing_required_field"),
        (4, "ts", "invalid_timestamp"), (5, "op", "wrong_type"), (6, "big", "oversized"),
        (7, "bigint", "wrong_type"), (8, "nt", "missing_required_field")]
    assert res.rejected[6].detail.startswith("not representable as JSON")
    rows = spool.pending(100)
    assert [r.reason for r in rows] == [None] + [e.reason for e in res.rejected]
    assert {r.source for r in rows} == {"mini-program"}
    assert orjson.loads(rows[1].body) == [1, 2]


def test_event_size_uses_the_raw_size_from_the_http_layer(collector: Collector) -> None:
    res = collector.collect([track("a"), track("b")], source="web", received_at=NOW, type_hint="track",
                            raw_sizes=[100, 40_000])
    assert res.accepted == 1 and [e.reason for e in res.rejected] == ["oversized"]
    with pytest.raises(ValueError, match="raw_sizes"):
        collector.collect([track("c")], source="web", raw_sizes=[1, 2])


def test_a_batch_over_the_limit_stores_nothing(spool: Spool) -> None:
    collector = Collector(spool, max_batch_bytes=10_000)
    msgs = [track(f"m{i}", properties={"pad": "x" * 1000}) for i in range(12)]
    with pytest.raises(BatchTooLarge) as err:
        collector.collect(msgs, source="web", type_hint="track")
    assert err.value.code == "batch_too_large"
    assert collector.collect(msgs, source="web", type_hint="track", raw_sizes=[800] * 12).accepted == 12
    assert spool.stats().accepted == 12


def test_empty_request(collector: Collector) -> None:
    assert collector.collect([], source="web").total == 0


# --- the property: never raises, every item accounted for exactly once -------------------------
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats()
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ENVELOPE = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["track", "identify", "page", "alias", "bogus"]) | JSONISH,
    "messageId": st.sampled_from(["m1", "m2", "m3", ""]) | JSONISH,
    "userId": st.sampled_from(["u1", "u2"]) | JSONISH,
    "anonymousId": st.text(max_size=6),
    "event": st.sampled_from(["page_viewed", "order_paid"]) | JSONISH,
    "timestamp": st.sampled_from(["2026-03-01T07:00:00Z", "2026-03-01", "nope"]) | JSONISH,
    "sentAt": st.sampled_from(["2026-03-01T07:01:00+08:00"]) | JSONISH,
    "properties": st.fixed_dictionaries({}, optional={"order_id": JSONISH, "amount": JSONISH,
                                                      "currency": st.just("CNY")}) | JSONISH,
    "context": st.dictionaries(st.sampled_from(["ip", "library", "traits"]), JSONISH, max_size=3) | JSONISH,
    "traits": st.fixed_dictionaries({}, optional={"phone": st.sampled_from(["13812345678", "12"])}) | JSONISH,
})


@pytest.fixture(scope="module")
def shared_spool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spool]:
    with Spool(tmp_path_factory.mktemp("prop") / "spool.db") as sp:
        yield sp


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(ENVELOPE | JSONISH, max_size=8), type_hint=st.none() | st.sampled_from(["track", "page"]),
       batch_context=st.none() | st.dictionaries(st.sampled_from(["ip", "library"]), JSONISH, max_size=2),
       batch_sent_at=st.none() | st.sampled_from(["2026-03-01T07:02:00Z", "garbage"]))
def test_collect_never_raises_and_accounts_for_every_item(shared_spool: Spool, messages: list[Any],
                                                          type_hint: str | None, batch_context: dict[str, Any] | None,
                                                          batch_sent_at: str | None) -> None:
    before = shared_spool.stats()
    res = Collector(shared_spool).collect(messages, source="web", type_hint=type_hint, batch_context=batch_context,
                                          batch_sent_at=batch_sent_at)
    assert res.total == len(messages)
    assert sorted(e.index for e in res.rejected) == sorted({e.index for e in res.rejected})
    assert not any(e.detail.startswith(UNPROCESSABLE) for e in res.rejected)
    after = shared_spool.stats()
    assert after.accepted - before.accepted == res.accepted
    assert after.duplicates - before.duplicates == res.duplicates
    assert after.quarantined - before.quarantined == len(res.rejected)
    # What the door accepted, the loader will land as accepted (it validates the stored body again).
    new_rows = shared_spool.rows(before.last_seq + 1, after.last_seq)
    assert len(new_rows) == res.accepted + len(res.rejected)
    for row in new_rows:
        if row.reason is None:
            assert isinstance(validate_line(row.body, max_bytes=10**9), Accepted)
