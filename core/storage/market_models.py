"""Market tables: headline metrics per snapshot, the chain window around ATM, and the latest state
of each symbol for DB-backed replicas; with their conversions from LiveMetrics."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import to_datetime
from core.domain import LiveMetrics
from core.storage.model_base import Base, BigId, DurableRow, RunStamped, clip_text, finite_or_none


class MarketSnapshot(DurableRow, RunStamped, Base):
    """Headline LiveMetrics of one symbol and expiry at event time `ts`."""

    __tablename__ = "market_snapshots"
    # (run_id, symbol, ts): outcomes are scored against the price path of their own run.
    __table_args__ = (
        sa.Index(None, "symbol", "ts"),
        sa.Index(None, "run_id", "symbol", "ts"),
        sa.Index(None, "row_uid", unique=True),
    )

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
    def values_from_metrics(cls, metrics: LiveMetrics, row_uid: str | None = None) -> dict[str, Any]:
        """Column values for a Core INSERT (run columns and id excluded); a new uid unless given."""
        return {
            "row_uid": row_uid or uuid.uuid4().hex,
            "symbol": clip_text(metrics.symbol, 32),
            "expiry": metrics.expiry,
            "ts": to_datetime(metrics.ts),
            "regime": metrics.regime,
            "volatility_regime": metrics.volatility_regime,
            **{name: finite_or_none(getattr(metrics, name)) for name in cls.HEADLINE},
        }

    @classmethod
    def from_metrics(cls, metrics: LiveMetrics) -> MarketSnapshot:
        return cls(**cls.values_from_metrics(metrics))


class OptionChainSnapshot(RunStamped, Base):
    """One leg (strike, right) of the chain window around ATM, tied to its MarketSnapshot.

    (market_snapshot_id, strike, right) is unique: it is the idempotency key of a replayed insert.
    """

    __tablename__ = "option_chain_snapshots"
    __table_args__ = (
        sa.Index(None, "symbol", "expiry", "ts"),
        sa.Index(None, "market_snapshot_id", "strike", "right", unique=True),
    )

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

    # column -> LiveMetrics per-strike array suffix (call_<suffix>, put_<suffix>).
    PER_STRIKE = {
        "ltp": "ltp", "bid": "bid", "ask": "ask", "oi": "oi", "oi_change": "oi_change",
        "volume": "volume", "iv": "iv", "delta": "delta", "gamma": "gamma", "theta": "theta",
        "vega": "vega",
    }  # fmt: skip

    @classmethod
    def values_from_metrics(cls, metrics: LiveMetrics, strikes_each_side: int = 15) -> list[dict[str, Any]]:
        """Column values of the CE and PE rows within ATM +- `strikes_each_side` (nearest spot if no
        ATM), without `market_snapshot_id`: the parent's id is known only once it is inserted."""
        strikes = np.asarray(metrics.strikes, dtype=float)
        centre = metrics.atm_strike if metrics.atm_strike is not None else metrics.spot
        if strikes.size == 0 or centre is None:
            return []
        atm = int(np.argmin(np.abs(strikes - centre)))
        lo, hi = max(atm - strikes_each_side, 0), min(atm + strikes_each_side + 1, strikes.size)
        common = {
            "symbol": clip_text(metrics.symbol, 32),
            "expiry": metrics.expiry,
            "ts": to_datetime(metrics.ts),
        }
        rows: list[dict[str, Any]] = []
        for right, prefix in (("CE", "call_"), ("PE", "put_")):
            arrays = {
                col: _array(metrics, prefix + name, strikes.size) for col, name in cls.PER_STRIKE.items()
            }
            for i in range(lo, hi):
                values = {
                    col: (None if arr is None else finite_or_none(arr[i])) for col, arr in arrays.items()
                }
                rows.append({**common, "strike": float(strikes[i]), "right": right, **values})
        return rows

    @classmethod
    def rows_from_metrics(
        cls, metrics: LiveMetrics, snapshot_id: int, strikes_each_side: int = 15
    ) -> list[OptionChainSnapshot]:
        """ORM rows of `values_from_metrics`, tied to the MarketSnapshot `snapshot_id`."""
        return [
            cls(market_snapshot_id=snapshot_id, **values)
            for values in cls.values_from_metrics(metrics, strikes_each_side)
        ]


def _array(metrics: LiveMetrics, name: str, size: int) -> np.ndarray | None:
    arr = getattr(metrics, name, None)
    if arr is None:
        return None
    arr = np.asarray(arr, dtype=float)
    return arr if arr.shape == (size,) else None  # a misaligned (or absent, empty) array is not trusted


class LiveChainState(Base):
    """The latest state of one symbol (metrics, chain window, active signals) for DB-backed replicas."""

    __tablename__ = "live_chain_state"

    symbol: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    updated_at: Mapped[datetime]
    snapshot: Mapped[dict[str, Any]]
