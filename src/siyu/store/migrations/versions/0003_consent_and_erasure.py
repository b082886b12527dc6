"""The consent ledger (授权记录) and erasure requests (删除请求) — see ``siyu.privacy.consent`` and
``siyu.privacy.erasure``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consent_ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("one_id", sa.String(64), nullable=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("notice_version", sa.String(64), nullable=True),
        sa.Column("double_confirmed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_ledger")),
        sa.UniqueConstraint("message_id", name=op.f("uq_consent_ledger_message_id")),
    )
    op.create_index("ix_consent_ledger_subject_purpose", "consent_ledger", ["subject", "purpose"])
    op.create_index("ix_consent_ledger_one_id_purpose", "consent_ledger", ["one_id", "purpose"])
    op.create_index(op.f("ix_consent_ledger_recorded_at"), "consent_ledger", ["recorded_at"])
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subjects", sa.String(64), nullable=False),
        sa.Column("subjects_masked", sa.Text(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("requested_at", _utc(), nullable=False),
        sa.Column("due_at", _utc(), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("completed_at", _utc(), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_requests")),
        sa.CheckConstraint("status IN ('running', 'done', 'failed')", name=op.f("ck_erasure_requests_status")),
    )
    op.create_index(op.f("ix_erasure_requests_subjects"), "erasure_requests", ["subjects"])


def downgrade() -> None:
    op.drop_index(op.f("ix_erasure_requests_subjects"), table_name="erasure_requests")
    op.drop_table("erasure_requests")
    op.drop_index(op.f("ix_consent_ledger_recorded_at"), table_name="consent_ledger")
    op.drop_index("ix_consent_ledger_one_id_purpose", table_name="consent_ledger")
    op.drop_index("ix_consent_ledger_subject_purpose", table_name="consent_ledger")
    op.drop_table("consent_ledger")
