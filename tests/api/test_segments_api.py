"""Segments over HTTP: saved definitions with versions, validation with positions, sizes that match the
lake, masked previews, per-person membership with reasons, and export jobs."""

from __future__ import annotations

import csv
import io
import time

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from siyu.warehouse.lake import Lake
from tests.api.service import RunningService

SILENT = 'lifecycle = "silent"'


def _silent_ids(lake: Lake) -> set[str]:
    t = pq.read_table(lake.files("ads", "lifecycle"), columns=["one_id", "lifecycle"])
    return set(t.filter(pc.equal(t["lifecycle"], "silent"))["one_id"].to_pylist())


def _marketing_consented(lake: Lake) -> set[str]:
    """Independently of siyu.privacy: people whose latest marketing decision (by event time, a withdrawal
    winning ties; grants without a second confirmation ignored) is a grant."""
    events = [e for e in pq.read_table(lake.files("dwd", "events"),
                                       columns=["one_id", "event", "event_time", "purpose", "granted",
                                                "properties"]).to_pylist()
              if e["event"] == "consent_changed" and e["purpose"] == "marketing" and e["one_id"]]
    latest: dict[str, tuple[object, bool]] = {}
    for e in events:
        if e["granted"] and '"double_confirmed":true' not in (e["properties"] or ""):
            continue
        key = (e["event_time"], not e["granted"])
        if e["one_id"] not in latest or key > (latest[e["one_id"]][0], not latest[e["one_id"]][1]):
            latest[e["one_id"]] = (e["event_time"], e["granted"])
    return {one_id for one_id, (_, granted) in latest.items() if granted}


def _create(c, name: str = "silent_people", rule: object = SILENT) -> dict:  # type: ignore[no-untyped-def]
    r = c.post("/v1/segments", json={"name": name, "name_zh": "沉默用户", "rule": rule,
                                     "description": "30 天无互动"})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_create_update_list_delete_with_versions(service: RunningService) -> None:
    with service.client("operator") as c:
        created = _create(c)
        assert created["version"] == 1 and created["owner"] == "operator key"
        assert created["rule_text"] == SILENT and created["rule_json"]
        assert c.post("/v1/segments", json={"name": "silent_people", "name_zh": "x", "rule": SILENT}
                      ).status_code == 409
        same = c.put("/v1/segments/silent_people", json={"rule": SILENT}).json()
        assert same["version"] == 1  # nothing changed
        changed = c.put("/v1/segments/silent_people", json={"rule": 'lifecycle in ("silent", "churned")'}).json()
        assert changed["version"] == 2 and changed["updated_by"] == "operator key"
        _create(c, "silent_rich", 'in_segment("silent_people") and monetary > 100')
        page = c.get("/v1/segments", params={"limit": 1}).json()
        assert page["total"] == 2 and len(page["items"]) == 1 and page["items"][0]["name"] == "silent_people"
        refused = c.delete("/v1/segments/silent_people")
        assert refused.status_code == 409 and "silent_rich" in refused.json()["message"]
        assert c.delete("/v1/segments/silent_rich").status_code == 204
        assert c.delete("/v1/segments/silent_people").status_code == 204
        assert c.get("/v1/segments/silent_people").status_code == 404
    with service.client("analyst") as c:
        assert c.get("/v1/segments").json()["total"] == 0


def test_validate_answers_both_forms_or_the_position(service: RunningService) -> None:
    with service.client("analyst") as c:
        ok = c.post("/v1/segments/validate", json={"rule": 'lifecycle = "silent" and count(order_paid, last 90d) >= 2'})
        bad = c.post("/v1/segments/validate", json={"rule": 'lifecycle = "silent" and and'})
        unknown = c.post("/v1/segments/validate", json={"rule": 'shoe_size = 42'})
    assert ok.status_code == 200 and ok.json()["valid"] is True
    assert ok.json()["json"] and ok.json()["text"].startswith("lifecycle")
    assert ok.json()["incremental"] is False  # lifecycle is computed by the batch
    body = bad.json()
    assert body["valid"] is False and body["problems"][0]["position"] is not None
    assert "column" in body["problems"][0]["message"]
    assert unknown.json()["valid"] is False and "shoe_size" in unknown.json()["problems"][0]["message"]


@pytest.mark.parametrize("hostile", [
    "name = \"x'; DROP TABLE profile; --\"",
    {"op": "field", "field": "one_id; DROP TABLE profile", "cmp": "=", "value": 1},
    "(" * 10_000 + 'lifecycle = "silent"' + ")" * 10_000,
])
def test_hostile_rules_are_refused_cleanly(service: RunningService, hostile: object) -> None:
    with service.client("operator") as c:
        r = c.post("/v1/segments/size", json={"rule": hostile})
        assert r.status_code in (400, 422), r.text
        assert r.json()["code"] and r.json()["message"]
        assert c.post("/v1/segments/size", json={"rule": SILENT}).status_code == 200  # still serving


