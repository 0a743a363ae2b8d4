"""learning_engine through the database: scripted recorded paths with known verdicts, on SQLite and
PostgreSQL; idempotent reruns; event-time gating; one spot-path query per symbol."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from core.learning.learning_engine import count_pending, evaluate_signals
from core.learning.spot_paths import due_bound
from core.market_calendar import MarketCalendar
from tests.core.learning.builders import LATE_T0, OPEN_T0, add_path, add_signal, outcomes, ramp

H5, H15, H30 = 300, 900, 1800
# 1 sigma in trading time at 12 % ATM IV, by hand: 0.12 * sqrt(horizon / (252 * 375 * 60 s)) * 100.
EM_5M_PCT, EM_30M_PCT = 0.087287, 0.21381


def seed(session_factory, t0, moves, *signals, symbol="NIFTY", atm_iv=0.12):
    with session_factory() as session:
        add_path(session, t0, moves, symbol=symbol, atm_iv=atm_iv)
        ids = [add_signal(session, t0, **{"symbol": symbol, **kw}) for kw in signals]
        session.commit()
    return ids


def verdicts(session_factory, signal_id):
    got = outcomes(session_factory)
    return {h: got[(signal_id, h)][0] for h in (H5, H15, H30) if (signal_id, h) in got}


def test_directional_signals_scored_from_recorded_snapshots(session_factory):
    up, down = seed(session_factory, OPEN_T0, ramp(0.2, 300), {"direction": "UP"}, {"direction": "DOWN"})
    stats = evaluate_signals(session_factory)
    assert stats["outcomes_written"] == 6
    assert verdicts(session_factory, up) == {H5: "CORRECT", H15: "CORRECT", H30: "CORRECT"}
    assert verdicts(session_factory, down) == {H5: "WRONG", H15: "WRONG", H30: "WRONG"}
    move = outcomes(session_factory)[(up, H30)][1]
    assert move == pytest.approx(0.2)


def test_neutral_band_widens_with_horizon_through_the_database(session_factory):
    # +0.12 % reached at 5 minutes: beats the 0.05 % and 0.10 % bands, not the 0.15 % one.
    (sid,) = seed(session_factory, OPEN_T0, ramp(0.12, 300), {"direction": "UP"})
    evaluate_signals(session_factory)
    assert verdicts(session_factory, sid) == {H5: "CORRECT", H15: "CORRECT", H30: "NEUTRAL"}


def test_range_call_needs_and_uses_atm_iv(session_factory):
    half_em_5m = EM_5M_PCT / 2
    quiet, wild = seed(
        session_factory,
        OPEN_T0,
        ramp(half_em_5m * 0.5, 60),
        {"direction": "NONE", "engine": "DealerGammaEngine", "signal": "LONG_GAMMA"},
        {
            "direction": "NONE",
            "engine": "DealerGammaEngine",
            "signal": "GAMMA_NEUTRAL",
            "symbol": "BANKNIFTY",
        },
    )
    with session_factory() as session:  # BANKNIFTY swings by 3x half the 30-minute expected move
        add_path(session, OPEN_T0, ramp(EM_30M_PCT * 1.5, 600), symbol="BANKNIFTY")
        session.commit()
    evaluate_signals(session_factory)
    assert verdicts(session_factory, quiet) == {H5: "CORRECT", H15: "CORRECT", H30: "CORRECT"}
    assert verdicts(session_factory, wild) == {H5: "WRONG", H15: "WRONG", H30: "WRONG"}


def test_range_call_without_atm_iv_stays_pending(session_factory):
    (sid,) = seed(session_factory, OPEN_T0, ramp(0.01, 60), {"direction": "NONE"}, atm_iv=None)
    evaluate_signals(session_factory)
    assert verdicts(session_factory, sid) == {}
    with session_factory() as session:
        assert count_pending(session) == 1


def test_horizon_past_the_close_is_scored_against_the_close(session_factory):
    # 15:20 IST; the recording ends at 15:30 with spot +0.3 %.
    (sid,) = seed(session_factory, LATE_T0, ramp(0.3, 600)[:121], {"direction": "UP"})
    evaluate_signals(session_factory)
    got = outcomes(session_factory)
    assert got[(sid, H5)] == ("CORRECT", pytest.approx(0.15), False)
    assert got[(sid, H15)] == ("CORRECT", pytest.approx(0.3), True)
    assert got[(sid, H30)] == ("CORRECT", pytest.approx(0.3), True)


def test_rerun_is_idempotent(session_factory):
    seed(session_factory, OPEN_T0, ramp(0.2, 300), {"direction": "UP"}, {"direction": "DOWN"})
    first = evaluate_signals(session_factory)
    before = outcomes(session_factory)
    second = evaluate_signals(session_factory)
    assert first["outcomes_written"] == 6 and second["outcomes_written"] == 0
    assert outcomes(session_factory) == before


def test_live_evaluation_waits_for_event_time(session_factory):
    (sid,) = seed(session_factory, OPEN_T0, ramp(0.2, 300), {"direction": "UP"})
    evaluate_signals(session_factory, now=OPEN_T0 + 400)
    assert set(verdicts(session_factory, sid)) == {H5}
    evaluate_signals(session_factory, now=OPEN_T0 + 1000, since=OPEN_T0 - 60)
    assert set(verdicts(session_factory, sid)) == {H5, H15}
    evaluate_signals(session_factory, now=math.inf)
    assert set(verdicts(session_factory, sid)) == {H5, H15, H30}


def test_signal_without_recorded_path_or_spot_is_left_pending(session_factory):
    with session_factory() as session:
        add_signal(session, OPEN_T0, symbol="FINNIFTY")
        add_signal(session, OPEN_T0, spot_price=None)
        session.commit()
    assert evaluate_signals(session_factory)["outcomes_written"] == 0
    with session_factory() as session:
        assert count_pending(session) == 1  # the one without a spot can never be scored: not pending


def test_spot_paths_load_in_bulk_one_query_per_symbol(engine, session_factory):
    with session_factory() as session:
        for symbol in ("NIFTY", "BANKNIFTY"):
            add_path(session, OPEN_T0, ramp(0.2, 300), symbol=symbol)
            for i in range(40):
                add_signal(session, OPEN_T0 + 5 * i, symbol=symbol, direction="UP" if i % 2 else "DOWN")
        session.commit()
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        evaluate_signals(session_factory)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    path_queries = [s for s in statements if "FROM market_snapshots" in s]
    assert len(path_queries) == 2
    assert len(outcomes(session_factory)) == 80 * 3


def test_due_bound_counts_the_last_close():
    cal = MarketCalendar.default()
    ten = OPEN_T0  # 10:00 IST: nothing closed today, so only entries 5 minutes old are due
    assert due_bound(cal, ten, H5) == ten - H5
    after_close = LATE_T0 + 900  # 15:35 IST: everything before the 15:30 close is due
    assert due_bound(cal, after_close, H30) == LATE_T0 + 600
    assert due_bound(cal, math.inf, H5) == math.inf


def test_live_signal_near_the_close_is_scored_once_the_close_passes(session_factory):
    (sid,) = seed(session_factory, LATE_T0, ramp(0.3, 600)[:121], {"direction": "UP"})
    evaluate_signals(session_factory, now=LATE_T0 + 590)  # 15:29:50: the close is not in yet
    assert set(verdicts(session_factory, sid)) == {H5}
    evaluate_signals(session_factory, now=LATE_T0 + 600, since=LATE_T0 - 3600)
    assert verdicts(session_factory, sid) == {H5: "CORRECT", H15: "CORRECT", H30: "CORRECT"}
