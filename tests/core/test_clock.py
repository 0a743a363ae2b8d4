"""Event-time clock helpers: IST trading-day bounds in UTC, the clock that never goes backwards."""

from __future__ import annotations

from datetime import UTC, date, datetime

from core.clock import EventClock, ist_day_bounds


def test_an_ist_day_starts_at_1830_utc_the_evening_before():
    start, end = ist_day_bounds(date(2026, 2, 1))
    assert start == datetime(2026, 1, 31, 18, 30, tzinfo=UTC)
    assert end == datetime(2026, 2, 1, 18, 30, tzinfo=UTC)


def test_a_range_of_days_ends_where_the_day_after_the_last_starts():
    start, end = ist_day_bounds(date(2026, 12, 30), date(2027, 1, 1))
    assert start == datetime(2026, 12, 29, 18, 30, tzinfo=UTC)
    assert end == datetime(2027, 1, 1, 18, 30, tzinfo=UTC)


def test_the_event_clock_never_goes_backwards():
    clock = EventClock(100.0)
    assert clock.advance(90.0) == 100.0
    assert clock.advance(110.0) == 110.0
