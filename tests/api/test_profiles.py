"""Profile look-ups and timelines answer what the lake holds, with identifiers masked by role."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from urllib.parse import quote

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from siyu.core.identifiers import IdentifierType, stored_value
from siyu.warehouse.lake import Lake
from tests.api.service import RunningService


def _a_buyer(lake: Lake) -> dict:
    profiles = pq.read_table(lake.files("ads", "profiles")).to_pylist()
    return next(p for p in sorted(profiles, key=lambda p: p["one_id"]) if p["orders"] >= 2 and p["member_no"])


def test_lookup_by_member_no_matches_the_lake(service: RunningService, api_lake: Lake) -> None:
    person = _a_buyer(api_lake)
    with service.client("admin") as c:
        r = c.get(f"/v1/profiles/member_no/{person['member_no']}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["one_id"] == person["one_id"]
    assert body["profile"]["member_no"] == person["member_no"]  # admin sees identifiers
    assert body["profile"]["orders"] == person["orders"]
    assert body["profile"]["monetary"] == pytest.approx(float(person["monetary"]))
    lifecycle = pq.read_table(api_lake.files("ads", "lifecycle")).filter(
        pc.equal(pc.field("one_id"), person["one_id"])).to_pylist()[0]
    assert body["lifecycle"]["lifecycle"] == lifecycle["lifecycle"]
    rfm = pq.read_table(api_lake.files("ads", "rfm")).filter(pc.equal(pc.field("one_id"), person["one_id"]))
    if rfm.num_rows:
        assert body["rfm"]["class"] == rfm["rfm_class"][0].as_py()
    tags = pq.read_table(api_lake.files("ads", "tag_values")).filter(pc.equal(pc.field("one_id"), person["one_id"]))
    expected = {t["tag"]: t["value"] for t in tags.to_pylist()}
    got = {k: v["value"] for section in ("tags", "predictions") for k, v in body[section].items()}
    assert got == expected


def test_every_identifier_type_finds_the_same_person(service: RunningService, api_lake: Lake) -> None:
    person = _a_buyer(api_lake)
    nodes = pq.read_table(api_lake.files("identity", "nodes")).filter(
        pc.equal(pc.field("one_id"), person["one_id"])).to_pylist()
    assert len(nodes) >= 2
    with service.client("analyst") as c:
        for node in nodes:
            if node["identifier_type"] in ("phone", "email"):
                continue  # stored as keyed hashes; looked up by the plaintext in the next test
            r = c.get(f"/v1/profiles/{node['identifier_type']}/{node['identifier_value']}")
            assert r.status_code == 200, (node, r.text)
            assert r.json()["one_id"] == person["one_id"]


def test_analyst_sees_masked_identifiers_and_traits(service: RunningService, api_lake: Lake) -> None:
    person = _a_buyer(api_lake)
    with service.client("analyst") as c:
        body = c.get(f"/v1/profiles/one_id/{person['one_id']}").json()
    member_no = body["profile"]["member_no"]
    assert member_no != person["member_no"] and "*" in member_no
    assert member_no[:3] == person["member_no"][:3]
    for key, value in body["traits"].items():
        if key in ("phone", "email", "member_no") and value is not None:
            assert "*" in str(value), key


def test_phone_lookup_uses_the_keyed_hash(service: RunningService, api_lake: Lake, api_template: Path) -> None:
    """A phone as the person typed it finds them: the lake holds only its keyed token (``id_phone``)."""
    import duckdb

    phone = None
    for f in sorted((api_template / "world" / "events").iterdir()):
        with (gzip.open(f, "rt") if f.name.endswith(".gz") else f.open()) as lines:
            for line in lines:
                msg = json.loads(line)
                if msg.get("type") == "identify" and (msg.get("traits") or {}).get("phone"):
                    phone = str(msg["traits"]["phone"])
                    break
        if phone:
            break
    assert phone is not None
    token = stored_value(IdentifierType.PHONE, phone)
    row = duckdb.connect().execute("SELECT one_id FROM read_parquet($f) WHERE id_phone = $t LIMIT 1",
                                   {"f": api_lake.files("dwd", "events"), "t": token}).fetchone()
    assert row is not None
    with service.client("operator") as c:
        r = c.get(f"/v1/profiles/phone/{quote(phone, safe='')}")
    assert r.status_code == 200, r.text
    merged = r.json()
    assert row[0] in [merged["one_id"], *merged["merged_one_ids"]]


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/v1/profiles/member_no/NOPE-NOT-THERE", 404, "unknown_person"),
    ("/v1/profiles/shoe_size/42", 400, "bad_identifier_type"),
    ("/v1/profiles/phone/not-a-phone", 400, "bad_identifier"),
    ("/v1/profiles/one_id/%27%3B%20DROP%20TABLE%20profiles%3B--", 404, "unknown_person"),
])
def test_bad_lookups(service: RunningService, path: str, status: int, code: str) -> None:
    with service.client("analyst") as c:
        r = c.get(path)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code


def test_timeline_pages_through_every_event_once(service: RunningService, api_lake: Lake) -> None:
    person = _a_buyer(api_lake)
    events = pq.read_table(api_lake.files("dwd", "events"), columns=["one_id", "message_id"]).filter(
        pc.equal(pc.field("one_id"), person["one_id"]))
    expected = set(events["message_id"].to_pylist())
    seen: list[str] = []
    cursor = None
    with service.client("analyst") as c:
        for _ in range(100):
            params = {"since": "2021-01-01", "until": "2030-01-01", "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = c.get(f"/v1/profiles/one_id/{person['one_id']}/events", params=params).json()
            seen += [e["message_id"] for e in page["events"]]
            times = [e["event_time"] for e in page["events"]]
            assert times == sorted(times, reverse=True)
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert len(seen) == len(set(seen))
    assert set(seen) == expected


def test_timeline_rejects_a_forged_cursor(service: RunningService, api_lake: Lake) -> None:
    person = _a_buyer(api_lake)
    with service.client("analyst") as c:
        r = c.get(f"/v1/profiles/one_id/{person['one_id']}/events", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert r.status_code == 400 and r.json()["code"] == "bad_cursor"
