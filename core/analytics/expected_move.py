"""The one expected-move definition, shared by the live metrics and the scoring of range calls.

Expected move = 1 sigma of the index over a window, measured in trading time:

    move / spot = sigma_ATM * sqrt(trading seconds in the window / trading seconds in a year)

with a trading year of 252 sessions of 375 minutes (core.market_calendar.TRADING_SECONDS_PER_YEAR)
and the window's trading seconds counted on the calendar (nights, weekends and holidays count zero,
special sessions their own hours). The index only moves while the market is open, so a 5-minute
horizon carries a session's share of the year's variance, not a 525 600th of it; realised vol
(core.analytics.regime) is annualised on the same clock.

Option pricing keeps calendar time (core.analytics.chain_arrays.time_to_expiry_years): NSE quotes
IV on that basis. On the real recordings the ATM straddle over sigma_feed * sqrt(calendar T) is
0.97-1.04 outside expiry days but 2.3-3.1 on expiry days, where NSE states IV on a longer T than
the hours left; in trading time the same ratio is 0.77-1.0 and 0.97-1.33.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from core.analytics.greeks import breach_probability
from core.market_calendar import TRADING_SECONDS_PER_YEAR, MarketCalendar, expiry_close_epoch

BASIS = "trading time"  # how the UI names the clock of every expected move


def expected_move_fraction(sigma: float | None, trading_s: float) -> float | None:
    """1 sigma move over `trading_s` seconds of open market, as a fraction of spot (0.01 = 1 %).

    None without a positive finite sigma (annualised, 0.12 = 12 %) or a positive window."""
    if sigma is None or not math.isfinite(sigma) or sigma <= 0 or not trading_s > 0:
        return None
    return sigma * math.sqrt(trading_s / TRADING_SECONDS_PER_YEAR)


@dataclass(frozen=True, slots=True)
class ExpiryMove:
    """The expected move from now to an expiry's close, in index points."""

    points: float
    bands: tuple[float, float, float, float]  # spot -2, -1, +1, +2 sigma
    breach_probability: float | None  # P(close at expiry outside spot +- 1 sigma), lognormal


def move_to_expiry(
    calendar: MarketCalendar, ts: float, expiry: date, spot: float, forward: float, sigma: float
) -> ExpiryMove | None:
    """1 sigma to the expiry's 15:30 IST close; None when no trading time is left or sigma is bad.

    The breach probability runs on the same clock, so it stays near 31.7 % (moved by carry)."""
    trading_s = calendar.trading_seconds(ts, expiry_close_epoch(expiry))
    fraction = expected_move_fraction(sigma, trading_s)
    if fraction is None:
        return None
    em = spot * fraction
    prob = breach_probability(spot, forward, sigma, trading_s / TRADING_SECONDS_PER_YEAR, em)
    return ExpiryMove(em, (spot - 2 * em, spot - em, spot + em, spot + 2 * em), prob)
