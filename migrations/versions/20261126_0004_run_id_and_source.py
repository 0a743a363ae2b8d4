"""run_id and source on every stored row; the statistics rollup keyed by run as well.

ai_signal_logs, market_snapshots, option_chain_snapshots, predictions and smart_money_predictions
gain `run_id` (the run that wrote the row) and `source` (live, sim:<scenario>, replay:<file>,
backtest:<label>); both stay NULL on the rows already stored (legacy rows). signal_outcomes inherit
the run through their signal. signal_stats_hourly is derived data: it is recreated with `run_id` in
its key and `source`, and rollup_state is reset so the next refresh rebuilds it from the raw rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMPED = (
    "ai_signal_logs",
    "market_snapshots",
    "option_chain_snapshots",
    "predictions",
    "smart_money_predictions",
)
# table -> the columns of its run index (where queries filter on the run).
RUN_INDEXES = {
    "ai_signal_logs": ["run_id", "timestamp"],
    "market_snapshots": ["run_id", "symbol", "ts"],
    "predictions": ["run_id", "ts"],
    "smart_money_predictions": ["run_id", "ts"],
}


def _index_name(table: str, columns: list[str]) -> str:
    return op.f(f"ix_{table}_{'_'.join(columns)}")


def _counts(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in names]


def _sums(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Double(), nullable=False) for name in names]


def _create_rollup(with_run: bool) -> None:
    key = ["bucket_start", "symbol", "engine", "signal", "horizon_s", *(["run_id"] if with_run else [])]
    run = (
        [sa.Column("run_id", sa.String(length=36), nullable=False),
         sa.Column("source", sa.String(length=200), nullable=True)]
        if with_run else []
    )  # fmt: skip
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
        *run,
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_signal_stats_hourly")),
    )
    # Watermark 0: the next refresh recomputes every hour from the raw tables.
    op.execute(sa.text("DELETE FROM rollup_state"))


# Plain ALTER TABLE, no batch mode: a batch on SQLite recreates the table, and dropping the old
# ai_signal_logs / market_snapshots with foreign keys on would cascade-delete their outcomes and
# chain rows. SQLite has ALTER TABLE ... DROP COLUMN since 3.35.


def upgrade() -> None:
    for table in STAMPED:
        op.add_column(table, sa.Column("run_id", sa.String(length=36), nullable=True))
        op.add_column(table, sa.Column("source", sa.String(length=200), nullable=True))
    for table, columns in RUN_INDEXES.items():
        op.create_index(_index_name(table, columns), table, columns)
    op.drop_table("signal_stats_hourly")
    _create_rollup(with_run=True)


def downgrade() -> None:
    op.drop_table("signal_stats_hourly")
    _create_rollup(with_run=False)
    for table, columns in RUN_INDEXES.items():
        op.drop_index(_index_name(table, columns), table_name=table)
    for table in STAMPED:
        op.drop_column(table, "source")
        op.drop_column(table, "run_id")
