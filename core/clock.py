"""Event-time clocks: everything downstream of the feed reads time from here, never the wall."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")


def to_datetime(ts: float) -> datetime:
    """Epoch seconds (UTC) to an aware UTC datetime."""
    return datetime.fromtimestamp(ts, tz=UTC)


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
