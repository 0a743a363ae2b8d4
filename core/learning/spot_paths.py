"""Recorded spot paths for scoring: one bulk query per symbol, run and time range, plus session closes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import IST, to_datetime, to_epoch
from core.market_calendar import MarketCalendar
from core.storage.models import MarketSnapshot

# ATM IV for a range call is read from the snapshot at or before the signal; a snapshot this many
# seconds after it is accepted when none precedes it (the first seconds of a recording).
IV_LOOKAHEAD_S = 60.0


@dataclass(frozen=True, slots=True)
class SpotPath:
    """Recorded spot (and ATM IV) of one symbol (and run) in event time, ascending."""

    ts: np.ndarray
    spot: np.ndarray
    atm_iv: np.ndarray

    @classmethod
    def empty(cls) -> SpotPath:
        return cls(np.empty(0), np.empty(0), np.empty(0))

    def __len__(self) -> int:
        return len(self.ts)

    def atm_iv_at(self, ts: float) -> float | None:
        """ATM IV of the latest snapshot at or before `ts` that has one (else shortly after)."""
        known = np.isfinite(self.atm_iv)
        times, ivs = self.ts[known], self.atm_iv[known]
        if not len(times):
            return None
        idx = int(np.searchsorted(times, ts, side="right")) - 1
        if idx >= 0:
            return float(ivs[idx])
        return float(ivs[0]) if times[0] - ts <= IV_LOOKAHEAD_S else None

    def spot_at(self, ts: float) -> float | None:
        """Spot of the latest sample at or before `ts`."""
        idx = int(np.searchsorted(self.ts, ts, side="right")) - 1
        return float(self.spot[idx]) if idx >= 0 else None

    def after(self, ts: float) -> SpotPath:
        """The samples from `ts` on (cheap views, so one loaded path serves many signals)."""
        start = int(np.searchsorted(self.ts, ts, side="left"))
        return SpotPath(self.ts[start:], self.spot[start:], self.atm_iv[start:])


def load_path(
    session: Session, symbol: str, start_ts: float, end_ts: float, run_id: str | None = None
) -> SpotPath:
    """Every market snapshot of `symbol` with a spot in [start_ts, end_ts], in one query: of run
    `run_id` only, so two runs over the same event times never mix their prices. A legacy row (no
    run) is scored as before runs existed, against every snapshot of the symbol."""
    M = MarketSnapshot
    conds = [M.symbol == symbol, M.ts >= to_datetime(start_ts), M.spot.is_not(None)]
    if run_id is not None:
        conds.append(M.run_id == run_id)
    if math.isfinite(end_ts):
        conds.append(M.ts <= to_datetime(end_ts))
    stmt = sa.select(M.ts, M.spot, M.atm_iv).where(*conds).order_by(M.ts)
    rows = session.execute(stmt).all()
    if not rows:
        return SpotPath.empty()
    ts = np.fromiter((to_epoch(r[0]) for r in rows), dtype=float, count=len(rows))
    spot = np.fromiter((r[1] for r in rows), dtype=float, count=len(rows))
    iv = np.fromiter((math.nan if r[2] is None else r[2] for r in rows), dtype=float, count=len(rows))
    return SpotPath(ts, spot, iv)


def session_close_for(calendar: MarketCalendar, ts: float) -> float | None:
    """The close of the session `ts` falls in, or None outside a session (a simulator running
    off-hours has no close to cap its horizons at)."""
    if not calendar.is_open(ts):
        return None
    return calendar.session_close_epoch(datetime.fromtimestamp(ts, IST).date())


def due_bound(calendar: MarketCalendar, now: float, horizon_s: float) -> float:
    """The latest entry time whose `horizon_s` can have ended by event time `now`: entries up to
    now - horizon, and any entry before the last session close (its horizon is capped at the close).
    A prefilter for SQL; the exact due check is done per row."""
    if not math.isfinite(now):
        return now
    day = datetime.fromtimestamp(now, IST).date()
    if not (calendar.is_trading_day(day) and now >= calendar.session_close_epoch(day)):
        day = calendar.previous_trading_day(day)
    return max(now - horizon_s, calendar.session_close_epoch(day))
