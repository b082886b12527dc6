"""Erasure requests (删除请求) in the operational store: when each was asked for, its deadline, and its proof.

PIPL gives a person the right to deletion; the source reports cite 72 hours after the request (or after an
account is closed). A request row is written when erasure starts (``running``) and completed with the
report — rows removed per table, files rewritten, the trace scan's verdict — or marked ``failed`` with the
error, so an interrupted erasure is visible and can be run again (erasure is idempotent). The row holds no
identifier in plaintext: ``subjects`` is a keyed digest (to recognise a repeated request) and
``subjects_masked`` masked values.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from siyu.core.config import get_settings
from siyu.privacy.masking import mask_value
from siyu.store.db import Store
from siyu.store.models import ErasureRequest, utcnow

#: How long a request may take (the source reports: 72 hours).
ERASURE_DEADLINE = timedelta(hours=72)
_MASK_LIMIT = 20


def subjects_digest(subjects: Sequence[str]) -> str:
    """A keyed digest of the (sorted) identifiers: the same request gives the same value, nobody can invert it."""
    text = "\n".join(sorted(set(subjects)))
    return hmac.new(get_settings().hash_key.encode(), b"erasure\n" + text.encode(), hashlib.sha256).hexdigest()


def masked_subjects(subjects: Sequence[str]) -> str:
    shown = []
    for s in sorted(set(subjects))[:_MASK_LIMIT]:
        kind, _, value = s.partition(":")
        shown.append(f"{kind}:{mask_value('generic', value)}")
    more = len(set(subjects)) - len(shown)
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def start_request(store: Store, subjects: Sequence[str], *, requested_by: str, reason: str,
                  requested_at: datetime | None = None) -> int:
    """Record an erasure as running; returns its id."""
    now = utcnow()
    asked = requested_at or now
    row = ErasureRequest(subjects=subjects_digest(subjects), subjects_masked=masked_subjects(subjects),
                         people=0, requested_at=asked, due_at=asked + ERASURE_DEADLINE, started_at=now,
                         completed_at=None, status="running", requested_by=requested_by[:128], reason=reason[:64],
                         report={})
    with store.writing() as s:
        s.add(row)
        s.flush()
        return int(row.id)


def finish_request(store: Store, request_id: int, *, people: int, report: dict[str, Any], ok: bool) -> None:
    """Complete the request with its report (``done``) or its error (``failed``)."""
    with store.writing() as s:
        row = s.get(ErasureRequest, request_id)
        if row is None:
            raise KeyError(request_id)
        row.people, row.report, row.status = people, report, "done" if ok else "failed"
        row.completed_at = utcnow()


def list_requests(store: Store, *, limit: int = 100, overdue_only: bool = False) -> list[dict[str, Any]]:
    """Newest first: id, masked subjects, people, requested/due/completed times, status, on time or not."""
    now = utcnow()
    with store.session() as s:
        rows = s.scalars(select(ErasureRequest).order_by(ErasureRequest.id.desc()).limit(max(1, limit))).all()
    out = []
    for r in rows:
        finished = r.completed_at if r.status == "done" else None
        late = (finished or now) > r.due_at
        if overdue_only and (r.status == "done" or not late):
            continue
        out.append({"id": r.id, "subjects": r.subjects_masked, "people": r.people, "reason": r.reason,
                    "requested_by": r.requested_by, "requested_at": r.requested_at.isoformat(),
                    "due_at": r.due_at.isoformat(), "completed_at": r.completed_at.isoformat() if r.completed_at
                    else None, "status": r.status, "on_time": not late if r.status == "done" else None,
                    "overdue": r.status != "done" and late, "report": r.report})
    return out


__all__ = ["ERASURE_DEADLINE", "finish_request", "list_requests", "masked_subjects", "start_request",
           "subjects_digest"]
