"""Initial schema: the eight tables of SPEC section 7 with their keys, constraints and indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain types on purpose: a migration must not change when application types evolve.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _id() -> sa.Column:
    return sa.Column("id", BIG_ID, nullable=False)


def _floats(*names: str, nullable: bool = True) -> list[sa.Column]:
    return [sa.Column(name, sa.Double(), nullable=nullable) for name in names]


def upgrade() -> None:
    op.create_table(
        "ai_signal_logs",
        _id(),
        sa.Column("signal_uid", sa.String(length=64), nullable=False),
        sa.Column("timestamp", UTC_TS, nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("signal", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        *_floats("confidence", "raw_score", "strength", "spot_price"),
        sa.Column("metadata", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_signal_logs")),
        sa.UniqueConstraint("signal_uid", name=op.f("uq_ai_signal_logs_signal_uid")),
    )
    op.create_index(op.f("ix_ai_signal_logs_timestamp"), "ai_signal_logs", ["timestamp"])
    op.create_index(op.f("ix_ai_signal_logs_symbol_timestamp"), "ai_signal_logs", ["symbol", "timestamp"])
    op.create_index(
        op.f("ix_ai_signal_logs_engine_signal_timestamp"), "ai_signal_logs", ["engine", "signal", "timestamp"]
    )

    op.create_table(
        "signal_outcomes",
        _id(),
        sa.Column("signal_id", BIG_ID, nullable=False),
        sa.Column("horizon_s", sa.Integer(), nullable=False),
        sa.Column("evaluated_at", UTC_TS, nullable=False),
        *_floats("spot_at_eval", "move_pct", "mfe_pct", "mae_pct"),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('CORRECT', 'WRONG', 'NEUTRAL')", name=op.f("ck_signal_outcomes_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["ai_signal_logs.id"],
            name=op.f("fk_signal_outcomes_signal_id_ai_signal_logs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_outcomes")),
        sa.UniqueConstraint("signal_id", "horizon_s", name=op.f("uq_signal_outcomes_signal_id_horizon_s")),
    )

    op.create_table(
        "formula_experience",
        _id(),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("signal", sa.String(length=64), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=True),
        sa.Column("horizon_s", sa.Integer(), nullable=False),
        *[
            sa.Column(n, sa.Integer(), server_default="0", nullable=False)
            for n in ("total_tests", "wins", "losses", "neutrals")
        ],
        *_floats("success_rate", "adjusted_confidence"),
        sa.Column("last_updated", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_formula_experience")),
        sa.UniqueConstraint(
            "engine",
            "signal",
            "symbol",
            "horizon_s",
            name=op.f("uq_formula_experience_engine_signal_symbol_horizon_s"),
        ),
    )
    # NULL symbol means "all symbols"; NULLs never collide in a unique constraint, hence this index.
    op.create_index(
        "uq_formula_experience_all_symbols",
        "formula_experience",
        ["engine", "signal", "horizon_s"],
        unique=True,
        sqlite_where=sa.text("symbol IS NULL"),
        postgresql_where=sa.text("symbol IS NULL"),
    )

    op.create_table(
        "market_snapshots",
        _id(),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("ts", UTC_TS, nullable=False),
        *_floats(
            "spot",
            "forward",
            "atm_strike",
            "atm_iv",
            "pcr_oi",
            "pcr_volume",
            "max_pain",
            "support",
            "resistance",
            "call_wall",
            "put_wall",
            "net_gex",
            "gamma_flip",
            "expected_move",
            "total_call_oi",
            "total_put_oi",
            "flow_imbalance",
        ),  # fmt: skip
        sa.Column("regime", sa.String(length=32), nullable=True),
        sa.Column("volatility_regime", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_snapshots")),
    )
    op.create_index(op.f("ix_market_snapshots_symbol_ts"), "market_snapshots", ["symbol", "ts"])

    op.create_table(
        "option_chain_snapshots",
        _id(),
        sa.Column("market_snapshot_id", BIG_ID, nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("ts", UTC_TS, nullable=False),
        *_floats("strike", nullable=False),
        sa.Column("right", sa.String(length=2), nullable=False),
        *_floats("ltp", "bid", "ask", "oi", "oi_change", "volume", "iv", "delta", "gamma", "theta", "vega"),
        sa.ForeignKeyConstraint(
            ["market_snapshot_id"],
            ["market_snapshots.id"],
            name=op.f("fk_option_chain_snapshots_market_snapshot_id_market_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_option_chain_snapshots")),
    )
    op.create_index(
        op.f("ix_option_chain_snapshots_market_snapshot_id"), "option_chain_snapshots", ["market_snapshot_id"]
    )
    op.create_index(
        op.f("ix_option_chain_snapshots_symbol_expiry_ts"),
        "option_chain_snapshots",
        ["symbol", "expiry", "ts"],
    )

    op.create_table(
        "predictions",
        _id(),
        sa.Column("ts", UTC_TS, nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        *_floats("bullish_probability", "volatility_probability", "confidence_score"),
        sa.Column("regime", sa.String(length=32), nullable=True),
        *_floats("actual_move_30m", "accuracy_score"),
        sa.Column("model_version", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
    )
    op.create_index(op.f("ix_predictions_symbol_ts"), "predictions", ["symbol", "ts"])

    op.create_table(
        "smart_money_predictions",
        _id(),
        sa.Column("ts", UTC_TS, nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("bias", sa.String(length=16), nullable=False),
        *_floats("confidence", "pcr", "pcr_shift_z", "atm_straddle", "straddle_change", "oi_acceleration"),
        sa.Column("iv_regime", sa.String(length=32), nullable=True),
        sa.Column("features", JSON, nullable=True),
        *_floats("actual_move"),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("model_version", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smart_money_predictions")),
    )
    op.create_index(op.f("ix_smart_money_predictions_symbol_ts"), "smart_money_predictions", ["symbol", "ts"])

    op.create_table(
        "live_chain_state",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("snapshot", JSON, nullable=False),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_live_chain_state")),
    )


def downgrade() -> None:
    # Children before parents so foreign keys never block a drop; indexes go with their tables.
    for table in (
        "live_chain_state",
        "smart_money_predictions",
        "predictions",
        "option_chain_snapshots",
        "market_snapshots",
        "formula_experience",
        "signal_outcomes",
        "ai_signal_logs",
    ):
        op.drop_table(table)
