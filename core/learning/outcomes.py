"""Pure outcome rules: how a signal is scored against the spot path that followed it (SPEC §8)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HORIZONS_S: tuple[int, ...] = (300, 900, 1800)
# Neutral band per horizon, in percent of the entry spot: a smaller move is NEUTRAL.
NEUTRAL_BAND_PCT: dict[int, float] = {300: 0.05, 900: 0.10, 1800: 0.15}
SECONDS_PER_YEAR = 365 * 24 * 3600

CORRECT, WRONG, NEUTRAL = "CORRECT", "WRONG", "NEUTRAL"


@dataclass(frozen=True, slots=True)
class OutcomeResult:
    """The verdict for one (signal, horizon). Percentages are of the entry spot (0.12 = 0.12 %)."""

    horizon_s: int
    evaluated_ts: float  # event time of the spot used for the verdict
    spot_at_eval: float
    move_pct: float
    mfe_pct: float  # max favourable excursion (in the signal's direction; |move| for range calls)
    mae_pct: float  # max adverse excursion
    outcome: str
    at_close: bool  # the horizon ran past the session close: scored against the close


def horizon_expected_move_pct(atm_iv: float | None, horizon_s: int) -> float | None:
    """1 sigma move over the horizon in percent: sigma_ATM * sqrt(horizon / year) * 100."""
    if atm_iv is None or not math.isfinite(atm_iv) or atm_iv <= 0:
        return None
    return atm_iv * math.sqrt(horizon_s / SECONDS_PER_YEAR) * 100.0


def evaluate_outcome(
    direction: str,
    entry_ts: float,
    entry_spot: float,
    path_ts: np.ndarray,
    path_spot: np.ndarray,
    horizon_s: int,
    *,
    session_close_ts: float | None = None,
    atm_iv: float | None = None,
    neutral_band_pct: float | None = None,
) -> OutcomeResult | None:
    """Score one signal at one horizon, or None if the path does not reach the horizon yet.

    `path_ts`/`path_spot` are recorded spot samples in event time (ascending). The horizon ends at
    entry_ts + horizon_s, or at the session close if that comes first (then `at_close` is True).
    Directional signals: CORRECT if the move in their direction exceeds the neutral band, WRONG if the
    opposite move does, else NEUTRAL. Direction NONE predicts a range: CORRECT if |move| stays under
    half the horizon's expected move (from ATM IV) for the whole window, else WRONG; without ATM IV it cannot be scored.
    """
    end = entry_ts + horizon_s
    at_close = session_close_ts is not None and session_close_ts < end
    if at_close:
        end = session_close_ts
    reached = path_ts[-1] >= end if len(path_ts) else False
    if not reached and not at_close:
        return None
    window = (path_ts > entry_ts) & (path_ts <= end)
    if not window.any():
        return None
    if at_close and not reached and path_ts[-1] < end - 60:
        return None  # the close is not recorded yet
    spots = path_spot[window]
    last_idx = np.flatnonzero(window)[-1]
    moves = (spots / entry_spot - 1.0) * 100.0
    move = float(moves[-1])
    if direction == "NONE":
        em = horizon_expected_move_pct(atm_iv, horizon_s)
        if em is None:
            return None
        excursion = float(np.abs(moves).max())
        outcome = CORRECT if excursion < em / 2.0 else WRONG
        mfe, mae = 0.0, excursion
    else:
        sign = 1.0 if direction == "UP" else -1.0
        favourable = sign * moves
        band = NEUTRAL_BAND_PCT.get(horizon_s, 0.10) if neutral_band_pct is None else neutral_band_pct
        outcome = CORRECT if sign * move > band else WRONG if sign * move < -band else NEUTRAL
        mfe = max(0.0, float(favourable.max()))
        mae = max(0.0, float(-favourable.min()))
    return OutcomeResult(
        horizon_s=horizon_s,
        evaluated_ts=float(path_ts[last_idx]),
        spot_at_eval=float(path_spot[last_idx]),
        move_pct=move,
        mfe_pct=mfe,
        mae_pct=mae,
        outcome=outcome,
        at_close=at_close,
    )
