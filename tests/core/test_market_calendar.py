"""Expiries and sessions follow NSE's rules, with holidays and special sessions as data."""

import random
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from core.clock import IST
from core.config import FeedConfig
from core.domain import InstrumentInfo
from core.feed.base import FeedStats
from core.feed.replay import iter_batches
from core.feed.simulator import Simulator
from core.learning.spot_paths import due_bound, session_close_for
from core.market_calendar import (
    MarketCalendar,
    SpecialSession,
    expiry_close_epoch,
    load_special_sessions,
)

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "sessions"
BUDGET_SUNDAY = date(2026, 2, 1)


def ist(*args: int) -> float:
    return datetime(*args, tzinfo=IST).timestamp()


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


def test_regular_session_is_0915_to_1530():
    cal = MarketCalendar.default()
    open_ts = ist(2026, 12, 1, 9, 15)
    assert cal.is_open(open_ts)
    assert not cal.is_open(open_ts - 1)
    assert not cal.is_open(ist(2026, 12, 1, 15, 30))
    assert not cal.is_trading_day(date(2026, 2, 8))  # an ordinary Sunday


def test_budget_sunday_is_a_full_session_from_the_data_file():
    cal = MarketCalendar.default()
    assert cal.special[BUDGET_SUNDAY].kind == "budget"
    assert cal.is_trading_day(BUDGET_SUNDAY) and not cal.is_regular_day(BUDGET_SUNDAY)
    assert cal.is_open(ist(2026, 2, 1, 15, 29)) and not cal.is_open(ist(2026, 2, 1, 15, 30))
    assert cal.session_close_epoch(BUDGET_SUNDAY) == ist(2026, 2, 1, 15, 30)
    # Friday 30 Jan's close is followed by the Sunday session, not by Monday's.
    assert cal.next_trading_day(date(2026, 1, 30)) == BUDGET_SUNDAY
    assert cal.previous_trading_day(date(2026, 2, 2)) == BUDGET_SUNDAY


def test_muhurat_sessions_carry_their_own_hours():
    cal = MarketCalendar.default()
    muhurat = {s.day: (s.open, s.close) for s in load_special_sessions() if s.kind == "muhurat"}
    assert muhurat[date(2024, 11, 1)] == (time(18, 0), time(19, 0))
    assert muhurat[date(2025, 10, 21)] == (time(13, 45), time(14, 45))
    assert cal.is_open(ist(2025, 10, 21, 13, 45)) and cal.is_open(ist(2025, 10, 21, 14, 44, 59))
    assert not cal.is_open(ist(2025, 10, 21, 10, 0))  # Diwali: no regular trading that day
    assert not cal.is_open(ist(2025, 10, 21, 14, 45))
    assert cal.is_open(ist(2023, 11, 12, 18, 30))  # a Sunday Muhurat
    assert cal.session_bounds(date(2023, 11, 12))[0] == datetime(2023, 11, 12, 18, 15, tzinfo=IST)


def test_an_expiry_never_moves_onto_a_special_session():
    """Diwali on an expiry Tuesday is a holiday with a Muhurat hour: the expiry still moves to Monday."""
    diwali = date(2025, 10, 21)
    muhurat = SpecialSession(diwali, "muhurat", time(13, 45), time(14, 45))
    cal = MarketCalendar.from_sessions({diwali}, [muhurat])
    assert cal.is_trading_day(diwali)
    assert cal.weekly_expiries(date(2025, 10, 15), 1) == [date(2025, 10, 20)]
    budget = MarketCalendar.from_sessions(
        (), [SpecialSession(BUDGET_SUNDAY, "budget", time(9, 15), time(15, 30))]
    )
    assert budget.weekly_expiries(BUDGET_SUNDAY, 1) == [date(2026, 2, 3)]


