"""An erasure request through the CLI: recorded with its deadline, the consent ledger and the lake erased,
the trace scan clean, the audit entry written; purging inactive accounts erases exactly the idle ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.privacy.audit import AuditLog
from siyu.privacy.consent_ledger import ConsentLedger, sync_from_lake
from siyu.privacy.erasure_job import inactive_people
from siyu.store import open_store
from siyu.warehouse.lake import Lake

runner = CliRunner()


def _run(lake: Lake, store: str, *args: str, code: int = 0) -> dict:  # type: ignore[type-arg]
    r = runner.invoke(app, ["privacy", *args, "--lake", str(lake.root), "--store", store, "--json"])
    assert r.exit_code == code, r.output
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_erase_request_end_to_end(small_lake: Lake, tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    with open_store(store_url) as store:
        sync_from_lake(small_lake, ConsentLedger(store))
    events = pq.read_table(small_lake.files("dwd", "events"), columns=["one_id", "event", "anchor_type",
                                                                        "anchor_value"])
    consenting = events.filter(pc.and_(pc.equal(events["event"], "consent_changed"),
                                       pc.equal(events["anchor_type"], "user_id")))
    one_id, user_id = consenting["one_id"][0].as_py(), consenting["anchor_value"][0].as_py()
    asked = (datetime.now(UTC) - timedelta(hours=80)).isoformat()  # asked 80 h ago: past the 72 h deadline
    result = _run(small_lake, store_url, "erase", f"user_id:{user_id}", "--requested-at", asked)
    assert result["people"] == 1 and result["trace_scan"] == "clean"
    assert result["rows_removed"] > 0 and result["consent_rows"] > 0
    assert result["report"]["scan"]["clean"] and result["report"]["scan"]["needles"] > 0
    after = pq.read_table(small_lake.files("dwd", "events"), columns=["one_id"])["one_id"].to_pylist()
    assert one_id not in after
    with open_store(store_url) as store:
        assert ConsentLedger(store).history([f"user_id:{user_id}"], [one_id]) == []
        entries = AuditLog(store).entries(action="erasure", limit=5)
        details = entries[0].details if isinstance(entries[0].details, dict) else json.loads(entries[0].details)
        assert len(entries) == 1 and details["clean"] is True
        assert user_id not in json.dumps(details)
    requests = json.loads(runner.invoke(app, ["privacy", "erasures", "--store", store_url, "--json"]).stdout)
    assert len(requests) == 1 and requests[0]["status"] == "done" and requests[0]["on_time"] is False
    assert user_id not in json.dumps(requests)  # the request keeps masked identifiers and a keyed digest
    # Again: nobody left to erase, and a stranger is refused with a clear error.
    again = runner.invoke(app, ["privacy", "erase", f"user_id:{user_id}", "--lake", str(small_lake.root),
                                "--store", store_url])
    assert again.exit_code != 0 and "nobody to erase" in again.output


def test_purge_inactive_erases_the_idle_only(small_lake: Lake, tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    profiles = pq.read_table(small_lake.files("ads", "profiles"),
                             columns=["one_id", "last_seen_at", "first_seen_at", "last_order_date", "as_of"])
    as_of = max(profiles["as_of"].to_pylist())

    def last_active(r: dict) -> object:  # type: ignore[type-arg]
        days = [d.date() if isinstance(d, datetime) else d
                for d in (r["last_seen_at"], r["last_order_date"], r["first_seen_at"]) if d is not None]
        return max(days) if days else None

    idle = {r["one_id"] for r in profiles.to_pylist()
            if last_active(r) is not None and (as_of - last_active(r)).days > 25}
    assert 0 < len(idle) < profiles.num_rows
    found, day = inactive_people(small_lake, 25)
    assert set(found) == idle and day == as_of
    dry = _run(small_lake, store_url, "purge-inactive", "--days", "25", "--dry-run")
    assert dry["inactive_people"] == len(idle)
    done = _run(small_lake, store_url, "purge-inactive", "--days", "25")
    assert done["people"] == len(idle) and done["trace_scan"] == "clean"
    left = set(pq.read_table(small_lake.files("ads", "profiles"), columns=["one_id"])["one_id"].to_pylist())
    assert left == {r["one_id"] for r in profiles.to_pylist()} - idle
    assert _run(small_lake, store_url, "purge-inactive", "--days", "25")["inactive_people"] == 0


def test_export_files_listing_them_are_deleted(small_lake: Lake, tmp_path: Path) -> None:
    from siyu.privacy.erasure_job import run_erasure

    people = pq.read_table(small_lake.files("ads", "profiles"), columns=["one_id"])["one_id"].to_pylist()
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "with.csv").write_text("one_id,tier\n" + "\n".join(f"{p},gold" for p in people[:5]) + "\n")
    (exports / "without.csv").write_text("one_id,tier\n" + "\n".join(f"{p},gold" for p in people[5:10]) + "\n")
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        outcome = run_erasure(small_lake, store, [f"one_id:{people[2]}"], requested_by="test", exports=exports)
    assert outcome.clean and outcome.report["export_files_deleted"] == 1
    assert not (exports / "with.csv").exists() and (exports / "without.csv").exists()
