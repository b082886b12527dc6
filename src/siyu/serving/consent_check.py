""""May I use this person for purpose P now?" — one call, fast enough for the activation path.

The answer is the latest decision that counts (see :mod:`siyu.privacy.consent`) among two sources:

- the serving snapshot's ``consent`` table: every decision that has reached the lake, as of the last build;
- the consent ledger: decisions recorded since, by the collector the moment their event was spooled.

A person who never decided has not consented. :meth:`ConsentChecker.check` answers for one person (two
indexed look-ups); :func:`consented_members` filters a whole segment at once (one join), for exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from siyu.core.errors import SiyuError
from siyu.core.identifiers import IdentifierType, stored_value
from siyu.privacy.audit import AuditAction, AuditLog
from siyu.privacy.consent import Purpose, decision_from_message, latest_consent_sql
from siyu.privacy.consent_ledger import ConsentLedger, as_utc
from siyu.serving.lookup import PersonLookup
from siyu.warehouse.engine import Engine

#: Ledger rows recorded this long before a snapshot was built are laid over it too: the collector records a
#: decision before the drain lands its event, and landing never lags by anything near a day.
LEDGER_OVERLAP = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ConsentAnswer:
    """The answer and why: ``granted`` / ``withdrawn`` / ``no_decision``, with the deciding record's time."""

    allowed: bool
    purpose: str
    one_id: str | None
    reason: str
    decided_at: datetime | None
    decided_by: str | None  # "snapshot" (the lake) or "ledger" (recorded since)

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "purpose": self.purpose, "one_id": self.one_id, "reason": self.reason,
                "decided_at": self.decided_at.isoformat() if self.decided_at else None, "decided_by": self.decided_by}


def check_purpose(purpose: str) -> Purpose:
    try:
        return Purpose(purpose)
    except ValueError:
        raise SiyuError(f"unknown purpose {purpose!r}; one of {', '.join(p.value for p in Purpose)}",
                        code="bad_purpose", input_name="purpose") from None


_PERSON_CONSENT = """
SELECT (SELECT list(subject ORDER BY subject) FROM person_identifiers WHERE one_id = ?) AS subjects,
       (SELECT list(from_one_id ORDER BY from_one_id) FROM redirects WHERE to_one_id = ?) AS merged,
       c.granted, c.changed_at
FROM (SELECT 1) AS one LEFT JOIN (SELECT granted, changed_at FROM consent WHERE one_id = ? AND purpose = ?) AS c
ON true"""


class ConsentChecker:
    """Consent checks over a :class:`PersonLookup` (snapshot) and, when given, the consent ledger."""

    def __init__(self, lookup: PersonLookup, ledger: ConsentLedger | None) -> None:
        self.lookup = lookup
        self.ledger = ledger

    def check(self, identifier_type: str, value: str, purpose: str) -> ConsentAnswer:
        """May the person known by ``identifier_type:value`` be used for ``purpose`` now?"""
        p = check_purpose(purpose).value
        one_id = find_person(self.lookup, identifier_type, value)
        best: tuple[bool, datetime, str] | None = None
        if one_id is None:
            subjects, one_ids = person_subjects(self.lookup, identifier_type, value, one_id=None)
        else:  # one round trip to the snapshot for the identifiers, merged ids and the decision
            row = self.lookup._rows(_PERSON_CONSENT, [one_id, one_id, one_id, p])[0]
            subjects, one_ids = list(row["subjects"] or []), [one_id, *(row["merged"] or [])]
            if row["granted"] is not None:
                best = (bool(row["granted"]), as_utc(datetime.fromisoformat(str(row["changed_at"]))), "snapshot")
        if self.ledger is not None and (subjects or one_ids):
            recorded = self.ledger.latest(subjects, one_ids, p)
            if recorded is not None:
                at = as_utc(recorded["occurred_at"])
                if best is None or (at, not recorded["granted"]) > (best[1], not best[0]):
                    best = (bool(recorded["granted"]), at, "ledger")
        if best is None:
            return ConsentAnswer(False, p, one_id, "no_decision", None, None)
        return ConsentAnswer(best[0], p, one_id, "granted" if best[0] else "withdrawn", best[1], best[2])


def find_person(lookup: PersonLookup, identifier_type: str, value: str) -> str | None:
    """The person's one_id in the snapshot, None when unknown or there is no snapshot yet."""
    if identifier_type not in ("one_id", *(t.value for t in IdentifierType)):
        raise SiyuError(f"unknown identifier type {identifier_type!r}", code="bad_identifier",
                        input_name="identifier_type")
    try:
        return lookup.find(identifier_type, value)
    except SiyuError as exc:
        if exc.code == "not_ready":
            return None
        raise


