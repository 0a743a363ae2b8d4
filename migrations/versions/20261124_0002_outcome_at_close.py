"""signal_outcomes.at_close: the horizon ran past the session close and was scored against the close.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite cannot drop a column in place on downgrade; PostgreSQL alters directly.
    with op.batch_alter_table("signal_outcomes") as batch:
        batch.add_column(sa.Column("at_close", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("signal_outcomes") as batch:
        batch.drop_column("at_close")
