"""Scripted markets for the learning tests: recorded spot paths and stored signals with known outcomes."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core.clock import IST, to_datetime
from core.storage.models import AiSignalLog, MarketSnapshot, SignalOutcome

# 10:00 IST on Wednesday 2026-11-18, a trading day: every 30 min horizon ends before the 15:30 close.
OPEN_T0 = datetime(2026, 11, 18, 10, 0, tzinfo=IST).timestamp()
# 15:20 IST the same day: the 15 and 30 minute horizons run past the close.
LATE_T0 = datetime(2026, 11, 18, 15, 20, tzinfo=IST).timestamp()
ENTRY = 25_000.0
STEP_S = 5.0  # the runtime writes a market snapshot every 5 s of event time
_uid = itertools.count()


def add_path(
    session: Session,
    t0: float,
    moves_pct: Sequence[float],
    symbol: str = "NIFTY",
    atm_iv: float | None = 0.12,
    step_s: float = STEP_S,
    run_id: str | None = None,
) -> None:
    """Market snapshots at t0, t0 + step, ...: spot = ENTRY * (1 + move %); moves_pct[0] is at t0.
    Stored by run `run_id` (None: legacy rows)."""
    session.add_all(
        MarketSnapshot(
            symbol=symbol,
            ts=to_datetime(t0 + i * step_s),
            spot=ENTRY * (1 + m / 100.0),
            atm_iv=atm_iv,
            run_id=run_id,
        )
        for i, m in enumerate(moves_pct)
    )


def ramp(final_pct: float, seconds: float, step_s: float = STEP_S) -> list[float]:
    """A straight move from 0 to `final_pct` over `seconds`, flat afterwards for a further hour."""
    n = int(seconds / step_s)
    up = list(np.linspace(0.0, final_pct, n + 1))
    return up + [final_pct] * int(3600 / step_s)


def add_signal(session: Session, ts: float, **overrides: Any) -> int:
    """A stored signal at `ts` (entry spot ENTRY); returns its id."""
    values: dict[str, Any] = {
        "signal_uid": f"sig-{next(_uid)}",
        "timestamp": to_datetime(ts),
        "symbol": "NIFTY",
        "engine": "LiquidityEngine",
        "signal": "SWEEP_UP",
        "direction": "UP",
        "confidence": 0.6,
        "raw_score": 0.6,
        "strength": 0.5,
        "spot_price": ENTRY,
        "metadata_": {"confidence_source": "raw"},
    }
    values.update(overrides)
    row = AiSignalLog(**values)
    session.add(row)
    session.flush()
    return row.id


def outcomes(session_factory: sessionmaker) -> dict[tuple[int, int], tuple]:
    """(signal_id, horizon_s) -> (outcome, move_pct, at_close) for every stored outcome."""
    SO = SignalOutcome
    with session_factory() as session:
        rows = session.execute(sa.select(SO.signal_id, SO.horizon_s, SO.outcome, SO.move_pct, SO.at_close))
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}
