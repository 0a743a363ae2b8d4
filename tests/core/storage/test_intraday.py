"""Intraday reads on hand-built snapshots (SQLite and PostgreSQL): IST day bounds, runs, the live
tail, the rolling straddle VWAP, per-strike OI and daily ATM IV, against numbers worked by hand."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from core.clock import IST, to_epoch
from core.config import load_config
from core.domain import LiveMetrics, frozen_array
from core.errors import ConfigError
from core.storage.intraday import (
    Scope,
    daily_atm_iv,
    day_expiries,
    day_runs,
    day_series,
    day_strikes,
    live_straddle_snapshot,
    observed_interval_s,
    runs_overlap,
    stored_days,
    straddle_snapshots,
    straddle_vwap,
    strike_oi,
    strike_oi_with_tail,
    with_tail,
)
from core.storage.models import MarketSnapshot, OptionChainSnapshot

DAY = date(2026, 11, 25)
EXPIRY = date(2026, 12, 1)
RUN_A, RUN_B = "a" * 32, "b" * 32


def ist(hour: int, minute: int, second: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=IST)


def snap(session, at: datetime, run: str | None = RUN_A, source: str = "live", **values) -> MarketSnapshot:
    row = MarketSnapshot(symbol=values.pop("symbol", "NIFTY"), expiry=values.pop("expiry", EXPIRY), ts=at,
                         run_id=run, source=source if run else None, **values)  # fmt: skip
    session.add(row)
    session.flush()
    return row


def leg(session, parent: MarketSnapshot, strike: float, right: str, **values) -> None:
    session.add(
        OptionChainSnapshot(
            market_snapshot_id=parent.id, symbol=parent.symbol, expiry=parent.expiry, ts=parent.ts,
            strike=strike, right=right, run_id=parent.run_id, source=parent.source, **values,
        )
    )  # fmt: skip


@pytest.fixture
def day_rows(session_factory):
    """NIFTY on DAY: 09:15, 09:15:05 and 09:16 (run A), one row the evening before at 23:59 IST
    and one at 00:00 IST the next day, plus a backtest run and another symbol on DAY."""
    with session_factory() as s, s.begin():
        snap(s, ist(23, 59, day=DAY - timedelta(days=1)), spot=1.0)
        snap(s, ist(9, 15), spot=25000.0, max_pain=24900.0, pcr_oi=0.9, atm_iv=0.12, gamma_flip=None)
        snap(s, ist(9, 15, 5), spot=25010.0, max_pain=24900.0, pcr_oi=0.95, atm_iv=0.121, gamma_flip=24800.0)
        snap(s, ist(9, 16), spot=25020.0, max_pain=24950.0, pcr_oi=1.0, atm_iv=0.122, gamma_flip=24810.0)
        snap(s, ist(0, 0, day=DAY + timedelta(days=1)), spot=2.0)
        snap(s, ist(9, 15, 30), run=RUN_B, source="backtest:x", spot=99.0)
        snap(s, ist(9, 15), symbol="BANKNIFTY", spot=52000.0)


def test_a_day_is_the_ist_day_in_time_order(day_rows, session_factory):
    series = day_series(
        "NIFTY", DAY, EXPIRY, scope=Scope(exclude_backtests=True), session_factory=session_factory
    )
    assert [datetime.fromtimestamp(t, IST).strftime("%H:%M:%S") for t in series.ts] == [
        "09:15:00", "09:15:05", "09:16:00"
    ]  # fmt: skip
    np.testing.assert_allclose(series["spot"], [25000.0, 25010.0, 25020.0])
    np.testing.assert_allclose(series["max_pain"], [24900.0, 24900.0, 24950.0])
    assert math.isnan(series["gamma_flip"][0]) and series["gamma_flip"][1] == 24800.0  # NULL -> NaN
    assert series.tail == 0


def test_start_time_scope_and_expiry_narrow_the_day(day_rows, session_factory):
    late = day_series("NIFTY", DAY, EXPIRY, start=ist(9, 15, 1), session_factory=session_factory)
    assert list(late["spot"]) == [25010.0, 99.0, 25020.0]  # every run: the backtest row is in
    one = day_series("NIFTY", DAY, EXPIRY, scope=Scope(run_id=RUN_B), session_factory=session_factory)
    assert list(one["spot"]) == [99.0]
    other = day_series("NIFTY", DAY, date(2026, 12, 8), session_factory=session_factory)
    assert len(other) == 0


def test_stored_days_runs_and_expiries(day_rows, session_factory):
    assert stored_days("NIFTY", session_factory=session_factory) == [
        DAY + timedelta(days=1), DAY, DAY - timedelta(days=1)
    ]  # fmt: skip
    assert stored_days("BANKNIFTY", session_factory=session_factory) == [DAY]
    runs = day_runs("NIFTY", DAY, session_factory)
    assert [(r.run_id, r.source, r.rows) for r in runs] == [(RUN_A, "live", 3), (RUN_B, "backtest:x", 1)]
    assert runs_overlap(runs)  # run B's one row lies inside run A's span
    assert not runs_overlap(runs[:1])
    assert day_expiries("NIFTY", DAY, session_factory=session_factory) == [EXPIRY]


def metrics(at: datetime, **values) -> LiveMetrics:
    return LiveMetrics(symbol="NIFTY", expiry=EXPIRY, ts=at.timestamp(), **values)


def test_the_live_tail_adds_only_newer_points_of_the_same_day(day_rows, session_factory):
    stored = day_series(
        "NIFTY", DAY, EXPIRY, scope=Scope(exclude_backtests=True), session_factory=session_factory
    )
    tailed = with_tail(stored, metrics(ist(9, 16, 3), spot=25030.0, pcr_oi=1.1), DAY)
    assert len(tailed) == 4 and tailed.tail == 1
    assert (
        tailed["spot"][-1] == 25030.0 and tailed["pcr_oi"][-1] == 1.1 and math.isnan(tailed["max_pain"][-1])
    )
    assert with_tail(stored, metrics(ist(9, 15, 30), spot=1.0), DAY) is stored  # older than the database
    assert with_tail(stored, metrics(ist(9, 30, day=DAY + timedelta(days=1)), spot=1.0), DAY) is stored
    assert with_tail(stored, None, DAY) is stored


@pytest.fixture
def chain_rows(session_factory):
    """Three chain snapshots; ATM 25000, 25000, then 25050. Premiums are quote mids (bid/ask)
    except one leg with LTP only; volumes are cumulative for the day."""
    with session_factory() as s, s.begin():
        a = snap(s, ist(9, 15), atm_strike=25000.0, spot=25000.0)
        leg(s, a, 25000.0, "CE", bid=99.0, ask=101.0, ltp=50.0, volume=1000.0, oi=5e5, oi_change=1e4)
        leg(s, a, 25000.0, "PE", bid=89.0, ask=91.0, volume=500.0, oi=6e5, oi_change=-2e4)
        leg(s, a, 25050.0, "CE", ltp=70.0, volume=300.0, oi=4e5, oi_change=0.0)
        leg(s, a, 25050.0, "PE", ltp=115.0, volume=200.0, oi=3e5, oi_change=5e3)
        leg(s, a, 25100.0, "CE", ltp=45.0, volume=100.0, oi=2e5)  # never ATM: not read for the straddle
        b = snap(s, ist(9, 16), atm_strike=25000.0, spot=25010.0)
        leg(s, b, 25000.0, "CE", bid=104.0, ask=106.0, volume=1600.0, oi=5.2e5, oi_change=3e4)
        leg(s, b, 25000.0, "PE", bid=84.0, ask=86.0, volume=900.0, oi=6.1e5, oi_change=-1e4)
        leg(s, b, 25050.0, "CE", ltp=78.0, volume=500.0, oi=4.1e5, oi_change=1e4)
        leg(s, b, 25050.0, "PE", ltp=108.0, volume=260.0, oi=3e5, oi_change=5e3)
        c = snap(s, ist(9, 17), atm_strike=25050.0, spot=25040.0)
        leg(s, c, 25000.0, "CE", ltp=120.0, volume=1700.0, oi=5.3e5)
        leg(s, c, 25000.0, "PE", ltp=70.0, volume=950.0, oi=6.2e5)
        leg(s, c, 25050.0, "CE", ltp=90.0, volume=900.0, oi=4.4e5, oi_change=4e4)
        leg(s, c, 25050.0, "PE", ltp=95.0, volume=460.0, oi=2.9e5, oi_change=-5e3)


def test_straddle_rolls_with_atm_and_its_vwap_weights_traded_volume(chain_rows, session_factory):
    snaps = straddle_snapshots("NIFTY", DAY, EXPIRY, session_factory=session_factory)
    assert [k for _, k, _ in snaps] == [25000.0, 25000.0, 25050.0]
    assert all(25100.0 not in by_strike for _, _, by_strike in snaps)
    series = straddle_vwap(snaps)
    # straddles: 100 + 90 (mids), 105 + 85, then 90 + 95 at the new ATM (LTPs)
    np.testing.assert_allclose(series["straddle"], [190.0, 190.0, 185.0])
    # weights: first sight 0; ATM 25000 traded (1600+900)-(1000+500) = 1000; ATM 25050 traded
    # (900+460)-(500+260) = 600 since the previous snapshot *of that strike*
    np.testing.assert_allclose(series["weight"], [0.0, 1000.0, 600.0])
    assert math.isnan(series["vwap"][0])
    np.testing.assert_allclose(series["vwap"][1:], [190.0, (190.0 * 1000 + 185.0 * 600) / 1600])


def test_the_live_straddle_continues_the_vwap(chain_rows, session_factory):
    snaps = straddle_snapshots("NIFTY", DAY, EXPIRY, session_factory=session_factory)
    live = metrics(
        ist(9, 17, 20), spot=25045.0, atm_strike=25050.0, atm_straddle=180.0,
        strikes=frozen_array([25000.0, 25050.0]), call_volume=frozen_array([1800.0, 1000.0]),
        put_volume=frozen_array([990.0, 560.0]),
    )  # fmt: skip
    series = straddle_vwap([*snaps, live_straddle_snapshot(live)], tail=1)
    assert series.tail == 1 and series["straddle"][-1] == 180.0
    assert series["weight"][-1] == pytest.approx((1000 + 560) - (900 + 460))
    want = (190.0 * 1000 + 185.0 * 600 + 180.0 * 200) / 1800
    assert series["vwap"][-1] == pytest.approx(want)


def test_a_strike_with_one_leg_has_no_straddle(session_factory):
    with session_factory() as s, s.begin():
        a = snap(s, ist(9, 15), atm_strike=25000.0)
        leg(s, a, 25000.0, "CE", ltp=100.0, volume=10.0)
    series = straddle_vwap(straddle_snapshots("NIFTY", DAY, EXPIRY, session_factory=session_factory))
    assert len(series) == 1 and math.isnan(series["straddle"][0])


def test_strike_oi_per_strike_and_right_with_the_live_tail(chain_rows, session_factory):
    got = strike_oi("NIFTY", DAY, EXPIRY, [25000.0, 25050.0, 26000.0], session_factory=session_factory)
    assert set(got) == {(25000.0, "CE"), (25000.0, "PE"), (25050.0, "CE"), (25050.0, "PE")}
    np.testing.assert_allclose(got[(25050.0, "CE")]["oi"], [4e5, 4.1e5, 4.4e5])
    np.testing.assert_allclose(got[(25000.0, "PE")]["oi_change"][:2], [-2e4, -1e4])
    assert math.isnan(got[(25000.0, "PE")]["oi_change"][2])
    assert observed_interval_s(got[(25050.0, "CE")].ts) == 60.0
    live = metrics(
        ist(9, 17, 20), strikes=frozen_array([25000.0, 25050.0]), call_oi=frozen_array([5.4e5, 4.5e5]),
        put_oi=frozen_array([6.3e5, 2.8e5]), call_oi_change=frozen_array([1.0, 2.0]),
        put_oi_change=frozen_array([3.0, 4.0]), spot=25045.0,
    )  # fmt: skip
    tailed = strike_oi_with_tail(got, live, DAY, [25050.0])
    assert tailed[(25050.0, "PE")]["oi"][-1] == 2.8e5 and tailed[(25050.0, "PE")]["oi_change"][-1] == 4.0
    assert tailed[(25050.0, "PE")].tail == 1 and len(tailed[(25000.0, "CE")]) == 3  # not asked for


def test_daily_atm_iv_is_each_days_close_before_the_day(session_factory):
    with session_factory() as s, s.begin():
        for offset, values in {-3: [0.10, 0.14], -2: [0.20, 0.18], -1: [0.15, 0.12], 0: [0.30]}.items():
            day = DAY + timedelta(days=offset)
            for i, iv in enumerate(values):
                snap(s, ist(10 + i * 5, 0, day=day), atm_iv=iv)
        snap(s, ist(15, 0, day=DAY - timedelta(days=1)), run=RUN_B, atm_iv=0.16)  # same close instant
        snap(s, ist(16, 0, day=DAY - timedelta(days=1)), atm_iv=None)  # no IV: not the close
        snap(s, ist(10, 0, day=DAY - timedelta(days=400)), atm_iv=0.5)  # outside the year
    got = daily_atm_iv("NIFTY", DAY, session_factory=session_factory)
    assert [d for d, _ in got] == [DAY - timedelta(days=3), DAY - timedelta(days=2), DAY - timedelta(days=1)]
    np.testing.assert_allclose([v for _, v in got], [0.14, 0.18, (0.12 + 0.16) / 2])
    one_run = daily_atm_iv("NIFTY", DAY, scope=Scope(run_id=RUN_A), session_factory=session_factory)
    assert one_run[-1][1] == pytest.approx(0.12)


def test_utc_evening_rows_belong_to_the_next_ist_day(session_factory):
    with session_factory() as s, s.begin():
        snap(s, datetime(2026, 11, 24, 19, 0, tzinfo=UTC), spot=1.0, atm_iv=0.2)  # 00:30 IST on DAY
    assert stored_days("NIFTY", session_factory=session_factory) == [DAY]
    assert len(day_series("NIFTY", DAY, None, session_factory=session_factory)) == 1
    assert to_epoch(datetime(2026, 11, 24, 19, 0, tzinfo=UTC)) == ist(0, 30).timestamp()


def test_chain_snapshot_interval_is_configurable():
    assert load_config(env={}).analytics.chain_snapshot_interval_s == 60.0
    cfg = load_config(env={"STRIKEIQ_CHAIN_SNAPSHOT_S": "15"})
    assert cfg.analytics.chain_snapshot_interval_s == 15.0
    with pytest.raises(ConfigError, match="STRIKEIQ_CHAIN_SNAPSHOT_S"):
        load_config(env={"STRIKEIQ_CHAIN_SNAPSHOT_S": "0"})


def test_day_strikes_lists_the_stored_chain_window(chain_rows, session_factory):
    assert day_strikes("NIFTY", DAY, EXPIRY, session_factory=session_factory) == [25000.0, 25050.0, 25100.0]
    assert day_strikes("NIFTY", DAY + timedelta(days=1), EXPIRY, session_factory=session_factory) == []
