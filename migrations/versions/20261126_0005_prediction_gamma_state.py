"""predictions.gamma_state: the dealer-gamma state (LONG_GAMMA, SHORT_GAMMA, GAMMA_NEUTRAL) held
when the prediction was made. GAMMA_NEUTRAL is a state, not a signal: it is stored here, with the
aggregate prediction, and no longer in ai_signal_logs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("gamma_state", sa.String(32), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): a batch rebuild would not lose rows here, but 0004's
    # downgrade explains why the project avoids it.
    op.drop_column("predictions", "gamma_state")
