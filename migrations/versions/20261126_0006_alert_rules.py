"""Alerts: `alert_rules` (rules defined on the Alerts page) and `alert_events` (fired alerts with the
state of each delivery: in-app, webhook, Telegram).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain types on purpose: a migration must not change when application types evolve.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=True),
        sa.Column("params", JSON, nullable=False),
        sa.Column("channels", JSON, nullable=False),
        sa.Column("cooldown_s", sa.Double(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("event_uid", sa.String(length=36), nullable=False),
        sa.Column("ts", UTC_TS, nullable=False),
        sa.Column("fired_at", UTC_TS, nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("rule_name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("signal", sa.String(length=64), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("deliveries", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
        sa.UniqueConstraint("event_uid", name=op.f("uq_alert_events_event_uid")),
    )
    op.create_index(op.f("ix_alert_events_ts"), "alert_events", ["ts"])
    op.create_index(op.f("ix_alert_events_symbol_ts"), "alert_events", ["symbol", "ts"])


def downgrade() -> None:
    op.drop_table("alert_events")
    op.drop_table("alert_rules")
