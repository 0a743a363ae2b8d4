"""NSE trading calendar as data: sessions, holidays, Tuesday expiries moved back over holidays."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

from core.clock import IST

HOLIDAYS_FILE = Path(__file__).resolve().parent / "data" / "nse_holidays.csv"
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
EXPIRY_WEEKDAY = 1  # Tuesday, for every NSE index option since Sep 2025
WEEKLY_SYMBOLS = frozenset({"NIFTY"})


@lru_cache(maxsize=4)
def load_holidays(path: Path = HOLIDAYS_FILE) -> frozenset[date]:
    """Dates from a CSV with a `date` column (YYYY-MM-DD). Edit the file to add a year."""
    with path.open(newline="") as fh:
        return frozenset(date.fromisoformat(row["date"]) for row in csv.DictReader(fh))


@dataclass(frozen=True, slots=True)
class MarketCalendar:
    """Trading days and expiries. Special sessions (budget Sunday, Muhurat) go in `special`."""

    holidays: frozenset[date]
    special: frozenset[date] = frozenset()

    @classmethod
    def default(cls) -> MarketCalendar:
        return cls(load_holidays())

    def is_trading_day(self, d: date) -> bool:
        if d in self.special:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def previous_trading_day(self, d: date) -> date:
        d -= timedelta(days=1)
        while not self.is_trading_day(d):
            d -= timedelta(days=1)
        return d

    def next_trading_day(self, d: date) -> date:
        d += timedelta(days=1)
        while not self.is_trading_day(d):
            d += timedelta(days=1)
        return d

    def expiry_for_week(self, tuesday: date) -> date:
        """The actual expiry of a nominal Tuesday: moved to the previous trading day on a holiday."""
        return tuesday if self.is_trading_day(tuesday) else self.previous_trading_day(tuesday)

    def weekly_expiries(self, after: date, count: int) -> list[date]:
        """The next `count` weekly expiries on or after `after`."""
        tuesday = after + timedelta(days=(EXPIRY_WEEKDAY - after.weekday()) % 7)
        out: list[date] = []
        while len(out) < count:
            exp = self.expiry_for_week(tuesday)
            if exp >= after:
                out.append(exp)
            tuesday += timedelta(days=7)
        return out

    def monthly_expiries(self, after: date, count: int) -> list[date]:
        """The next `count` monthly expiries (last Tuesday of the month, holiday-adjusted)."""
        out: list[date] = []
        year, month = after.year, after.month
        while len(out) < count:
            first_next = date(year + month // 12, month % 12 + 1, 1)
            last_day = first_next - timedelta(days=1)
            tuesday = last_day - timedelta(days=(last_day.weekday() - EXPIRY_WEEKDAY) % 7)
            exp = self.expiry_for_week(tuesday)
            if exp >= after:
                out.append(exp)
            year, month = year + month // 12, month % 12 + 1
        return out

    def expiries(self, symbol: str, after: date, count: int = 2) -> list[date]:
        """NIFTY: weekly series (monthly included); others: monthly only."""
        if symbol in WEEKLY_SYMBOLS:
            return self.weekly_expiries(after, count)
        return self.monthly_expiries(after, count)

    def session_bounds(self, d: date) -> tuple[datetime, datetime]:
        return datetime.combine(d, SESSION_OPEN, IST), datetime.combine(d, SESSION_CLOSE, IST)

    def is_open(self, ts: float) -> bool:
        dt = datetime.fromtimestamp(ts, IST)
        if not self.is_trading_day(dt.date()):
            return False
        return SESSION_OPEN <= dt.time() < SESSION_CLOSE

    def session_close_epoch(self, d: date) -> float:
        return self.session_bounds(d)[1].timestamp()


def expiry_close_epoch(expiry: date) -> float:
    """15:30 IST on the expiry date, in epoch seconds."""
    return datetime.combine(expiry, SESSION_CLOSE, IST).timestamp()
