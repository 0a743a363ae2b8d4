"""signal_stats_hourly and rollup_state: the hourly statistics rollup and how far it has read.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _counts(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in names]


def _sums(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Double(), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "signal_stats_hourly",
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("signal", sa.String(length=64), nullable=False),
        sa.Column("horizon_s", sa.Integer(), nullable=False),
        *_counts("n"),
        *_sums("sum_confidence"),
        *_counts("count_confidence", "correct", "wrong", "neutral"),
        *_sums("sum_move_pct", "sum_abs_move_pct"),
        *_counts("count_move"),
        sa.PrimaryKeyConstraint(
            "bucket_start", "symbol", "engine", "signal", "horizon_s", name=op.f("pk_signal_stats_hourly")
        ),
    )
    op.create_table(
        "rollup_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        *_counts("signal_id", "outcome_id"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_state")),
    )


def downgrade() -> None:
    op.drop_table("rollup_state")
    op.drop_table("signal_stats_hourly")
