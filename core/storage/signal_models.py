"""Signal tables: every stored Signal (idempotent by its uid), its scored outcomes per horizon and
the experience aggregated from them; with the conversions between rows and Signals."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import to_datetime, to_epoch
from core.domain import Direction, Signal
from core.storage.model_base import OUTCOMES, Base, BigId, RunStamped, clip_text, finite_or_none, run_values
from core.storage.types import JSONType, sanitize_json


class AiSignalLog(RunStamped, Base):
    """One stored Signal; `signal_uid` (Signal.id) makes every insert idempotent."""

    __tablename__ = "ai_signal_logs"
    __table_args__ = (
        sa.Index(None, "timestamp"),
        sa.Index(None, "symbol", "timestamp"),
        sa.Index(None, "engine", "signal", "timestamp"),
        sa.Index(None, "run_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    signal_uid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    timestamp: Mapped[datetime]
    symbol: Mapped[str] = mapped_column(sa.String(32))
    expiry: Mapped[date | None]
    engine: Mapped[str] = mapped_column(sa.String(64))
    signal: Mapped[str] = mapped_column(sa.String(64))
    direction: Mapped[Direction] = mapped_column(sa.String(8))  # Signal.direction, stored as text
    confidence: Mapped[float | None]
    raw_score: Mapped[float | None]
    strength: Mapped[float | None]
    spot_price: Mapped[float | None]
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType())

    @staticmethod
    def values_from_signal(
        signal: Signal, run_id: str | None = None, source: str | None = None
    ) -> dict[str, Any]:
        """Column values (keyed by column name) for a Core INSERT of `signal` stored by run `run_id`,
        sanitised so the database accepts them: NaN/inf become None, NUL characters go, long text
        is clipped."""
        return {
            "signal_uid": clip_text(signal.id, 64),
            "timestamp": to_datetime(float(signal.ts)),
            "symbol": clip_text(signal.symbol, 32),
            "expiry": signal.expiry,
            "engine": clip_text(signal.engine, 64),
            "signal": clip_text(signal.signal, 64),
            "direction": clip_text(signal.direction, 8),
            "confidence": finite_or_none(signal.confidence),
            "raw_score": finite_or_none(signal.raw_score),
            "strength": finite_or_none(signal.strength),
            "spot_price": finite_or_none(signal.spot_price),
            "metadata": sanitize_json(
                {
                    "reasons": list(signal.reasons),
                    "features": dict(signal.features),
                    "confidence_source": signal.confidence_source,
                }
            ),
            **run_values(run_id, source),
        }

    @classmethod
    def from_signal(cls, signal: Signal, run_id: str | None = None, source: str | None = None) -> AiSignalLog:
        values = cls.values_from_signal(signal, run_id, source)
        values["metadata_"] = values.pop("metadata")
        return cls(**values)

    def to_signal(self) -> Signal:
        meta = self.metadata_ or {}
        return Signal(
            ts=to_epoch(self.timestamp),
            symbol=self.symbol,
            engine=self.engine,
            signal=self.signal,
            direction=self.direction,
            confidence=self.confidence if self.confidence is not None else math.nan,
            raw_score=self.raw_score if self.raw_score is not None else math.nan,
            strength=self.strength if self.strength is not None else math.nan,
            spot_price=self.spot_price,
            expiry=self.expiry,
            reasons=tuple(meta.get("reasons") or ()),
            features=dict(meta.get("features") or {}),
            confidence_source=meta.get("confidence_source") or "raw",
            id=self.signal_uid,
        )


def signal_from_fields(
    symbol: str,
    signal: str,
    confidence: float,
    spot_price: float | None,
    metadata: Mapping[str, Any] | None,
    fields: dict[str, Any],
    ts: float,
) -> Signal:
    """A Signal from the seed's `log_ai_signal` arguments. `fields` may name engine, direction,
    raw_score, strength, expiry, confidence_source, id, reasons, features; `metadata` may carry
    reasons and features. Unknown keys are kept inside `features`, never dropped."""
    fields, meta = dict(fields), dict(metadata or {})
    reasons = fields.pop("reasons", None) or meta.pop("reasons", ())
    features = dict(fields.pop("features", None) or meta.pop("features", None) or {})
    known = {
        "engine": fields.pop("engine", "external"),
        "direction": fields.pop("direction", "NONE"),
        "raw_score": float(fields.pop("raw_score", confidence)),
        "strength": float(fields.pop("strength", confidence)),
        "expiry": fields.pop("expiry", None),
        "confidence_source": fields.pop("confidence_source", "raw"),
    }
    if "id" in fields:
        known["id"] = str(fields.pop("id"))
    return Signal(
        ts=float(ts),
        symbol=symbol,
        signal=signal,
        confidence=float(confidence),
        spot_price=spot_price,
        reasons=tuple(str(r) for r in reasons),
        features={**features, **meta, **fields},
        **known,
    )


class SignalOutcome(Base):
    """What the market did `horizon_s` seconds (event time) after a stored signal."""

    __tablename__ = "signal_outcomes"
    __table_args__ = (
        sa.UniqueConstraint("signal_id", "horizon_s"),
        sa.CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    signal_id: Mapped[int] = mapped_column(sa.ForeignKey("ai_signal_logs.id", ondelete="CASCADE"))
    horizon_s: Mapped[int]
    evaluated_at: Mapped[datetime]
    spot_at_eval: Mapped[float | None]
    move_pct: Mapped[float | None]
    mfe_pct: Mapped[float | None]
    mae_pct: Mapped[float | None]
    outcome: Mapped[str] = mapped_column(sa.String(8))
    # The horizon ran past the session close, so the verdict is against the close (SPEC section 8).
    at_close: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


def outcome_count(label: str) -> sa.ColumnElement[int]:
    """SUM of the grouped SignalOutcome rows whose outcome is `label` (0, not NULL, for none): the
    one counting expression of every per-outcome statistic."""
    return sa.func.coalesce(sa.func.sum(sa.case((SignalOutcome.outcome == label, 1), else_=0)), 0)


class FormulaExperience(Base):
    """Aggregated outcomes per engine, signal, symbol (NULL = all symbols) and horizon."""

    __tablename__ = "formula_experience"
    __table_args__ = (
        sa.UniqueConstraint("engine", "signal", "symbol", "horizon_s"),
        # NULLs are distinct in a unique constraint, so the all-symbols row needs its own index.
        sa.Index(
            "uq_formula_experience_all_symbols",
            "engine",
            "signal",
            "horizon_s",
            unique=True,
            sqlite_where=sa.text("symbol IS NULL"),
            postgresql_where=sa.text("symbol IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    engine: Mapped[str] = mapped_column(sa.String(64))
    signal: Mapped[str] = mapped_column(sa.String(64))
    symbol: Mapped[str | None] = mapped_column(sa.String(32))
    horizon_s: Mapped[int]
    total_tests: Mapped[int] = mapped_column(default=0, server_default="0")
    wins: Mapped[int] = mapped_column(default=0, server_default="0")
    losses: Mapped[int] = mapped_column(default=0, server_default="0")
    neutrals: Mapped[int] = mapped_column(default=0, server_default="0")
    success_rate: Mapped[float | None]
    adjusted_confidence: Mapped[float | None]
    last_updated: Mapped[datetime]
