"""Stored alerts (预警记录) in the operational store: save without duplicates, list, acknowledge, track delivery.

An alert's id is a hash of rule, metric, group and day (:func:`siyu.measure.alerts.detect.alert_id`), so saving
the same alert again is a no-op (``INSERT … ON CONFLICT DO NOTHING``) and re-running detection over the same
data adds nothing. ``sent_at`` is set only after the webhook answered 2xx; until then the alert is pending and
the next delivery sends it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.sql.elements import ColumnElement

from siyu.measure.alerts.detect import Alert
from siyu.store.db import Store, insert_ignoring_duplicates
from siyu.store.errors import NotFound, StoreInputError, check_text
from siyu.store.models import AlertRecord, utcnow

SEVERITIES = ("info", "warning", "critical")
KINDS = ("threshold", "seasonal")
MAX_PAGE = 1000
_CHUNK = 500




@dataclass(frozen=True)
class StoredAlert(Alert):
    """An :class:`Alert` as stored: when it was created, sent to the webhook and acknowledged, and by whom."""

    created_at: datetime | None = None
    sent_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        for key in ("created_at", "sent_at", "acknowledged_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        return out


_FIELDS = tuple(f.name for f in fields(StoredAlert))


def _stored(row: AlertRecord) -> StoredAlert:
    return StoredAlert(**{name: getattr(row, name) for name in _FIELDS})


def save_alerts(store: Store, alerts: Iterable[Alert], *, now: datetime | None = None) -> list[StoredAlert]:
    """Store alerts not stored yet (by id) and return those, in the order given; the rest are left as they were."""
    at = now or utcnow()
    rows = []
    seen: set[str] = set()
    for a in alerts:
        if a.id in seen:
            continue
        seen.add(a.id)
        row = {f.name: getattr(a, f.name) for f in fields(Alert)}
        for key in ("message_zh", "message_en"):
            check_text(row[key], key)
        check_text(row["grp"], "grp", 256)
        rows.append({**row, "created_at": at, "sent_at": None, "acknowledged_at": None, "acknowledged_by": None})
    new: set[str] = set()
    stmt = insert_ignoring_duplicates(AlertRecord, store.dialect, ["id"]).returning(AlertRecord.id)
    for start in range(0, len(rows), _CHUNK):
        with store.writing() as s:
            new.update(s.scalars(stmt, rows[start:start + _CHUNK]).all())
    return [StoredAlert(**{k: r[k] for k in _FIELDS}) for r in rows if r["id"] in new]


def get_alert(store: Store, alert_id: str) -> StoredAlert:
    """One alert by id; :class:`NotFound` when there is none."""
    with store.session() as s:
        row = s.get(AlertRecord, check_text(alert_id, "alert_id", 32))
        if row is None:
            raise NotFound(f"no alert {alert_id!r}", input_name="alert_id")
        return _stored(row)


def list_alerts(store: Store, *, since: date | None = None, until: date | None = None, rule: str | None = None,
                metric: str | None = None, severity: str | None = None, acknowledged: bool | None = None,
                sent: bool | None = None, offset: int = 0, limit: int = 100) -> list[StoredAlert]:
    """One page of alerts, newest day first, filtered by day (``since`` ≤ day ≤ ``until``), rule, metric,
    severity, whether acknowledged and whether sent."""
    if offset < 0:
        raise StoreInputError("offset must be 0 or more", input_name="offset")
    if not 1 <= limit <= MAX_PAGE:
        raise StoreInputError(f"limit must be between 1 and {MAX_PAGE}", input_name="limit")
    if severity is not None and severity not in SEVERITIES:
        raise StoreInputError(f"unknown severity {severity!r}; one of {', '.join(SEVERITIES)}", input_name="severity")
    t = AlertRecord
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(t.day >= since)
    if until is not None:
        where.append(t.day <= until)
    if rule is not None:
        where.append(t.rule == check_text(rule, "rule"))
    if metric is not None:
        where.append(t.metric == check_text(metric, "metric"))
    if severity is not None:
        where.append(t.severity == severity)
    if acknowledged is not None:
        where.append(t.acknowledged_at.is_not(None) if acknowledged else t.acknowledged_at.is_(None))
    if sent is not None:
        where.append(t.sent_at.is_not(None) if sent else t.sent_at.is_(None))
    stmt = select(t).where(*where).order_by(t.day.desc(), t.rule, t.grp, t.id).offset(offset).limit(limit)
    with store.session() as s:
        return [_stored(r) for r in s.scalars(stmt)]


def acknowledge_alert(store: Store, alert_id: str, by: str, *, at: datetime | None = None) -> StoredAlert:
    """Mark an alert as seen and handled by ``by`` (已确认). Acknowledging it again keeps the first one."""
    if not by.strip():
        raise StoreInputError("say who acknowledges the alert", input_name="by")
    with store.writing() as s:
        row = s.get(AlertRecord, check_text(alert_id, "alert_id", 32))
        if row is None:
            raise NotFound(f"no alert {alert_id!r}", input_name="alert_id")
        if row.acknowledged_at is None:
            row.acknowledged_at = at or utcnow()
            row.acknowledged_by = check_text(by, "by", 128)
        return _stored(row)


def pending_alerts(store: Store, *, limit: int = 100) -> list[StoredAlert]:
    """Alerts meant for the webhook that have not been delivered yet, oldest first."""
    t = AlertRecord
    stmt = (select(t).where(t.webhook.is_(True), t.sent_at.is_(None))
            .order_by(t.created_at, t.day, t.rule, t.grp, t.id).limit(limit))
    with store.session() as s:
        return [_stored(r) for r in s.scalars(stmt)]


def pending_count(store: Store) -> int:
    """How many alerts meant for the webhook are not delivered yet."""
    t = AlertRecord
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(t).where(t.webhook.is_(True), t.sent_at.is_(None))) or 0)


def mark_sent(store: Store, ids: Sequence[str], *, at: datetime | None = None) -> int:
    """Record that these alerts reached the webhook (a 2xx answer); returns how many were still unsent."""
    when = at or utcnow()
    done = 0
    with store.writing() as s:
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start:start + _CHUNK])
            result = s.execute(update(AlertRecord).where(AlertRecord.id.in_(chunk), AlertRecord.sent_at.is_(None))
                               .values(sent_at=when))
            done += int(getattr(result, "rowcount", 0) or 0)
    return done
