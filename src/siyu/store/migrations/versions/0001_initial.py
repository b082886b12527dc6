"""Initial operational store: API keys, saved segments and their version history.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(12), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.Column("last_used_at", _utc(), nullable=True),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
        sa.CheckConstraint("kind IN ('write', 'user')", name=op.f("ck_api_keys_kind")),
        sa.CheckConstraint("role IS NULL OR role IN ('admin', 'analyst', 'operator', 'auditor')",
                           name=op.f("ck_api_keys_role")),
        sa.CheckConstraint("(kind = 'write' AND source IS NOT NULL AND role IS NULL) OR "
                           "(kind = 'user' AND role IS NOT NULL AND source IS NULL)",
                           name=op.f("ck_api_keys_kind_fields")),
        sa.CheckConstraint("rate_limit_per_minute IS NULL OR rate_limit_per_minute > 0",
                           name=op.f("ck_api_keys_rate_limit")),
    )
    op.create_table(
        "segments",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("name_zh", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("rule_text", sa.Text(), nullable=False),
        sa.Column("rule_json", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_segments")),
    )
    op.create_index(op.f("ix_segments_owner"), "segments", ["owner"])
    op.create_table(
        "segment_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("name_zh", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("rule_text", sa.Text(), nullable=False),
        sa.Column("rule_json", sa.JSON(), nullable=False),
        sa.Column("changed_at", _utc(), nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_versions")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_segment_versions_name")),
        sa.CheckConstraint("action IN ('create', 'update', 'delete')", name=op.f("ck_segment_versions_action")),
    )


def downgrade() -> None:
    op.drop_table("segment_versions")
    op.drop_index(op.f("ix_segments_owner"), table_name="segments")
    op.drop_table("segments")
    op.drop_table("api_keys")
