"""The ORM schema (SPEC section 7): eight tables, the statistics rollup, one Base, and conversions."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.clock import to_datetime, to_epoch
from core.domain import LiveMetrics, Signal
from core.storage.types import JSONType, UTCDateTime, clean_text, sanitize_json

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY, so the 64-bit key is INTEGER there.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

OUTCOMES = ("CORRECT", "WRONG", "NEUTRAL")
DIRECTIONS = ("UP", "DOWN", "NONE")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType()}


def _num(value: Any) -> float | None:
    """A finite float or None: SQLite stores NaN as NULL and analysts read NaN as data, so neither."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def _text(value: Any, size: int) -> str:
    return clean_text(str(value))[:size]


def _run_values(run_id: str | None, source: str | None) -> dict[str, str | None]:
    return {
        "run_id": None if run_id is None else _text(run_id, 36),
        "source": None if source is None else _text(source, 200),
    }


class RunStamped:
    """Mixin: the run that wrote the row and where its data came from (core.storage.runs). NULL on
    legacy rows, stored before migration 0004."""

    run_id: Mapped[str | None] = mapped_column(sa.String(36))
    source: Mapped[str | None] = mapped_column(sa.String(200))

    def stamp(self, run_id: str | None, source: str | None) -> None:
        """Set the run unless the row already names one (a caller that knows better wins)."""
        if self.run_id is None and run_id is not None:
            values = _run_values(run_id, source)
            self.run_id, self.source = values["run_id"], values["source"]


