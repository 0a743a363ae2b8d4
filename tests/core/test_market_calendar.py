"""Expiries and sessions follow NSE's rules, with holidays as data."""

from datetime import date, datetime

from core.clock import IST
from core.market_calendar import MarketCalendar, expiry_close_epoch


def test_tuesday_holiday_moves_weekly_expiry_to_monday():
    cal = MarketCalendar.default()
    assert date(2026, 11, 24) in cal.holidays
    assert cal.weekly_expiries(date(2026, 11, 18), 2) == [date(2026, 11, 23), date(2026, 12, 1)]


def test_monthly_expiry_is_last_tuesday():
    cal = MarketCalendar.default()
    assert cal.monthly_expiries(date(2026, 12, 2), 1) == [date(2026, 12, 29)]
    # March 2026: last Tuesday 31st is Mahavir Jayanti -> Monday 30th
    assert cal.monthly_expiries(date(2026, 3, 4), 1) == [date(2026, 3, 30)]


def test_banknifty_has_monthly_only():
    cal = MarketCalendar.default()
    assert cal.expiries("BANKNIFTY", date(2026, 12, 2), 2) == [date(2026, 12, 29), date(2027, 1, 26)]
    assert cal.expiries("NIFTY", date(2026, 12, 2), 2) == [date(2026, 12, 8), date(2026, 12, 15)]


def test_session_open_and_special_sessions():
    cal = MarketCalendar.default()
    open_ts = datetime(2026, 12, 1, 9, 15, tzinfo=IST).timestamp()
    assert cal.is_open(open_ts)
    assert not cal.is_open(open_ts - 1)
    assert not cal.is_open(datetime(2026, 12, 1, 15, 30, tzinfo=IST).timestamp())
    sunday = date(2026, 2, 1)
    assert not cal.is_trading_day(sunday)
    assert MarketCalendar(cal.holidays, frozenset({sunday})).is_trading_day(sunday)


def test_expiry_close_is_1530_ist():
    assert expiry_close_epoch(date(2026, 12, 1)) == datetime(2026, 12, 1, 15, 30, tzinfo=IST).timestamp()
