"""The collector speaks Segment's HTTP API: the real SDKs deliver through it, each event lands once."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

import httpx
import orjson
import pyarrow.parquet as pq
import pytest

from siyu.collect.drain import drain
from siyu.warehouse.lake import Lake
from tests.api.service import RunningService


def _ods_ids(lake: Lake, table: str = "events") -> list[str]:
    files = lake.files("ods", table)
    return pq.read_table(files, columns=["message_id"])["message_id"].to_pylist() if files else []


def _land(service: RunningService, lake: Lake) -> None:
    report = drain(service.runtime.spool, lake, build_engine="duckdb")
    assert report.build_error is None


def _track_batch(n: int, prefix: str) -> list[dict]:
    return [{"type": "track", "userId": f"sdk-user-{i % 7}", "event": "sdk_checked", "messageId": f"{prefix}-{i}",
             "properties": {"n": i, "品类": "面霜"}, "timestamp": "2026-03-01T08:00:00Z"} for i in range(n)]


def test_segment_sdk_delivers_every_event_exactly_once(service: RunningService, api_lake: Lake) -> None:
    from segment.analytics.client import Client

    errors: list[Exception] = []
    client = Client(write_key=service.write_key, host=service.base_url, gzip=True, upload_size=40, max_retries=2,
                    on_error=lambda e, _batch: errors.append(e))
    sent = []
    for i in range(250):
        mid = f"seg-{i}"
        sent.append(mid)
        if i % 10 == 0:
            client.identify(user_id=f"sdk-user-{i % 13}", traits={"city": "杭州"}, message_id=mid)
        else:
            client.track(user_id=f"sdk-user-{i % 13}", event="sdk_checked", properties={"i": i}, message_id=mid)
    client.flush()
    client.join()
    assert errors == []
    _land(service, api_lake)
    landed = [m for m in _ods_ids(api_lake) if m.startswith("seg-")]
    assert sorted(landed) == sorted(sent)
    dwd = pq.read_table(api_lake.files("dwd", "events"), columns=["message_id", "one_id", "source"]).to_pylist()
    ours = [r for r in dwd if r["message_id"].startswith("seg-")]
    assert sorted(r["message_id"] for r in ours) == sorted(sent)
    assert {r["source"] for r in ours} == {"miniprogram"}
    assert all(r["one_id"] for r in ours)
    # people first seen now are not in the serving snapshot yet, but their timeline already answers
    with service.client("analyst") as c:
        assert c.get("/v1/profiles/user_id/sdk-user-3").status_code == 404
        page = c.get("/v1/profiles/user_id/sdk-user-3/events", params={"limit": 500}).json()
    mine = {r["message_id"] for r in ours if r["one_id"] == page["one_id"]}
    assert {e["message_id"] for e in page["events"]} == mine and mine


def test_rudderstack_sdk_delivers_too(service: RunningService, api_lake: Lake) -> None:
    from rudderstack.analytics.client import Client

    errors: list[Exception] = []
    client = Client(write_key=service.write_key, host=service.base_url, gzip=True, max_retries=2,
                    on_error=lambda e, _batch: errors.append(e))
    sent = [f"rs-{i}" for i in range(60)]
    for i, mid in enumerate(sent):
        client.track(user_id=f"rs-user-{i % 5}", event="rs_checked", properties={"i": i}, message_id=mid)
    client.flush()
    client.join()
    assert errors == []
    _land(service, api_lake)
    assert sorted(m for m in _ods_ids(api_lake) if m.startswith("rs-")) == sorted(sent)


def test_retries_are_deduplicated(service: RunningService, api_lake: Lake) -> None:
    batch = {"batch": _track_batch(30, "retry")}
    with httpx.Client(base_url=service.base_url, auth=(service.write_key, "")) as c:
        first = c.post("/v1/batch", json=batch).json()
        again = c.post("/v1/batch", json=batch).json()
    assert (first["accepted"], first["duplicates"]) == (30, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 30)
    _land(service, api_lake)
    with httpx.Client(base_url=service.base_url, auth=(service.write_key, "")) as c:
        late = c.post("/v1/batch", json=batch).json()  # after landing: still remembered
    assert late["duplicates"] == 30
    _land(service, api_lake)
    landed = [m for m in _ods_ids(api_lake) if m.startswith("retry-")]
    assert len(landed) == len(set(landed)) == 30


def test_a_batch_keeps_good_items_and_quarantines_bad_ones(service: RunningService, api_lake: Lake) -> None:
    good = _track_batch(2, "mixed")
    bad = [
        {"type": "track", "userId": "u", "messageId": "mixed-noevent"},            # no event name
        "not an object",
        {"type": "track", "userId": "u", "event": "big", "messageId": "mixed-big", "properties": {"x": "y" * 40_000}},
        {"type": "teleport", "userId": "u", "messageId": "mixed-type"},
        {"type": "track", "event": "anon", "messageId": "mixed-noid"},            # neither userId nor anonymousId
    ]
    with httpx.Client(base_url=service.base_url, auth=(service.write_key, "")) as c:
        r = c.post("/v1/batch", content=orjson.dumps({"batch": [good[0], *bad, good[1]]}),
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["accepted"] == 2
    reasons = {item["index"]: item["reason"] for item in body["rejected"]}
    assert reasons == {1: "missing_required_field", 2: "not_an_object", 3: "oversized", 4: "unknown_type",
                       5: "missing_required_field"}
    _land(service, api_lake)
    assert sorted(m for m in _ods_ids(api_lake) if m.startswith("mixed-")) == ["mixed-0", "mixed-1"]
    quarantine = pq.read_table(api_lake.files("ods", "quarantine")).to_pylist()
    ours = [q for q in quarantine if q["source"] == "miniprogram"]
    assert sorted(q["reason"] for q in ours) == sorted(reasons.values())


def test_single_bad_event_is_400_and_quarantined(service: RunningService, api_lake: Lake) -> None:
    with httpx.Client(base_url=service.base_url, auth=(service.write_key, "")) as c:
        r = c.post("/v1/track", json={"userId": "u1", "messageId": "lonely"})
    assert r.status_code == 400
    assert r.json()["code"] == "missing_required_field" and "quarantined" in r.json()["message"]
    _land(service, api_lake)
    quarantine = pq.read_table(api_lake.files("ods", "quarantine")).to_pylist()
    assert any(q["source"] == "miniprogram" and "lonely" in q["payload"] for q in quarantine)


def test_single_endpoints_set_the_type_and_defaults(service: RunningService, api_lake: Lake) -> None:
    with httpx.Client(base_url=service.base_url, auth=(service.write_key, "")) as c:
        r1 = c.post("/v1/track", json={"userId": "u-single", "event": "single_checked"})  # no messageId/timestamp
        r2 = c.post("/v1/identify", json={"userId": "u-single", "traits": {"city": "上海"}, "messageId": "single-id"})
        r3 = c.post("/v1/page", json={"anonymousId": "a-1", "name": "首页", "messageId": "single-page"})
    assert [r.status_code for r in (r1, r2, r3)] == [200, 200, 200]
    assert r1.json() == {"success": True, "accepted": 1, "duplicates": 0, "rejected": []}
    _land(service, api_lake)
    rows = pq.read_table(api_lake.files("ods", "events"), columns=["message_id", "type", "event", "user_id"]
                         ).to_pylist()
    mine = {r["type"]: r for r in rows if r["user_id"] == "u-single" or r["message_id"] == "single-page"}
    assert mine["track"]["event"] == "single_checked" and mine["track"]["message_id"]
    assert mine["identify"]["message_id"] == "single-id"
    assert mine["page"]["event"] == "page:首页"


def test_gzip_body_and_write_key_in_body(service: RunningService, api_lake: Lake) -> None:
    payload = {"batch": _track_batch(5, "gz"), "writeKey": service.write_key}
    r = httpx.post(service.base_url + "/v1/batch", content=gzip.compress(orjson.dumps(payload)),
                   headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["accepted"] == 5


@pytest.mark.parametrize(("path", "content", "headers", "code"), [
    ("/v1/batch", b"{not json", {}, "invalid_json"),
    ("/v1/batch", b"[1,2]", {}, "invalid_request"),
    ("/v1/batch", b'{"batch": 3}', {}, "invalid_request"),
    ("/v1/batch", b"\x1f\x8b\x08garbage", {"Content-Encoding": "gzip"}, "bad_encoding"),
    ("/v1/batch", b"{}", {"Content-Encoding": "br"}, "unsupported_encoding"),
    ("/v1/track", orjson.dumps({"userId": "u", "event": "e", "properties": {"x": "y" * 40_000}}), {},
     "payload_too_large"),
    ("/v1/batch", orjson.dumps({"batch": _track_batch(1, "x") * 0 + [{"userId": "u", "event": "e",
                                                                        "properties": {"x": "y" * 20_000}}] * 30}),
     {}, "payload_too_large"),
])
def test_malformed_requests_get_clear_errors(service: RunningService, path: str, content: bytes,
                                             headers: dict[str, str], code: str) -> None:
    r = httpx.post(service.base_url + path, content=content, headers=headers, auth=(service.write_key, ""))
    assert r.status_code in (400, 415), r.text
    assert r.json()["code"] == code


def test_gzip_bomb_is_refused(service: RunningService) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * 50_000_000 + b"]}")
    assert len(bomb) < 500_000
    r = httpx.post(service.base_url + "/v1/batch", content=bomb, headers={"Content-Encoding": "gzip"},
                   auth=(service.write_key, ""))
    assert r.status_code == 400 and r.json()["code"] == "payload_too_large"


def test_new_events_become_queryable_through_the_api(api_lake: Lake, tmp_path: Path) -> None:
    """With the background loader on, an event sent now shows in the person's timeline within seconds."""
    import time

    from tests.api.service import run_service

    profiles = pq.read_table(api_lake.files("ads", "profiles"), columns=["one_id", "user_id"]).to_pylist()
    person = next(p for p in sorted(profiles, key=lambda p: p["one_id"]) if p["user_id"])
    mid = f"fresh-{uuid.uuid4().hex}"
    with run_service(api_lake.root, tmp_path / "svc", drain=True, drain_interval_seconds=0.5) as svc:
        sent = time.monotonic()
        with httpx.Client(base_url=svc.base_url, auth=(svc.write_key, "")) as c:
            assert c.post("/v1/track", json={"userId": person["user_id"], "event": "fresh_checked",
                                             "messageId": mid}).status_code == 200
        found = False
        with svc.client("analyst") as c:
            while time.monotonic() - sent < 120 and not found:
                page = c.get(f"/v1/profiles/user_id/{person['user_id']}/events",
                             params={"event": "fresh_checked"}).json()
                found = any(e["message_id"] == mid for e in page.get("events", []))
                time.sleep(0.25)
    assert found
