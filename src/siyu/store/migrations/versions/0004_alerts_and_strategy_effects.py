"""Anomaly alerts (异常预警) and the strategy-effect log (策略效果追踪表) — see ``siyu.measure.alerts`` and
``siyu.measure.effects``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(63), nullable=False),
        sa.Column("grp", sa.String(256), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("observed", sa.Double(), nullable=False),
        sa.Column("expected", sa.Double(), nullable=True),
        sa.Column("deviation", sa.Double(), nullable=True),
        sa.Column("zscore", sa.Double(), nullable=True),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("message_zh", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=False),
        sa.Column("webhook", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("acknowledged_at", _utc(), nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.CheckConstraint("severity IN ('info', 'warning', 'critical')", name=op.f("ck_alerts_severity")),
        sa.CheckConstraint("kind IN ('threshold', 'seasonal')", name=op.f("ck_alerts_kind")),
    )
    op.create_index(op.f("ix_alerts_rule"), "alerts", ["rule"])
    op.create_index(op.f("ix_alerts_day"), "alerts", ["day"])
    op.create_table(
        "strategy_effects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("users_covered", sa.Integer(), nullable=True),
        sa.Column("segment", sa.String(63), nullable=True),
        sa.Column("metric", sa.String(63), nullable=False),
        sa.Column("baseline_start", sa.Date(), nullable=True),
        sa.Column("baseline_end", sa.Date(), nullable=True),
        sa.Column("after_start", sa.Date(), nullable=True),
        sa.Column("after_end", sa.Date(), nullable=True),
        sa.Column("scope", sa.String(63), nullable=True),
        sa.Column("kpi_before", sa.Double(), nullable=True),
        sa.Column("kpi_after", sa.Double(), nullable=True),
        sa.Column("kpi_change", sa.Double(), nullable=True),
        sa.Column("verification", sa.String(16), nullable=False),
        sa.Column("test", sa.String(64), nullable=True),
        sa.Column("p_value", sa.Double(), nullable=True),
        sa.Column("experiment", sa.String(128), nullable=True),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("evaluated_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_effects")),
        sa.CheckConstraint("kind IN ('journey', 'campaign', 'content', 'price', 'benefit', 'community', 'other')",
                           name=op.f("ck_strategy_effects_kind")),
        sa.CheckConstraint("verification IN ('pending', 'verified', 'not_verified', 'inconclusive')",
                           name=op.f("ck_strategy_effects_verification")),
        sa.CheckConstraint("users_covered IS NULL OR users_covered >= 0",
                           name=op.f("ck_strategy_effects_users_covered")),
        sa.CheckConstraint("p_value IS NULL OR (p_value >= 0 AND p_value <= 1)",
                           name=op.f("ck_strategy_effects_p_value")),
    )
    op.create_index(op.f("ix_strategy_effects_kind"), "strategy_effects", ["kind"])
    op.create_index(op.f("ix_strategy_effects_started_at"), "strategy_effects", ["started_at"])
    op.create_index(op.f("ix_strategy_effects_metric"), "strategy_effects", ["metric"])


def downgrade() -> None:
    op.drop_index(op.f("ix_strategy_effects_metric"), table_name="strategy_effects")
    op.drop_index(op.f("ix_strategy_effects_started_at"), table_name="strategy_effects")
    op.drop_index(op.f("ix_strategy_effects_kind"), table_name="strategy_effects")
    op.drop_table("strategy_effects")
    op.drop_index(op.f("ix_alerts_day"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_rule"), table_name="alerts")
    op.drop_table("alerts")