class MarketSnapshot(RunStamped, Base):
    """Headline LiveMetrics of one symbol and expiry at event time `ts`."""

    __tablename__ = "market_snapshots"
    # (run_id, symbol, ts): outcomes are scored against the price path of their own run.
    __table_args__ = (sa.Index(None, "symbol", "ts"), sa.Index(None, "run_id", "symbol", "ts"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    symbol: Mapped[str] = mapped_column(sa.String(32))
    expiry: Mapped[date | None]
    ts: Mapped[datetime]
    spot: Mapped[float | None]
    forward: Mapped[float | None]
    atm_strike: Mapped[float | None]
    atm_iv: Mapped[float | None]
    pcr_oi: Mapped[float | None]
    pcr_volume: Mapped[float | None]
    max_pain: Mapped[float | None]
    support: Mapped[float | None]
    resistance: Mapped[float | None]
    call_wall: Mapped[float | None]
    put_wall: Mapped[float | None]
    net_gex: Mapped[float | None]
    gamma_flip: Mapped[float | None]
    expected_move: Mapped[float | None]
    total_call_oi: Mapped[float | None]
    total_put_oi: Mapped[float | None]
    flow_imbalance: Mapped[float | None]
    regime: Mapped[str | None] = mapped_column(sa.String(32))
    volatility_regime: Mapped[str | None] = mapped_column(sa.String(32))

    HEADLINE = (
        "spot", "forward", "atm_strike", "atm_iv", "pcr_oi", "pcr_volume", "max_pain", "support",
        "resistance", "call_wall", "put_wall", "net_gex", "gamma_flip", "expected_move",
        "total_call_oi", "total_put_oi", "flow_imbalance",
    )  # fmt: skip

    @classmethod
    def from_metrics(cls, metrics: LiveMetrics) -> MarketSnapshot:
        values = {name: _num(getattr(metrics, name)) for name in cls.HEADLINE}
        return cls(
            symbol=_text(metrics.symbol, 32),
            expiry=metrics.expiry,
            ts=to_datetime(metrics.ts),
            regime=metrics.regime,
            volatility_regime=metrics.volatility_regime,
            **values,
        )


class OptionChainSnapshot(RunStamped, Base):
    """One leg (strike, right) of the chain window around ATM, tied to its MarketSnapshot."""

    __tablename__ = "option_chain_snapshots"
    __table_args__ = (sa.Index(None, "symbol", "expiry", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    market_snapshot_id: Mapped[int] = mapped_column(
        sa.ForeignKey("market_snapshots.id", ondelete="CASCADE"), index=True
    )
    symbol: Mapped[str] = mapped_column(sa.String(32))
    expiry: Mapped[date | None]
    ts: Mapped[datetime]
    strike: Mapped[float]
    right: Mapped[str] = mapped_column(sa.String(2))
    ltp: Mapped[float | None]
    bid: Mapped[float | None]
    ask: Mapped[float | None]
    oi: Mapped[float | None]
    oi_change: Mapped[float | None]
    volume: Mapped[float | None]
    iv: Mapped[float | None]
    delta: Mapped[float | None]
    gamma: Mapped[float | None]
    theta: Mapped[float | None]
    vega: Mapped[float | None]

    # column -> LiveMetrics array suffix; arrays LiveMetrics does not (yet) carry are read as None.
    PER_STRIKE = {
        "ltp": "ltp", "bid": "bid", "ask": "ask", "oi": "oi", "oi_change": "oi_change",
        "volume": "volume", "iv": "iv", "delta": "delta", "gamma": "gamma", "theta": "theta",
        "vega": "vega",
    }  # fmt: skip

    @classmethod
    def rows_from_metrics(
        cls, metrics: LiveMetrics, snapshot_id: int, strikes_each_side: int = 15
    ) -> list[OptionChainSnapshot]:
        """CE and PE rows for the strikes within ATM +- `strikes_each_side` (nearest spot if no ATM)."""
        strikes = np.asarray(metrics.strikes, dtype=float)
        centre = metrics.atm_strike if metrics.atm_strike is not None else metrics.spot
        if strikes.size == 0 or centre is None:
            return []
        atm = int(np.argmin(np.abs(strikes - centre)))
        lo, hi = max(atm - strikes_each_side, 0), min(atm + strikes_each_side + 1, strikes.size)
        ts = to_datetime(metrics.ts)
        rows: list[OptionChainSnapshot] = []
        for right, prefix in (("CE", "call_"), ("PE", "put_")):
            arrays = {
                col: _array(metrics, prefix + name, strikes.size) for col, name in cls.PER_STRIKE.items()
            }
            for i in range(lo, hi):
                values = {col: (None if arr is None else _num(arr[i])) for col, arr in arrays.items()}
                rows.append(
                    cls(
                        market_snapshot_id=snapshot_id,
                        symbol=_text(metrics.symbol, 32),
                        expiry=metrics.expiry,
                        ts=ts,
                        strike=float(strikes[i]),
                        right=right,
                        **values,
                    )
                )
        return rows


def _array(metrics: LiveMetrics, name: str, size: int) -> np.ndarray | None:
    arr = getattr(metrics, name, None)
    if arr is None:
        return None
    arr = np.asarray(arr, dtype=float)
    return arr if arr.shape == (size,) else None  # a misaligned array is not trusted


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
    direction: Mapped[str] = mapped_column(sa.String(8))
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
            "signal_uid": _text(signal.id, 64),
            "timestamp": to_datetime(float(signal.ts)),
            "symbol": _text(signal.symbol, 32),
            "expiry": signal.expiry,
            "engine": _text(signal.engine, 64),
            "signal": _text(signal.signal, 64),
            "direction": _text(signal.direction, 8),
            "confidence": _num(signal.confidence),
            "raw_score": _num(signal.raw_score),
            "strength": _num(signal.strength),
            "spot_price": _num(signal.spot_price),
            "metadata": sanitize_json(
                {
                    "reasons": list(signal.reasons),
                    "features": dict(signal.features),
                    "confidence_source": signal.confidence_source,
                }
            ),
            **_run_values(run_id, source),
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
            direction=self.direction,  # type: ignore[arg-type]
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


class Prediction(RunStamped, Base):
    """An aggregate per-symbol forecast, scored at 30 minutes (Brier)."""

    __tablename__ = "predictions"
    __table_args__ = (sa.Index(None, "symbol", "ts"), sa.Index(None, "run_id", "ts"))

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


class SmartMoneyPrediction(RunStamped, Base):
    """One SmartMoneyEngine evaluation (features, bias, confidence) and later its result."""

    __tablename__ = "smart_money_predictions"
    __table_args__ = (sa.Index(None, "symbol", "ts"), sa.Index(None, "run_id", "ts"))

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
        numbers = {name: _num(getattr(reading, name, None)) for name in cls.NUMBERS}
        return cls(
            ts=to_datetime(reading.ts),
            symbol=_text(reading.symbol, 32),
            bias=_text(reading.bias, 16),
            iv_regime=getattr(reading, "iv_regime", None),
            features=sanitize_json(dataclasses.asdict(reading))
            if dataclasses.is_dataclass(reading)
            else None,
            **numbers,
        )


class LiveChainState(Base):
    """The latest state of one symbol (metrics, chain window, active signals) for DB-backed replicas."""

    __tablename__ = "live_chain_state"

    symbol: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    updated_at: Mapped[datetime]
    snapshot: Mapped[dict[str, Any]]


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


__all__ = [
    "AiSignalLog",
    "Base",
    "FormulaExperience",
    "LiveChainState",
    "MarketSnapshot",
    "OptionChainSnapshot",
    "Prediction",
    "RollupState",
    "RunStamped",
    "SignalOutcome",
    "SignalStatsHourly",
    "SmartMoneyPrediction",
]
