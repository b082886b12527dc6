"""The consent ledger (授权记录) in the operational store: every decision, append-only, queryable.

Three writers, one table, idempotent on ``message_id``:

- the collector, right after an accepted ``consent_changed`` event is durably spooled — so a withdrawal
  takes effect on the next check, before any build;
- ``siyu privacy consent sync``, which copies decisions from the lake's events (imports, history);
- erasure, which deletes a person's rows (the only delete).

Reads: :meth:`ConsentLedger.history` (a person's full history), :meth:`ConsentLedger.latest` (the latest
decision that counts, one indexed query) and :meth:`ConsentLedger.recorded_since` (what a batch check
must lay over a snapshot).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import delete, or_, select
from sqlalchemy.sql.elements import ColumnElement

from siyu.core.logs import get_logger
from siyu.privacy.consent import ConsentDecision, counts_sql
from siyu.store.db import Store, insert_ignoring_duplicates
from siyu.store.models import ConsentRecord, utcnow
from siyu.warehouse.lake import Lake

log = get_logger(__name__)

#: Rows per transaction.
_CHUNK = 5000
#: Identifiers per IN list.
_IN_CHUNK = 500

LEDGER_SCHEMA = pa.schema([("subject", pa.string()), ("one_id", pa.string()), ("purpose", pa.string()),
                           ("granted", pa.bool_()), ("counts", pa.bool_()), ("occurred_at", pa.timestamp("us", "UTC"))])


class ConsentLedger:
    """Record and read consent decisions in ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, decisions: Iterable[ConsentDecision], *, recorded_by: str) -> int:
        """Append decisions not recorded yet (by message_id); returns how many were new."""
        now = utcnow()
        rows = [{**asdict(d), "recorded_at": now, "recorded_by": recorded_by[:128]} for d in decisions]
        new = 0
        # One statement for every chunk (compiled once); SQLAlchemy batches the rows ("insertmanyvalues").
        stmt = insert_ignoring_duplicates(ConsentRecord, self.store.dialect, ["message_id"]).returning(ConsentRecord.id)
        for start in range(0, len(rows), _CHUNK):
            with self.store.writing() as s:
                new += len(s.execute(stmt, rows[start:start + _CHUNK]).all())
        return new

    def history(self, subjects: Sequence[str] = (), one_ids: Sequence[str] = (),
                purpose: str | None = None) -> list[dict[str, Any]]:
        """Every decision (counted or not) of the person known by these identifiers / one_ids, oldest first."""
        out: list[dict[str, Any]] = []
        for cond in _who(subjects, one_ids):
            q = select(ConsentRecord).where(cond)
            if purpose is not None:
                q = q.where(ConsentRecord.purpose == purpose)
            with self.store.session() as s:
                out.extend(_row(r) for r in s.scalars(q))
        unique = {r["message_id"]: r for r in out}
        return sorted(unique.values(), key=lambda r: (r["occurred_at"], r["id"]))

    def latest(self, subjects: Sequence[str], one_ids: Sequence[str], purpose: str) -> dict[str, Any] | None:
        """The latest decision that counts for ``purpose`` (a withdrawal wins a tie), or None."""
        best: dict[str, Any] | None = None
        for cond in _who(subjects, one_ids):
            q = (select(ConsentRecord).where(cond, ConsentRecord.purpose == purpose, ConsentRecord.counts)
                 .order_by(ConsentRecord.occurred_at.desc(), ConsentRecord.granted.asc()).limit(1))
            with self.store.session() as s:
                row = s.scalars(q).first()
            if row is not None and (best is None or _newer(_row(row), best)):
                best = _row(row)
        return best

    def recorded_since(self, since: datetime, purpose: str) -> pa.Table:
        """Decisions for ``purpose`` recorded at or after ``since`` (what a snapshot may not hold yet)."""
        q = (select(ConsentRecord.subject, ConsentRecord.one_id, ConsentRecord.purpose, ConsentRecord.granted,
                    ConsentRecord.counts, ConsentRecord.occurred_at)
             .where(ConsentRecord.recorded_at >= since, ConsentRecord.purpose == purpose))
        with self.store.session() as s:
            rows = [dict(r._mapping) for r in s.execute(q)]
        return pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA)

    def erase(self, subjects: Sequence[str], one_ids: Sequence[str]) -> int:
        """Delete every decision of these people (erasure); returns the rows removed."""
        removed = 0
        for cond in _who(subjects, one_ids):
            with self.store.writing() as s:
                removed += int(getattr(s.execute(delete(ConsentRecord).where(cond)), "rowcount", 0) or 0)
        return removed

    def count(self) -> int:
        from sqlalchemy import func

        with self.store.session() as s:
            return int(s.scalar(select(func.count()).select_from(ConsentRecord)) or 0)


