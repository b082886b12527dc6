"""The operational store's tables (SQLAlchemy 2 typed declarative models).

Timestamps are timezone-aware UTC everywhere; :class:`UtcDateTime` makes SQLite (which keeps no zone)
read them back aware. ``migrations/versions`` must match these models exactly — a test checks it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

#: Deterministic constraint names, so migrations and models name things the same on every database.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
KEY_KINDS = ("write", "user")
ROLES = ("admin", "analyst", "operator", "auditor")
SEGMENT_ACTIONS = ("create", "update", "delete")
ERASURE_STATES = ("running", "done", "failed")


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only accepts aware values and always returns aware UTC ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps timezone-aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"  # constants above only, never user text


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ApiKey(Base):
    """An API key: ``write`` keys send events for one source; ``user`` keys act with one role."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(_in("kind", KEY_KINDS), name="kind"),
        CheckConstraint(f"role IS NULL OR {_in('role', ROLES)}", name="role"),
        CheckConstraint("(kind = 'write' AND source IS NOT NULL AND role IS NULL) OR "
                        "(kind = 'user' AND role IS NOT NULL AND source IS NULL)", name="kind_fields"),
        CheckConstraint("rate_limit_per_minute IS NULL OR rate_limit_per_minute > 0", name="rate_limit"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))
    role: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")


class SegmentRecord(Base):
    """A saved segment definition (人群), its rule in canonical text and JSON, at its current version."""

    __tablename__ = "segments"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(128), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    rule_text: Mapped[str] = mapped_column(Text)
    rule_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str | None] = mapped_column(String(128))


class SegmentVersion(Base):
    """One change to a segment, kept forever (also after the segment is deleted): a full snapshot."""

    __tablename__ = "segment_versions"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        CheckConstraint(_in("action", SEGMENT_ACTIONS), name="action"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(63))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(8))
    name_zh: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    rule_text: Mapped[str] = mapped_column(Text)
    rule_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    changed_by: Mapped[str | None] = mapped_column(String(128))


class AuditRecord(Base):
    """One entry of the audit log (审计日志): append-only and hash-chained — see :mod:`siyu.privacy.audit`.

    ``seq`` is assigned by the writer (1, 2, 3, … with no gaps) under a lock, never by the database, because
    the hash covers it. ``details`` is canonical JSON text holding tokens and masked values, never plaintext PII.
    The migration also installs triggers that refuse UPDATE and DELETE on this table.
    """

    __tablename__ = "audit_log"
    __table_args__ = (CheckConstraint("seq > 0", name="seq"),)

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    actor_role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(256))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    hmac: Mapped[str | None] = mapped_column(String(64))


class ConsentRecord(Base):
    """One consent decision (授权记录) in the ledger — see :mod:`siyu.privacy.consent`. Never updated; a change
    of mind is a new row. ``subject`` is the person's strongest identifier (``type:value``, phone and e-mail
    as keyed tokens); ``one_id`` is filled when the recorder could resolve it. ``message_id`` makes recording
    idempotent (the collector and ``siyu privacy consent sync`` may both see one event)."""

    __tablename__ = "consent_ledger"
    __table_args__ = (Index("ix_consent_ledger_subject_purpose", "subject", "purpose"),
                      Index("ix_consent_ledger_one_id_purpose", "one_id", "purpose"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(128), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    one_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    counts: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    recorded_by: Mapped[str] = mapped_column(String(128))
    source: Mapped[str | None] = mapped_column(String(64))
    notice_version: Mapped[str | None] = mapped_column(String(64))
    double_confirmed: Mapped[bool] = mapped_column(Boolean)


class ErasureRequest(Base):
    """A data-subject erasure (删除权) and its proof: when it was asked for, its deadline (72 h by default),
    what was removed and what the trace scan found. Holds no identifier in plaintext — ``subjects`` is a
    keyed digest and ``subjects_masked`` masked values."""

    __tablename__ = "erasure_requests"
    __table_args__ = (CheckConstraint(_in("status", ERASURE_STATES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subjects: Mapped[str] = mapped_column(String(64), index=True)
    subjects_masked: Mapped[str] = mapped_column(Text)
    people: Mapped[int] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(8))
    requested_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(64))
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class AlertRecord(Base):
    """One alert (预警): what was seen against what was expected, its messages, delivery and acknowledgement."""

    __tablename__ = "alerts"
    __table_args__ = (CheckConstraint("severity IN ('info', 'warning', 'critical')", name="severity"),
                      CheckConstraint("kind IN ('threshold', 'seasonal')", name="kind"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(String(63), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(63))
    grp: Mapped[str] = mapped_column(String(256))
    day: Mapped[date] = mapped_column(Date, index=True)
    observed: Mapped[float] = mapped_column(Double)
    expected: Mapped[float | None] = mapped_column(Double)
    deviation: Mapped[float | None] = mapped_column(Double)
    zscore: Mapped[float | None] = mapped_column(Double)
    severity: Mapped[str] = mapped_column(String(8))
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    webhook: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))


class StrategyEffectRecord(Base):
    """One operational action (运营动作) and its measured effect; ``tags`` is ``,a,b,`` for exact tag search."""

    __tablename__ = "strategy_effects"
    __table_args__ = (
        CheckConstraint("kind IN ('journey', 'campaign', 'content', 'price', 'benefit', 'community', 'other')",
                        name="kind"),
        CheckConstraint("verification IN ('pending', 'verified', 'not_verified', 'inconclusive')",
                        name="verification"),
        CheckConstraint("users_covered IS NULL OR users_covered >= 0", name="users_covered"),
        CheckConstraint("p_value IS NULL OR (p_value >= 0 AND p_value <= 1)", name="p_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    users_covered: Mapped[int | None] = mapped_column(Integer)
    segment: Mapped[str | None] = mapped_column(String(63))
    metric: Mapped[str] = mapped_column(String(63), index=True)
    baseline_start: Mapped[date | None] = mapped_column(Date)
    baseline_end: Mapped[date | None] = mapped_column(Date)
    after_start: Mapped[date | None] = mapped_column(Date)
    after_end: Mapped[date | None] = mapped_column(Date)
    scope: Mapped[str | None] = mapped_column(String(63))
    kpi_before: Mapped[float | None] = mapped_column(Double)
    kpi_after: Mapped[float | None] = mapped_column(Double)
    kpi_change: Mapped[float | None] = mapped_column(Double)
    verification: Mapped[str] = mapped_column(String(16))
    test: Mapped[str | None] = mapped_column(String(64))
    p_value: Mapped[float | None] = mapped_column(Double)
    experiment: Mapped[str | None] = mapped_column(String(128))
    author: Mapped[str] = mapped_column(String(128))
    tags: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    evaluated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
