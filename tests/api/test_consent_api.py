"""Consent over HTTP: a withdrawal sent to the collector removes the person from marketing exports at once
(before any build), a re-grant brings them back, and the whole history is kept."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx

from siyu.privacy.consent_ledger import ConsentLedger, sync_from_lake
from siyu.store import open_store
from siyu.warehouse.lake import Lake
from tests.api.service import RunningService

EVERYONE = 'lifecycle in ("potential", "new", "active", "silent", "churned")'


def _granted_person(lake: Lake) -> tuple[str, str]:
    """(one_id, user_id) of someone whose latest marketing decision in the lake is a confirmed grant."""
    con = duckdb.connect()
    con.register("e", con.read_parquet(lake.files("dwd", "events"), hive_partitioning=True, union_by_name=True))
    con.register("p", con.read_parquet(lake.files("ads", "profiles"), hive_partitioning=False))
    row = con.execute("""
        WITH latest AS (SELECT one_id, arg_max(granted, event_time) AS granted FROM e
                        WHERE event = 'consent_changed' AND purpose = 'marketing' GROUP BY one_id)
        SELECT l.one_id, p.user_id FROM latest AS l JOIN p USING (one_id)
        WHERE l.granted AND p.user_id IS NOT NULL ORDER BY l.one_id LIMIT 1""").fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def _consent(service: RunningService, user_id: str, granted: bool, at: datetime, mid: str) -> None:
    with httpx.Client(base_url=service.base_url, auth=(service.write_key, "")) as c:
        r = c.post("/v1/track", json={
            "userId": user_id, "event": "consent_changed", "messageId": mid, "timestamp": at.isoformat(),
            "properties": {"purpose": "marketing", "granted": granted, "double_confirmed": True,
                           "notice_version": "2026-11", "source": "miniprogram"}})
        assert r.status_code == 200, r.text


def _export(c: httpx.Client, purpose: str = "marketing") -> set[str]:
    job = c.post("/v1/segments/everyone/exports", json={"format": "csv", "purpose": purpose})
    assert job.status_code == 202, job.text
    job_id = job.json()["job_id"]
    for _ in range(600):
        state = c.get(f"/v1/exports/{job_id}").json()
        if state["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert state["status"] == "done", state
    data = c.get(f"/v1/exports/{job_id}/file")
    return {r["one_id"] for r in csv.DictReader(io.StringIO(data.text))}


def test_grant_withdraw_regrant(service: RunningService, api_lake: Lake) -> None:
    one_id, user_id = _granted_person(api_lake)
    with open_store(service.store_url) as store:
        seen, new = sync_from_lake(api_lake, ConsentLedger(store))
        assert seen == new > 0
        assert sync_from_lake(api_lake, ConsentLedger(store)) == (seen, 0)  # idempotent
    now = datetime.now(UTC).replace(microsecond=0)
    with service.client("operator") as c:
        assert c.post("/v1/segments", json={"name": "everyone", "name_zh": "全部", "owner": "ops",
                                             "rule": EVERYONE}).status_code == 201
        before = c.get(f"/v1/consent/user_id/{user_id}", params={"purpose": "marketing"}).json()
        assert before["allowed"] is True and before["one_id"] == one_id
        marketing = _export(c)
        assert one_id in marketing
        analytics_only = _export(c, "analytics")
        assert marketing != analytics_only  # the purposes are separate

        _consent(service, user_id, False, now - timedelta(minutes=2), "withdraw-1")
        after = c.get(f"/v1/consent/user_id/{user_id}", params={"purpose": "marketing"}).json()
        assert after == {**after, "allowed": False, "reason": "withdrawn", "decided_by": "ledger"}
        assert after["decided_at"].startswith((now - timedelta(minutes=2)).isoformat()[:16])
        without = _export(c)
        assert without == marketing - {one_id}  # nothing built in between: the ledger decided

        _consent(service, user_id, True, now - timedelta(minutes=1), "regrant-1")
        assert c.get(f"/v1/consent/user_id/{user_id}", params={"purpose": "marketing"}).json()["allowed"] is True
        assert _export(c) == marketing

        history = c.get(f"/v1/consent/one_id/{one_id}/history", params={"purpose": "marketing"}).json()["decisions"]
        assert [d["granted"] for d in history][-2:] == [False, True]
        assert [d["recorded_by"] for d in history][-2:] == ["collector", "collector"]
        assert all(d["recorded_by"] == "sync:lake" for d in history[:-2]) and history[0]["granted"] is True
        assert all("*" in d["subject"] for d in history)  # operators see masked identifiers
    with service.client("admin") as c:
        audit = c.get("/v1/audit", params={"action": "consent_change"}).json()
        assert len(audit["items"]) == 2 and {e["target"] for e in audit["items"]} == {one_id}


def test_unknown_people_and_bad_input(service: RunningService) -> None:
    with service.client("analyst") as c:
        r = c.get("/v1/consent/user_id/nobody-here", params={"purpose": "marketing"})
        assert r.status_code == 200 and r.json()["allowed"] is False and r.json()["reason"] == "no_decision"
        assert c.get("/v1/consent/user_id/x", params={"purpose": "spam"}).status_code == 422
        assert c.get("/v1/consent/shoe_size/42").status_code == 400
    with httpx.Client(base_url=service.base_url) as c:
        assert c.get("/v1/consent/user_id/x").status_code == 401
    # A stranger's consent arrives before any build: the ledger answers for the identifier it came with.
    _consent(service, "brand-new-user", True, datetime.now(UTC), "new-1")
    with service.client("operator") as c:
        r = c.get("/v1/consent/user_id/brand-new-user", params={"purpose": "marketing"}).json()
        assert r["allowed"] is True and r["one_id"] is None and r["decided_by"] == "ledger"


def test_consent_cli_sync_check_history_and_export(api_lake: Lake, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from siyu.cli.main import app
    from siyu.privacy.consent import ConsentDecision

    runner = CliRunner()
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    lake = str(api_lake.root)

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--lake", lake, "--store", store_url])
        assert result.exit_code == code, result.output
        return result.stdout

    one_id, user_id = _granted_person(api_lake)
    synced = json.loads(run("privacy", "consent", "sync", "--json"))
    assert synced["decisions_in_lake"] == synced["newly_recorded"] > 0
    assert json.loads(run("privacy", "consent", "check", "user_id", user_id, "--json"))["allowed"] is True
    history = json.loads(run("privacy", "consent", "history", "one_id", one_id, "--json"))
    assert history and all(d["subject"].count("*") for d in history)
    rule = EVERYONE
    run("segment", "export", rule, "--out", str(tmp_path / "m.csv"), "--purpose", "marketing")
    assert one_id in (tmp_path / "m.csv").read_text()
    with open_store(store_url) as store:  # what the collector does with a withdrawal
        ConsentLedger(store).record([ConsentDecision("cli-w", f"user_id:{user_id}", "marketing", False,
                                                     datetime.now(UTC), "app", None, False, True, None, one_id)],
                                    recorded_by="test")
    assert json.loads(run("privacy", "consent", "check", "user_id", user_id, "--json", code=1))["reason"] == \
        "withdrawn"
    printed = run("segment", "export", rule, "--out", str(tmp_path / "m2.csv"), "--purpose", "marketing")
    assert one_id not in (tmp_path / "m2.csv").read_text() and "left out: no marketing consent" in printed
    bad = runner.invoke(app, ["segment", "export", rule, "--lake", lake, "--store", store_url, "--out",
                              str(tmp_path / "x.csv"), "--purpose", "spam"])
    assert bad.exit_code != 0 and "unknown purpose" in bad.output
