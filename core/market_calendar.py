"""NSE trading calendar as data: sessions, holidays, special sessions, Tuesday expiries moved back
over holidays, and the trading time between two instants."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import numpy as np

from core.clock import IST

DATA_DIR = Path(__file__).resolve().parent / "data"
HOLIDAYS_FILE = DATA_DIR / "nse_holidays.csv"
SPECIAL_SESSIONS_FILE = DATA_DIR / "nse_special_sessions.csv"
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
MEMO_SIZE = 4096  # days and spans of days remembered by the calendar's lookups
EXPIRY_WEEKDAY = 1  # Tuesday, for every NSE index option since Sep 2025
WEEKLY_SYMBOLS = frozenset({"NIFTY"})
# Trading time: a year of 252 regular sessions of 375 minutes (expected moves, realised vol).
TRADING_SECONDS_PER_YEAR = 252 * 375 * 60.0


@dataclass(frozen=True, slots=True)
class SpecialSession:
    """A session outside the regular rule: Muhurat trading on Diwali, a budget-day weekend session.

    It opens the market on `day` from `open` to `close` IST even when the day is a weekend or a
    holiday, and replaces the regular hours when the day is a trading day anyway."""

    day: date
    kind: str  # "muhurat" | "budget" | any label the data file uses
    open: time
    close: time
    occasion: str = ""


@lru_cache(maxsize=4)
def load_holidays(path: Path = HOLIDAYS_FILE) -> frozenset[date]:
    """Dates from a CSV with a `date` column (YYYY-MM-DD). Edit the file to add a year."""
    with path.open(newline="") as fh:
        return frozenset(date.fromisoformat(row["date"]) for row in csv.DictReader(fh))


@lru_cache(maxsize=4)
def load_special_sessions(path: Path = SPECIAL_SESSIONS_FILE) -> tuple[SpecialSession, ...]:
    """Rows `date,kind,open,close,occasion` (times HH:MM IST). NSE announces each in a circular a
    few weeks ahead (the Muhurat hour moves from year to year), so a new one is one line here."""
    with path.open(newline="") as fh:
        return tuple(
            SpecialSession(
                day=date.fromisoformat(row["date"]),
                kind=row["kind"],
                open=time.fromisoformat(row["open"]),
                close=time.fromisoformat(row["close"]),
                occasion=row.get("occasion") or "",
            )
            for row in csv.DictReader(fh)
        )


def _by_day(sessions: Iterable[SpecialSession]) -> Mapping[date, SpecialSession]:
    return MappingProxyType({s.day: s for s in sessions})


@dataclass(frozen=True, slots=True)
class MarketCalendar:
    """Trading days, session hours and expiries.

    A regular day is a weekday that is not a holiday; a special session makes its day a trading day
    with its own hours. Expiries settle on regular days only: NSE never moves an expiry onto a
    Muhurat hour or a weekend budget session."""

    holidays: frozenset[date]
    special: Mapping[date, SpecialSession] = field(default_factory=lambda: _by_day(()))
    _busdays: np.busdaycalendar = field(init=False, repr=False, compare=False)
    # What trading_seconds asks every metrics cycle, kept per day and per span of days (a day's
    # session bounds need two timezone conversions; numpy's business-day count converts dates).
    _session_epochs: Callable[[date], tuple[float, float] | None] = field(
        init=False, repr=False, compare=False
    )
    _regular_days: Callable[[date, date], int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once: counting regular sessions over a month is then a few microseconds.
        holidays = np.array(sorted(self.holidays), dtype="datetime64[D]")
        object.__setattr__(self, "_busdays", np.busdaycalendar(holidays=holidays))
        object.__setattr__(self, "_session_epochs", lru_cache(maxsize=MEMO_SIZE)(self._epochs_of))
        object.__setattr__(self, "_regular_days", lru_cache(maxsize=MEMO_SIZE)(self._busday_count))

    @classmethod
    def default(cls) -> MarketCalendar:
        return cls.from_sessions(load_holidays(), load_special_sessions())

    @classmethod
    def from_sessions(cls, holidays: Iterable[date], sessions: Iterable[SpecialSession]) -> MarketCalendar:
        return cls(frozenset(holidays), _by_day(sessions))

    def is_regular_day(self, d: date) -> bool:
        return d.weekday() < 5 and d not in self.holidays

    def is_trading_day(self, d: date) -> bool:
        return d in self.special or self.is_regular_day(d)

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
        """The actual expiry of a nominal Tuesday: moved back to the previous regular day on a holiday."""
        d = tuesday
        while not self.is_regular_day(d):
            d -= timedelta(days=1)
        return d

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

    def session_hours(self, d: date) -> tuple[time, time]:
        """Open and close (IST) of the session on `d`: a special session's own, else 09:15-15:30."""
        special = self.special.get(d)
        return (special.open, special.close) if special else (SESSION_OPEN, SESSION_CLOSE)

    def session_bounds(self, d: date) -> tuple[datetime, datetime]:
        opens, closes = self.session_hours(d)
        return datetime.combine(d, opens, IST), datetime.combine(d, closes, IST)

    def is_open(self, ts: float) -> bool:
        dt = datetime.fromtimestamp(ts, IST)
        if not self.is_trading_day(dt.date()):
            return False
        opens, closes = self.session_hours(dt.date())
        return opens <= dt.time() < closes

    def session_close_epoch(self, d: date) -> float:
        return self.session_bounds(d)[1].timestamp()

    def trading_seconds(self, start_ts: float, end_ts: float) -> float:
        """Seconds of open market in [start_ts, end_ts]: nights, weekends and holidays count zero,
        a special session counts its own hours. The clock of expected moves (core.analytics.
        expected_move): the index moves while the market is open."""
        if not end_ts > start_ts:
            return 0.0
        first = datetime.fromtimestamp(start_ts, IST).date()
        last = datetime.fromtimestamp(end_ts, IST).date()
        total = self._open_seconds(first, start_ts, end_ts)
        if last == first:
            return total
        total += self._open_seconds(last, start_ts, end_ts)
        # Whole days in between: regular sessions counted by numpy, then the special ones adjusted.
        inner = (first + timedelta(days=1), last)
        if inner[0] < inner[1]:
            regular = self._regular_days(*inner)
            total += regular * REGULAR_SESSION_S
            for day, special in self.special.items():
                if inner[0] <= day < inner[1]:
                    total += _seconds(special.open, special.close)
                    total -= REGULAR_SESSION_S if self.is_regular_day(day) else 0.0
        return total

    def _open_seconds(self, d: date, start_ts: float, end_ts: float) -> float:
        bounds = self._session_epochs(d)
        if bounds is None:
            return 0.0
        opens, closes = bounds
        return max(0.0, min(closes, end_ts) - max(opens, start_ts))

    def _epochs_of(self, d: date) -> tuple[float, float] | None:
        """The day's session bounds in epoch seconds, None on a day without a session."""
        if not self.is_trading_day(d):
            return None
        open_dt, close_dt = self.session_bounds(d)
        return open_dt.timestamp(), close_dt.timestamp()

    def _busday_count(self, first: date, last: date) -> int:
        return int(np.busday_count(first, last, busdaycal=self._busdays))


def _seconds(opens: time, closes: time) -> float:
    return float((closes.hour - opens.hour) * 3600 + (closes.minute - opens.minute) * 60)


REGULAR_SESSION_S = _seconds(SESSION_OPEN, SESSION_CLOSE)


@lru_cache(maxsize=MEMO_SIZE)
def expiry_close_epoch(expiry: date) -> float:
    """15:30 IST on the expiry date, in epoch seconds (expiries settle on regular days only)."""
    return datetime.combine(expiry, SESSION_CLOSE, IST).timestamp()