def _who(subjects: Sequence[str], one_ids: Sequence[str]) -> list[ColumnElement[bool]]:
    """WHERE conditions (chunked IN lists) matching any of the subjects or one_ids."""
    conds: list[ColumnElement[bool]] = []
    subs, ids = list(dict.fromkeys(subjects)), list(dict.fromkeys(one_ids))
    for start in range(0, max(len(subs), len(ids)), _IN_CHUNK):
        parts: list[ColumnElement[bool]] = []
        if subs[start:start + _IN_CHUNK]:
            parts.append(ConsentRecord.subject.in_(subs[start:start + _IN_CHUNK]))
        if ids[start:start + _IN_CHUNK]:
            parts.append(ConsentRecord.one_id.in_(ids[start:start + _IN_CHUNK]))
        conds.append(or_(*parts))
    return conds


def _newer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["occurred_at"], not a["granted"]) > (b["occurred_at"], not b["granted"])


def _row(r: ConsentRecord) -> dict[str, Any]:
    return {"id": r.id, "message_id": r.message_id, "subject": r.subject, "one_id": r.one_id, "purpose": r.purpose,
            "granted": r.granted, "counts": r.counts, "reason": r.reason, "occurred_at": r.occurred_at,
            "recorded_at": r.recorded_at, "recorded_by": r.recorded_by, "source": r.source,
            "notice_version": r.notice_version, "double_confirmed": r.double_confirmed}


def lake_decisions_sql(events: str = "dwd_events") -> str:
    """Every consent decision in a dwd events relation as ledger columns (for ``consent sync``)."""
    return f"""
SELECT message_id, anchor_type || ':' || anchor_value AS subject, one_id, purpose, granted,
       {counts_sql("properties", "purpose", "granted")} AS counts,
       json_extract_string(properties, '$.source') AS source,
       json_extract_string(properties, '$.notice_version') AS notice_version,
       coalesce(TRY_CAST(json_extract_string(properties, '$.double_confirmed') AS BOOLEAN), false) AS double_confirmed,
       TRY_CAST(json_extract_string(properties, '$.pre_ticked') AS BOOLEAN) AS pre_ticked,
       TRY_CAST(json_extract_string(properties, '$.bundled') AS BOOLEAN) AS bundled,
       event_time AS occurred_at
FROM {events}
WHERE event = 'consent_changed' AND purpose IS NOT NULL AND granted IS NOT NULL AND anchor_value IS NOT NULL
ORDER BY message_id"""


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)




def sync_from_lake(lake: Lake, ledger: ConsentLedger, *, batch_rows: int = 50_000) -> tuple[int, int]:
    """Copy every consent decision in the lake's dwd events into the ledger (idempotent);
    returns (decisions seen, newly recorded). Streams: one Arrow batch at a time."""
    import duckdb

    from siyu.privacy.consent import grant_counts

    files = lake.files("dwd", "events")
    if not files:
        return 0, 0
    con = duckdb.connect()
    seen = new = 0
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("dwd_events", con.read_parquet(files, hive_partitioning=True, union_by_name=True))
        reader = con.sql(lake_decisions_sql("dwd_events")).to_arrow_reader(batch_rows)
        for batch in reader or ():
            decisions = []
            for r in batch.to_pylist():
                counts, reason = grant_counts(r["purpose"], r["granted"], double_confirmed=r["double_confirmed"],
                                              pre_ticked=r["pre_ticked"], bundled=r["bundled"])
                decisions.append(ConsentDecision(r["message_id"], r["subject"], r["purpose"], r["granted"],
                                                 as_utc(r["occurred_at"]), r["source"], r["notice_version"],
                                                 bool(r["double_confirmed"]), counts, reason, r["one_id"]))
            seen += len(decisions)
            new += ledger.record(decisions, recorded_by="sync:lake")
    finally:
        con.close()
    log.info("consent.sync", seen=seen, new=new)
    return seen, new


__all__ = ["LEDGER_SCHEMA", "ConsentLedger", "as_utc", "lake_decisions_sql", "sync_from_lake"]
