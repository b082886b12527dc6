"""One erasure request end to end: record it, erase everywhere, prove it, close it — and purge the inactive.

Order matters: the spool first (a message the loader lands meanwhile is then in the lake before the lake is
rewritten), then the lake (every table, its state and serving files), then the consent ledger; then the
trace scan over the lake, its serving files and the spool. The request row keeps the report (counts, never
identifiers) and whether the 72-hour deadline was met; the audit log gets one ``erasure`` entry.

The audit log itself is not rewritten: it is append-only by design, and PIPL expects a record of the
processing (and of the erasure). Its entries name people only by one_id; they are counted in the report as
retained.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import func, or_, select

from siyu.core.errors import SiyuError
from siyu.core.logs import get_logger
from siyu.privacy.audit import AuditAction, AuditLog
from siyu.privacy.consent_ledger import ConsentLedger
from siyu.privacy.erasure import ErasureSubjects, erase_from_lake, erase_from_spool, resolve_subjects
from siyu.privacy.erasure_requests import finish_request, start_request
from siyu.privacy.trace_scan import scan_for_traces
from siyu.store.db import Store
from siyu.store.models import AuditRecord, ConsentRecord
from siyu.warehouse.lake import Lake

log = get_logger(__name__)

#: Accounts idle this long are purged by ``siyu privacy purge-inactive`` (the source reports: 180 days).
INACTIVE_DAYS = 180


@dataclass
class ErasureOutcome:
    request_id: int
    people: int
    unknown: dict[str, str]
    clean: bool
    report: dict[str, Any]


def run_erasure(lake: Lake, store: Store, identifiers: Sequence[str], *, requested_by: str, reason: str = "request",
                requested_at: datetime | None = None, spool: Path | None = None, exports: Path | None = None,
                scan: bool = True, subjects: ErasureSubjects | None = None) -> ErasureOutcome:
    """Erase the people named by ``identifiers`` (``type:value``) everywhere and prove it. ``exports``: a folder
    of segment export files (the service's); files that list any of them are deleted (they are outputs)."""
    subjects = subjects or resolve_subjects(lake, identifiers)
    if not subjects.one_ids:
        raise SiyuError(f"nobody to erase: {len(subjects.unknown)} identifier(s) match no person",
                        code="unknown_person", input_name="identifiers")
    request_id = start_request(store, list(identifiers), requested_by=requested_by, reason=reason,
                               requested_at=requested_at)
    t0 = time.perf_counter()
    report: dict[str, Any] = {"subjects": subjects.summary(), "shared_kept": len(subjects.shared)}
    try:
        report["spool_rows"] = erase_from_spool(spool, subjects) if spool is not None and spool.exists() else 0
        lake_report = erase_from_lake(lake, subjects)
        report["lake"] = lake_report.as_dict()
        report["ledger_rows"] = ConsentLedger(store).erase(sorted(subjects.identifiers), sorted(subjects.one_ids))
        report["store_traces"] = store_traces(store, subjects)
        roots: list[Lake | Path] = [lake]
        if exports is not None and exports.is_dir():
            report["export_files_deleted"] = delete_exports_with(exports, subjects)
            roots.append(exports)
        if scan:
            traces = scan_for_traces(roots, sorted(subjects.needles),
                                     spool_paths=[spool] if spool is not None and spool.exists() else [])
            report["scan"] = traces.as_dict()
            clean = traces.clean and report["store_traces"]["consent_ledger"] == 0
        else:
            clean = report["store_traces"]["consent_ledger"] == 0
        report["seconds"] = round(time.perf_counter() - t0, 3)
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"[:1000]
        finish_request(store, request_id, people=len(subjects.one_ids), report=report, ok=False)
        AuditLog(store).record(requested_by, None, AuditAction.ERASURE, "erasure_request", str(request_id),
                               {"people": len(subjects.one_ids), "status": "failed", "reason": reason})
        raise
    finish_request(store, request_id, people=len(subjects.one_ids), report=report, ok=clean)
    AuditLog(store).record(requested_by, None, AuditAction.ERASURE, "erasure_request", str(request_id),
                           {"people": len(subjects.one_ids), "rows_removed": lake_report.rows_removed,
                            "files_rewritten": lake_report.files_rewritten, "clean": clean, "reason": reason})
    log.info("privacy.erasure", request_id=request_id, people=len(subjects.one_ids),
             rows=lake_report.rows_removed, files=lake_report.files_rewritten, clean=clean,
             seconds=report["seconds"])
    return ErasureOutcome(request_id, len(subjects.one_ids), dict(subjects.unknown), clean, report)


def delete_exports_with(folder: Path, subjects: ErasureSubjects) -> int:
    """Delete the export files under ``folder`` that hold any of the people; returns how many."""
    found = scan_for_traces([folder], sorted(subjects.needles), duckdb_files=[])
    doomed = {Path(h.path) for h in found.hits if h.kind in ("parquet", "file")}
    for path in doomed:
        path.unlink(missing_ok=True)
    return len(doomed)


def store_traces(store: Store, subjects: ErasureSubjects) -> dict[str, int]:
    """What the operational store still holds of them: consent rows (must be 0) and audit entries (kept)."""
    ids, subs = sorted(subjects.one_ids), sorted(subjects.identifiers)
    ledger = audit = 0
    with store.session() as s:
        for start in range(0, max(len(ids), len(subs)), 500):
            ledger += int(s.scalar(select(func.count()).select_from(ConsentRecord).where(or_(
                ConsentRecord.one_id.in_(ids[start:start + 500]),
                ConsentRecord.subject.in_(subs[start:start + 500])))) or 0)
            audit += int(s.scalar(select(func.count()).select_from(AuditRecord).where(
                AuditRecord.target.in_(ids[start:start + 500]))) or 0)
    return {"consent_ledger": ledger, "audit_log_retained": audit}


def inactive_people(lake: Lake, days: int = INACTIVE_DAYS) -> tuple[list[str], date | None]:
    """one_ids whose last activity (event or order) is more than ``days`` before the lake's last day, and that
    day. Someone with no date at all is never taken for idle."""
    if days < 1:
        raise SiyuError("--days must be at least 1", code="bad_days", input_name="--days")
    files = lake.files("ads", "profiles")
    if not files:
        return [], None
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("p", con.read_parquet(files, hive_partitioning=False))
        as_of = con.execute("SELECT max(as_of) FROM p").fetchone()
        day = as_of[0] if as_of else None
        if day is None:
            return [], None
        cutoff = day - timedelta(days=days)
        # The last sign of life: an event, or an order from the order system (people known only from orders).
        rows = con.execute("""
            SELECT one_id FROM (
                SELECT one_id, greatest(coalesce(CAST(last_seen_at AS DATE), DATE '0001-01-01'),
                                        coalesce(last_order_date, DATE '0001-01-01'),
                                        coalesce(CAST(first_seen_at AS DATE), DATE '0001-01-01')) AS last_active
                FROM p) AS x
            WHERE last_active > DATE '0001-01-01' AND last_active < $c ORDER BY one_id""", {"c": cutoff}).fetchall()
    finally:
        con.close()
    return [str(r[0]) for r in rows], day


__all__ = ["INACTIVE_DAYS", "ErasureOutcome", "delete_exports_with", "inactive_people", "run_erasure",
           "store_traces"]
