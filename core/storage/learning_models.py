"""Learning tables: aggregate and smart-money predictions (durable, idempotent by `row_uid`), and
the hourly statistics rollup with its read position."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import to_datetime
from core.storage.model_base import Base, BigId, DurableRow, RunStamped, clip_text, finite_or_none
from core.storage.types import sanitize_json


class Prediction(DurableRow, RunStamped, Base):
    """An aggregate per-symbol forecast, scored at 30 minutes (Brier)."""

    __tablename__ = "predictions"
    __table_args__ = (
        sa.Index(None, "symbol", "ts"),
        sa.Index(None, "run_id", "ts"),
        sa.Index(None, "row_uid", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ts: Mapped[datetime]
    symbol: Mapped[str] = mapped_column(sa.String(32))
    bullish_probability: Mapped[float | None]
    volatility_probability: Mapped[float | None]
    confidence_score: Mapped[float | None]
    regime: Mapped[str | None] = mapped_column(sa.String(32))
    gamma_state: Mapped[str | None] = mapped_column(sa.String(32))  # DealerGamma's held state
    actual_move_30m: Mapped[float | None]
    accuracy_score: Mapped[float | None]
    model_version: Mapped[str | None] = mapped_column(sa.String(32))


class SmartMoneyPrediction(DurableRow, RunStamped, Base):
    """One SmartMoneyEngine evaluation (features, bias, confidence) and later its result."""

    __tablename__ = "smart_money_predictions"
    __table_args__ = (
        sa.Index(None, "symbol", "ts"),
        sa.Index(None, "run_id", "ts"),
        sa.Index(None, "row_uid", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ts: Mapped[datetime]
    symbol: Mapped[str] = mapped_column(sa.String(32))
    bias: Mapped[str] = mapped_column(sa.String(16))
    confidence: Mapped[float | None]
    pcr: Mapped[float | None]
    pcr_shift_z: Mapped[float | None]
    atm_straddle: Mapped[float | None]
    straddle_change: Mapped[float | None]
    oi_acceleration: Mapped[float | None]
    iv_regime: Mapped[str | None] = mapped_column(sa.String(32))
    features: Mapped[dict[str, Any] | None]
    actual_move: Mapped[float | None]
    result: Mapped[str | None] = mapped_column(sa.String(16))
    model_version: Mapped[str | None] = mapped_column(sa.String(32))

    NUMBERS = ("confidence", "pcr", "pcr_shift_z", "atm_straddle", "straddle_change", "oi_acceleration")

    @classmethod
    def from_reading(cls, reading: Any) -> SmartMoneyPrediction:
        """The row for a core.engines.smart_money.SmartMoneyReading (duck-typed: storage sits below
        the engines). The whole reading is also kept in `features`."""
        numbers = {name: finite_or_none(getattr(reading, name, None)) for name in cls.NUMBERS}
        return cls(
            ts=to_datetime(reading.ts),
            symbol=clip_text(reading.symbol, 32),
            bias=clip_text(reading.bias, 16),
            iv_regime=getattr(reading, "iv_regime", None),
            features=sanitize_json(dataclasses.asdict(reading))
            if dataclasses.is_dataclass(reading) and not isinstance(reading, type)
            else None,
            **numbers,
        )


class SignalStatsHourly(Base):
    """Sums of signals and outcomes per UTC hour, symbol, engine, signal and run (core.storage.rollup).

    `horizon_s` 0 is the signal row (n signals, confidence sums); a horizon > 0 is the outcome row
    (n outcomes, verdict counts, move sums). Sums and counts, never averages, so buckets combine
    exactly. Rebuilt whole buckets at a time from the raw tables, so it is derived data only.
    `run_id` is '' for legacy signals (NULL run: a key column cannot be NULL); `source` is the run's.
    """

    __tablename__ = "signal_stats_hourly"

    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    engine: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    signal: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    horizon_s: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    source: Mapped[str | None] = mapped_column(sa.String(200))
    n: Mapped[int] = mapped_column(sa.BigInteger)
    sum_confidence: Mapped[float]
    count_confidence: Mapped[int] = mapped_column(sa.BigInteger)
    correct: Mapped[int] = mapped_column(sa.BigInteger)
    wrong: Mapped[int] = mapped_column(sa.BigInteger)
    neutral: Mapped[int] = mapped_column(sa.BigInteger)
    sum_move_pct: Mapped[float]
    sum_abs_move_pct: Mapped[float]
    count_move: Mapped[int] = mapped_column(sa.BigInteger)


class RollupState(Base):
    """How far a rollup has read: every signal and outcome row with an id at or below these."""

    __tablename__ = "rollup_state"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    signal_id: Mapped[int] = mapped_column(sa.BigInteger)
    outcome_id: Mapped[int] = mapped_column(sa.BigInteger)
