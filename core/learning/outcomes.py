"""Pure outcome rules: how a signal is scored against the spot path that followed it (SPEC §8)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analytics.expected_move import expected_move_fraction

HORIZONS_S: tuple[int, ...] = (300, 900, 1800)
# Neutral band per horizon, in percent of the entry spot: a smaller move is NEUTRAL.
NEUTRAL_BAND_PCT: dict[int, float] = {300: 0.05, 900: 0.10, 1800: 0.15}

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
    half the window's expected move (core.analytics.expected_move: ATM IV over the window's trading
    time, shorter when the close cuts it) for the whole window, else WRONG; without ATM IV it
    cannot be scored. Windows lie inside one session, so their trading time is their length.
    """
    end = entry_ts + horizon_s
    at_close = session_close_ts is not None and session_close_ts < end
    if at_close and session_close_ts is not None:
        end = session_close_ts
    window = _window(path_ts, entry_ts, end, at_close)
    if window is None:
        return None
    moves = (path_spot[window] / entry_spot - 1.0) * 100.0
    if direction == "NONE":
        scored = _score_range(moves, end - entry_ts, atm_iv)
    else:
        band = NEUTRAL_BAND_PCT.get(horizon_s, 0.10) if neutral_band_pct is None else neutral_band_pct
        scored = _score_direction(moves, 1.0 if direction == "UP" else -1.0, band)
    if scored is None:
        return None
    outcome, mfe, mae = scored
    last_idx = np.flatnonzero(window)[-1]
    return OutcomeResult(
        horizon_s=horizon_s,
        evaluated_ts=float(path_ts[last_idx]),
        spot_at_eval=float(path_spot[last_idx]),
        move_pct=float(moves[-1]),
        mfe_pct=mfe,
        mae_pct=mae,
        outcome=outcome,
        at_close=at_close,
    )


def _window(path_ts: np.ndarray, entry_ts: float, end: float, at_close: bool) -> np.ndarray | None:
    """Mask of samples in (entry, end], or None while the horizon (or the close) is not recorded."""
    if not len(path_ts):
        return None
    reached = path_ts[-1] >= end
    if not reached and (not at_close or path_ts[-1] < end - 60):
        return None
    window = (path_ts > entry_ts) & (path_ts <= end)
    return window if window.any() else None


def _score_direction(moves: np.ndarray, sign: float, band: float) -> tuple[str, float, float]:
    final = sign * float(moves[-1])
    outcome = CORRECT if final > band else WRONG if final < -band else NEUTRAL
    favourable = sign * moves
    return outcome, max(0.0, float(favourable.max())), max(0.0, float(-favourable.min()))


def _score_range(moves: np.ndarray, window_s: float, atm_iv: float | None) -> tuple[str, float, float] | None:
    em = expected_move_fraction(atm_iv, window_s)
    if em is None:
        return None
    excursion = float(np.abs(moves).max())
    return (CORRECT if excursion < em * 100.0 / 2.0 else WRONG), 0.0, excursion
