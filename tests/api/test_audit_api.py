"""The audit log through the service: unmasked reads, exports and key changes are recorded with who did
them; auditors can read and verify it, other roles cannot; a tampered entry is found."""

from __future__ import annotations

import time

import pyarrow.parquet as pq
import sqlalchemy as sa

from siyu.store.db import open_store
from siyu.warehouse.lake import Lake
from tests.api.service import RunningService


def _entries(c, **params: object) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    r = c.get("/v1/audit", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


def _member(lake: Lake) -> tuple[str, str]:
    t = pq.read_table(lake.files("ads", "profiles"), columns=["one_id", "member_no"]).to_pylist()
    row = next(r for r in t if r["member_no"])
    return row["one_id"], row["member_no"]


def test_unmasked_reads_exports_and_key_changes_are_on_the_record(service: RunningService, api_lake: Lake) -> None:
    one_id, member_no = _member(api_lake)
    with service.client("analyst") as c:  # masked: not a PII read
        assert c.get(f"/v1/profiles/member_no/{member_no}").status_code == 200
    with service.client("admin") as c:
        assert c.get(f"/v1/profiles/member_no/{member_no}").status_code == 200
        created = c.post("/v1/keys", json={"kind": "user", "name": "temp", "role": "analyst"}).json()
        assert c.delete(f"/v1/keys/{created['key_id']}").status_code == 200
        assert c.post("/v1/segments", json={"name": "silent", "name_zh": "沉默", "rule": 'lifecycle = "silent"'}
                      ).status_code == 201
        job = c.post("/v1/segments/silent/exports", json={"format": "csv"}).json()
        for _ in range(300):
            state = c.get(f"/v1/exports/{job['job_id']}").json()
            if state["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert state["status"] == "done", state
    with service.client("auditor") as c:
        reads = _entries(c, action="pii_read")
        exports = _entries(c, action="export")
        keys = [e for e in _entries(c) if e["action"] in ("key_created", "key_revoked")]
        verified = c.get("/v1/audit/verify").json()
    admin_id = service.runtime.audit.entries(action="pii_read")[0].actor
    assert [(e["target"], e["actor_role"]) for e in reads] == [(one_id, "admin")], "only the unmasked read counts"
    assert reads[0]["actor"] == admin_id and reads[0]["details"]["via"] == "member_no"
    assert exports[0]["target"] == "silent" and exports[0]["details"]["rows"] == state["rows"]
    assert {e["action"] for e in keys} == {"key_created", "key_revoked"}
    assert {e["target"] for e in keys} == {created["key_id"]}
    assert verified["ok"] is True and verified["checked"] >= 4, verified


def test_only_auditors_and_admins_read_the_log(service: RunningService) -> None:
    for role, status in (("analyst", 403), ("operator", 403), ("auditor", 200), ("admin", 200)):
        with service.client(role) as c:
            assert c.get("/v1/audit").status_code == status, role
            assert c.get("/v1/audit/verify").status_code == status, role
    with service.client() as c:
        assert c.get("/v1/audit").status_code == 401


def test_a_tampered_entry_is_reported(service: RunningService, api_lake: Lake) -> None:
    _one_id, member_no = _member(api_lake)
    with service.client("admin") as c:
        for _ in range(3):
            c.get(f"/v1/profiles/member_no/{member_no}")
    with open_store(service.store_url) as store, store.engine.begin() as con:
        con.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_no_update"))  # as someone with DDL rights would
        con.execute(sa.text("UPDATE audit_log SET target = 'someone_else' WHERE seq = 2"))
    with service.client("auditor") as c:
        report = c.get("/v1/audit/verify").json()
    assert report["ok"] is False and report["broken_at"] == 2 and report["reason"] == "edited", report