def test_trading_seconds_count_only_open_market():
    cal = MarketCalendar.default()
    # Thursday 15:00 -> Friday 09:45: 30 minutes before the close and 30 after the open.
    assert cal.trading_seconds(ist(2026, 1, 29, 15, 0), ist(2026, 1, 30, 9, 45)) == 3600.0
    # Friday 15:00 -> Monday 09:15 runs through the whole budget Sunday.
    assert cal.trading_seconds(ist(2026, 1, 30, 15, 0), ist(2026, 2, 2, 9, 15)) == 1800.0 + 375 * 60
    # Without the special session the same weekend is one half hour.
    plain = MarketCalendar(MarketCalendar.default().holidays)
    assert plain.trading_seconds(ist(2026, 1, 30, 15, 0), ist(2026, 2, 2, 9, 15)) == 1800.0
    assert cal.trading_seconds(ist(2026, 12, 1, 10, 0), ist(2026, 12, 1, 10, 0)) == 0.0
    assert cal.trading_seconds(ist(2025, 10, 21, 0, 0), ist(2025, 10, 22, 0, 0)) == 3600.0


def _open_seconds_day_by_day(cal: MarketCalendar, start: float, end: float) -> float:
    """The plain reference: walk every day and add its session's overlap with [start, end]."""
    day, last, total = datetime.fromtimestamp(start, IST).date(), datetime.fromtimestamp(end, IST).date(), 0.0
    while day <= last:
        if cal.is_trading_day(day):
            opens, closes = (x.timestamp() for x in cal.session_bounds(day))
            total += max(0.0, min(closes, end) - max(opens, start))
        day += timedelta(days=1)
    return total


@pytest.mark.parametrize("seed", range(3))
def test_trading_seconds_match_a_day_by_day_walk(seed):
    """Random windows from minutes to six weeks over 2025-2026, with a Muhurat hour on a holiday."""
    base = MarketCalendar.default()
    cal = MarketCalendar.from_sessions(base.holidays | {date(2025, 10, 21)}, base.special.values())
    rng = random.Random(seed)
    start0 = ist(2025, 1, 1, 0, 0)
    for _ in range(300):
        start = start0 + rng.uniform(0, 700 * 86400)
        end = start + rng.choice((rng.uniform(0, 7200), rng.uniform(0, 42 * 86400)))
        assert cal.trading_seconds(start, end) == pytest.approx(
            _open_seconds_day_by_day(cal, start, end), abs=1e-6
        )


def test_callers_see_the_budget_sunday_session():
    """The simulator opens it, outcome scoring caps horizons at its close, the evaluator's due bound
    counts its close as the last one."""
    cal = MarketCalendar.default()
    sim = Simulator(FeedConfig(speed=0, seed=1), cal, today=date(2026, 1, 31))
    assert sim.start_ts == ist(2026, 2, 1, 9, 15)
    after_friday = Simulator(FeedConfig(speed=0, seed=1, start="2026-01-30T16:00:00"), cal)
    assert after_friday.start_ts == ist(2026, 2, 1, 9, 15)
    assert session_close_for(cal, ist(2026, 2, 1, 15, 20)) == ist(2026, 2, 1, 15, 30)
    assert session_close_for(MarketCalendar(cal.holidays), ist(2026, 2, 1, 15, 20)) is None
    assert due_bound(cal, ist(2026, 2, 2, 9, 20), 20 * 3600) == ist(2026, 2, 1, 15, 30)


def test_the_real_budget_sunday_recording_trades_inside_the_calendar_session():
    """The Kite recording of Sunday 2026-02-01 (shared/data/real): every tick is inside the session
    the calendar gives that day, and trading went on past 15:00 (SPEC once said 09:15-15:00)."""
    path = REAL / "NIFTY_2026-02-01_kite.jsonl.gz"
    if not path.exists():
        pytest.skip(f"real NSE recordings are read from {REAL}, which is absent here")
    cal = MarketCalendar.default()
    times = [
        item.ts
        for batch in iter_batches(path, FeedStats())
        for item in batch
        if not isinstance(item, InstrumentInfo)
    ]
    assert len(times) > 1000
    assert all(cal.is_open(ts) for ts in times)
    assert max(times) >= ist(2026, 2, 1, 15, 25)
    assert not MarketCalendar(cal.holidays).is_open(max(times))  # without the data row it would be closed


def test_expiry_close_is_1530_ist():
    assert expiry_close_epoch(date(2026, 12, 1)) == ist(2026, 12, 1, 15, 30)