def person_subjects(lookup: PersonLookup, identifier_type: str, value: str, *,
                    one_id: str | None = None) -> tuple[list[str], list[str]]:
    """Every ``type:value`` and one_id the ledger may hold the person's decisions under."""
    one_id = one_id or find_person(lookup, identifier_type, value)
    if one_id is None:
        return ([], [value]) if identifier_type == "one_id" else ([_subject(identifier_type, value)], [])
    subjects = [str(r["subject"]) for r in lookup._rows("SELECT subject FROM person_identifiers WHERE one_id = ?",
                                                        [one_id])]
    return subjects, lookup.merged_ids(one_id)


def _subject(identifier_type: str, value: str) -> str:
    try:
        return f"{identifier_type}:{stored_value(IdentifierType(identifier_type), value)}"
    except ValueError as exc:
        raise SiyuError(f"bad {identifier_type} value: {exc}", code="bad_identifier", input_name="value") from None


def consented_members(engine: Engine, members_sql: str, purpose: str, *,
                      ledger: ConsentLedger | None = None, snapshot_built_at: datetime | None = None) -> str:
    """Register what is needed and return SQL selecting the one_ids of ``members_sql`` that may be used for
    ``purpose``: the latest decision that counts, from the ``events`` view, overlaid with ledger rows recorded
    since ``snapshot_built_at - LEDGER_OVERLAP`` (all of them when no time is given)."""
    p = check_purpose(purpose).value
    since = (snapshot_built_at or datetime(1970, 1, 1, tzinfo=UTC)) - LEDGER_OVERLAP
    recent = ledger.recorded_since(since, p) if ledger is not None else None
    if recent is None or recent.num_rows == 0:
        recent = pa.table({"one_id": pa.array([], pa.string()), "granted": pa.array([], pa.bool_()),
                           "occurred_at": pa.array([], pa.timestamp("us"))})
    else:  # lake event times are naive UTC: drop the zone without shifting the clock
        recent = recent.filter(pc.and_(recent["counts"], pc.is_valid(recent["one_id"])))
        recent = pa.table({"one_id": recent["one_id"], "granted": recent["granted"],
                           "occurred_at": recent["occurred_at"].cast(pa.timestamp("us"))})
    engine.register_arrow("consent_ledger_recent", recent)
    engine.create_view("consent_lake_latest", latest_consent_sql("events"))
    return f"""
SELECT m.one_id FROM ({members_sql}) AS m
JOIN (
    SELECT one_id, granted, row_number() OVER (PARTITION BY one_id ORDER BY decided_at DESC, granted ASC) AS rn FROM (
        SELECT one_id, granted, changed_at AS decided_at FROM consent_lake_latest WHERE purpose = '{p}'
        UNION ALL
        SELECT one_id, granted, occurred_at AS decided_at FROM consent_ledger_recent
    ) AS d
) AS c ON c.one_id = m.one_id AND c.rn = 1 AND c.granted"""




class ConsentRecorder:
    """The collector's consent sink: decisions from freshly spooled ``consent_changed`` events go into the
    ledger (with the one_id when the snapshot knows the person) and onto the audit log."""

    def __init__(self, ledger: ConsentLedger, lookup: PersonLookup, audit: AuditLog | None = None) -> None:
        self.ledger, self.lookup, self.audit = ledger, lookup, audit

    def __call__(self, messages: list[dict[str, Any]]) -> None:
        decisions = [d for d in map(decision_from_message, messages) if d is not None]
        if not decisions:
            return
        decisions = [d.with_one_id(self._one_id(d.subject)) for d in decisions]
        self.ledger.record(decisions, recorded_by="collector")
        if self.audit is not None:
            for d in decisions:
                self.audit.record("collector", None, AuditAction.CONSENT_CHANGE, "person", d.one_id or d.subject,
                                  {"purpose": d.purpose, "granted": d.granted, "counts": d.counts,
                                   "reason": d.reason, "source": d.source, "notice_version": d.notice_version,
                                   "message_id": d.message_id})

    def _one_id(self, subject: str) -> str | None:
        kind, _, value = subject.partition(":")
        try:
            return self.lookup.find_stored(kind, value)
        except SiyuError:
            return None  # no snapshot yet: the row keeps its subject, which checks also match on


__all__ = ["LEDGER_OVERLAP", "ConsentAnswer", "ConsentChecker", "ConsentRecorder", "check_purpose",
           "consented_members", "find_person", "person_subjects"]