def test_size_equals_the_lake(service: RunningService, api_lake: Lake) -> None:
    expected = _silent_ids(api_lake)
    with service.client("analyst") as c:
        r = c.post("/v1/segments/size", json={"rule": SILENT})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["size"] == len(expected) > 0
    assert body["population"] == pq.read_table(api_lake.files("ads", "profiles"), columns=["one_id"]).num_rows
    with service.client("operator") as c:
        _create(c)
        assert c.get("/v1/segments/silent_people/size").json()["size"] == len(expected)


def test_preview_masks_identifiers(service: RunningService, api_lake: Lake) -> None:
    with service.client("operator") as c:
        _create(c)
        members = c.get("/v1/segments/silent_people/preview", params={"limit": 5}).json()["members"]
    assert 0 < len(members) <= 5
    assert {m["one_id"] for m in members} <= _silent_ids(api_lake)
    assert all(m["member_no"] is None or "*" in m["member_no"] for m in members)


def test_membership_check_explains(service: RunningService, api_lake: Lake) -> None:
    silent = sorted(_silent_ids(api_lake))[0]
    everyone = pq.read_table(api_lake.files("ads", "lifecycle"), columns=["one_id"])["one_id"].to_pylist()
    not_silent = sorted(set(everyone) - {silent})[0]
    with service.client("operator") as c:
        _create(c)
        inside = c.get(f"/v1/segments/silent_people/members/one_id/{silent}").json()
        outside = c.get(f"/v1/segments/silent_people/members/one_id/{not_silent}").json()
    assert inside["member"] is True and inside["explanation"]["value"] is True
    assert outside["member"] is False and "silent" in outside["explanation"]["text"]


def test_export_job_writes_every_member_with_marketing_consent(service: RunningService, api_lake: Lake) -> None:
    expected = _silent_ids(api_lake) & _marketing_consented(api_lake)
    assert 0 < len(expected) < len(_silent_ids(api_lake))
    with service.client("operator") as c:
        _create(c)
        job = c.post("/v1/segments/silent_people/exports", json={"format": "csv"})
        assert job.status_code == 202, job.text
        job_id = job.json()["job_id"]
        for _ in range(600):
            state = c.get(f"/v1/exports/{job_id}").json()
            if state["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert state["status"] == "done", state
        assert state["rows"] == len(expected)
        data = c.get(f"/v1/exports/{job_id}/file")
    assert data.status_code == 200
    rows = list(csv.DictReader(io.StringIO(data.text)))
    assert {r["one_id"] for r in rows} == expected


def test_analyst_cannot_export_and_unknown_jobs_are_404(service: RunningService) -> None:
    with service.client("operator") as c:
        _create(c)
        assert c.get("/v1/exports/0123456789abcdef").status_code == 404
    with service.client("analyst") as c:
        assert c.post("/v1/segments/silent_people/exports", json={"format": "csv"}).status_code == 403


def test_tag_catalogue_and_kpis(service: RunningService, api_lake: Lake) -> None:
    catalogue = pq.read_table(api_lake.files("ads", "tag_catalogue"))
    kpi = pq.read_table(api_lake.files("ads", "kpi_daily")).to_pandas()
    with service.client("analyst") as c:
        tags = c.get("/v1/tags", params={"limit": 500}).json()
        statistical = c.get("/v1/tags", params={"kind": "statistical"}).json()
        names = [k["name"] for k in c.get("/v1/kpis").json()]
        last = str(kpi["dt"].astype(str).max())
        series = c.get("/v1/kpis/orders", params={"until": last, "grain": "day"}).json()
        monthly = c.get("/v1/kpis/gmv", params={"since": "2020-01-01", "until": last, "grain": "month"}).json()
        missing = c.get("/v1/kpis/nope")
    assert tags["total"] == catalogue.num_rows and {t["tag"] for t in tags["items"]} == set(
        catalogue["tag"].to_pylist())
    assert statistical["total"] == sum(1 for k in catalogue["kind"].to_pylist() if k == "statistical")
    assert {"dau", "gmv", "orders", "new_users"} <= set(names)
    by_day = {str(d): int(v) for d, v in zip(kpi["dt"].astype(str), kpi["orders"], strict=True)}
    assert len(series["points"]) == 30
    assert all(by_day.get(p["period"], 0) == p["value"] for p in series["points"])
    assert sum(p["value"] for p in monthly["points"]) == pytest.approx(float(kpi["gmv"].astype(float).sum()))
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_kpi"
