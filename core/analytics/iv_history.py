"""IV rank and IV percentile of today's ATM IV against stored daily values (one per trading day).

The in-memory `iv_percentile` of LiveMetrics rests on this session's minutes and is gone after a
restart; traders mean a year of days. These are pure functions of the daily series, which
core.storage.intraday reads from `market_snapshots`:
- IV rank = (current - lowest) / (highest - lowest) x 100 over the days;
- IV percentile = share of the days whose IV was below current, x 100.
Each answer carries the number of days it rests on, because a rank over five days means little.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

MIN_DAYS_PERCENTILE = 1
MIN_DAYS_RANK = 2  # a range needs two different days


@dataclass(frozen=True, slots=True)
class IvStanding:
    """Where `current` (decimal IV) stands among `days` daily values; None with too few days."""

    current: float | None
    days: int
    first_day: date | None
    last_day: date | None
    low: float | None
    high: float | None
    rank: float | None  # 0-100
    percentile: float | None  # 0-100
    reason: str = ""  # why rank or percentile is None


def iv_standing(daily: Sequence[tuple[date, float]], current: float | None) -> IvStanding:
    """Rank and percentile of `current` among the finite values of `daily` (date, IV) pairs."""
    pairs = [(d, float(v)) for d, v in daily if v is not None and np.isfinite(v)]
    days = len(pairs)
    values = np.array([v for _, v in pairs])
    first = min((d for d, _ in pairs), default=None)
    last = max((d for d, _ in pairs), default=None)
    low = float(values.min()) if days else None
    high = float(values.max()) if days else None
    if current is None or not np.isfinite(current):
        return IvStanding(None, days, first, last, low, high, None, None, "no current ATM IV")
    percentile = rank = None
    reasons = []
    if days >= MIN_DAYS_PERCENTILE:
        percentile = float(100.0 * np.count_nonzero(values < current) / days)
    else:
        reasons.append("no stored day of ATM IV before this one")
    if days >= MIN_DAYS_RANK and high is not None and low is not None and high > low:
        rank = float(100.0 * (current - low) / (high - low))
    elif days >= MIN_DAYS_RANK:
        reasons.append("every stored day has the same ATM IV")
    elif days:
        reasons.append(f"IV rank needs {MIN_DAYS_RANK} stored days, have {days}")
    return IvStanding(current, days, first, last, low, high, rank, percentile, "; ".join(reasons))
