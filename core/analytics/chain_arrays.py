"""One expiry's option legs as (2, n) numpy arrays, and the pricing clock (calendar time to expiry).

Arrays shaped (2, n) hold calls in row 0 and puts in row 1, columns on ascending strikes; the
structural engine builds them once per compute call and every kernel reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from operator import attrgetter

import numpy as np

from core.domain import Right, Tick
from core.market_calendar import expiry_close_epoch

MINUTES_PER_YEAR = 365 * 24 * 60.0
MIN_T_YEARS = 60.0 / MINUTES_PER_YEAR  # T is floored at one hour so expiry-day greeks stay finite
# Tick fields copied into the (2, n) arrays, in this order.
FIELDS: tuple[str, ...] = ("ltp", "bid", "ask", "bid_qty", "ask_qty", "oi", "prev_oi", "volume", "prev_close")
FIELDS += ("iv", "delta", "gamma", "ts")
_FIELD_GETTER = attrgetter(*FIELDS)
_ROW: dict[Right | None, int] = {"CE": 0, "PE": 1}


@dataclass(frozen=True, slots=True)
class ChainArrays:
    """One expiry's legs as (2, n) float arrays per FIELDS name; NaN where a leg or value is missing."""

    strikes: np.ndarray
    data: np.ndarray  # (len(FIELDS), 2, n)

    @classmethod
    def from_legs(cls, legs: list[Tick]) -> ChainArrays:
        legs = [t for t in legs if t.strike is not None and t.right in _ROW]
        leg_strikes = np.array([t.strike for t in legs], dtype=float)
        strikes = np.unique(leg_strikes)
        data = np.full((len(FIELDS), 2, len(strikes)), np.nan)
        if legs:
            cols = np.searchsorted(strikes, leg_strikes)
            rows = np.array([_ROW[t.right] for t in legs])
            values = np.array([_FIELD_GETTER(t) for t in legs], dtype=float)
            data[:, rows, cols] = values.T
        return cls(strikes, data)

    def __getitem__(self, name: str) -> np.ndarray:
        series: np.ndarray = self.data[FIELDS.index(name)]
        return series

    def premium(self) -> np.ndarray:
        """Quote mid where both sides are positive and uncrossed, else LTP; NaN if neither is positive."""
        bid, ask, ltp = self["bid"], self["ask"], self["ltp"]
        with np.errstate(invalid="ignore"):
            quoted = (bid > 0) & (ask > 0) & (ask >= bid)
            return np.where(quoted, 0.5 * (bid + ask), np.where(ltp > 0, ltp, np.nan))


def time_to_expiry_years(ts: float, expiry: date) -> float:
    """Minutes from ts to 15:30 IST on expiry, over 525 600, floored at one hour.

    Calendar time is the pricing clock: NSE quotes IV on it. Expected moves use trading time
    (core.analytics.expected_move)."""
    return max((expiry_close_epoch(expiry) - ts) / 60.0 / MINUTES_PER_YEAR, MIN_T_YEARS)
