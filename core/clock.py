"""Event-time clocks: everything downstream of the feed reads time from here, never the wall."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")


def to_datetime(ts: float) -> datetime:
    """Epoch seconds (UTC) to an aware UTC datetime."""
    return datetime.fromtimestamp(ts, tz=UTC)


def ist_day_bounds(first: date, last: date | None = None) -> tuple[datetime, datetime]:
    """The UTC instants where IST day `first` starts and where the day after `last` (default
    `first`) starts: the event-time range of those trading days, end exclusive."""
    start = datetime.combine(first, time(0, 0), IST).astimezone(UTC)
    end = datetime.combine((last or first) + timedelta(days=1), time(0, 0), IST).astimezone(UTC)
    return start, end


def to_epoch(dt: datetime) -> float:
    """Aware datetime to epoch seconds; a naive datetime is taken as UTC (how SQLite returns it)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class EventClock:
    """The latest event time seen by the feed, in epoch seconds.

    The feed thread advances it; engines, cooldowns, snapshot timers and outcome horizons read it.
    It never goes backwards, so a late frame cannot rewind cooldowns.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def advance(self, ts: float) -> float:
        with self._lock:
            if ts > self._now:
                self._now = ts
            return self._now

    def now(self) -> float:
        return self._now

    def now_datetime(self) -> datetime:
        return to_datetime(self._now)
