"""Durable rows: market snapshots, predictions and smart-money predictions get a `row_uid`
idempotency key (unique), and a chain row is unique per (snapshot, strike, right), so the logger
can retry and replay them after an outage, as it does signals, without storing any twice.

Rows stored before this revision keep a NULL row_uid (NULLs never conflict).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DURABLE = ("market_snapshots", "predictions", "smart_money_predictions")
CHAIN_KEY = "ix_option_chain_snapshots_market_snapshot_id_strike_right"


def upgrade() -> None:
    for table in DURABLE:
        op.add_column(table, sa.Column("row_uid", sa.String(36), nullable=True))
        op.create_index(f"ix_{table}_row_uid", table, ["row_uid"], unique=True)
    op.create_index(
        CHAIN_KEY, "option_chain_snapshots", ["market_snapshot_id", "strike", "right"], unique=True
    )


def downgrade() -> None:
    op.drop_index(CHAIN_KEY, table_name="option_chain_snapshots")
    for table in DURABLE:
        op.drop_index(f"ix_{table}_row_uid", table_name=table)
        # Plain DROP COLUMN (SQLite >= 3.35), as in 0005: no batch rebuild of the table.
        op.drop_column(table, "row_uid")
