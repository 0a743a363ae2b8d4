"""Scoring by run: two runs over the same event times never mix their price paths; legacy rows (no
run) are scored as before; the Performance views narrow to a run and leave out no-view signals."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from core.clock import IST, to_datetime
from core.learning.evaluator import run_pass
from core.learning.outcomes import HORIZONS_S
from core.learning.performance import (
    PerformanceFilter,
    confidence_distribution,
    counts,
    experience_table,
    hit_rates,
    prediction_accuracy,
)
from core.storage.models import Prediction, SmartMoneyPrediction
from tests.core.learning.builders import add_path, add_signal, outcomes, ramp

# The 09:15 IST open of Wednesday 2026-11-18: both runs replay this session.
OPEN_0915 = datetime(2026, 11, 18, 9, 15, tzinfo=IST).timestamp()
UP, DOWN = "run-up", "run-down"


def two_runs_of_one_session(session, move_pct: float = 0.3) -> None:
    """The same session twice, as two simulator seeds would play it: same event times, the market
    rises in one run and falls in the other."""
    add_path(session, OPEN_0915, ramp(move_pct, 300), run_id=UP)
    add_path(session, OPEN_0915, ramp(-move_pct, 300), run_id=DOWN)


def verdicts(got: dict, signal_id: int) -> list[str]:
    return [got[signal_id, h][0] for h in HORIZONS_S]


def test_two_runs_of_the_same_session_are_scored_against_their_own_prices(session_factory) -> None:
    with session_factory() as session:
        two_runs_of_one_session(session)
        in_up = add_signal(session, OPEN_0915, run_id=UP, source="sim:seed1")
        in_down = add_signal(session, OPEN_0915, run_id=DOWN, source="sim:seed2")
        session.commit()
    run_pass(session_factory)
    got = outcomes(session_factory)
    assert verdicts(got, in_up) == ["CORRECT"] * 3  # an UP call in the rising run
    assert verdicts(got, in_down) == ["WRONG"] * 3  # the same call at the same time in the falling run
    assert got[in_up, 1800][1] == pytest.approx(0.3) and got[in_down, 1800][1] == pytest.approx(-0.3)


def test_a_run_without_prices_is_not_scored_from_another_run(session_factory) -> None:
    with session_factory() as session:
        two_runs_of_one_session(session)
        orphan = add_signal(session, OPEN_0915, run_id="run-without-snapshots")
        session.commit()
    run_pass(session_factory)
    assert not [k for k in outcomes(session_factory) if k[0] == orphan]


def test_legacy_signals_are_scored_as_before_against_every_snapshot(session_factory) -> None:
    with session_factory() as session:
        add_path(session, OPEN_0915, ramp(0.3, 300))  # legacy snapshots: no run
        legacy = add_signal(session, OPEN_0915)
        session.commit()
    run_pass(session_factory)
    assert verdicts(outcomes(session_factory), legacy) == ["CORRECT"] * 3


def test_predictions_and_smart_money_rows_are_scored_on_their_own_run(session_factory) -> None:
    ts = to_datetime(OPEN_0915)
    with session_factory() as session:
        two_runs_of_one_session(session)
        for run in (UP, DOWN):
            session.add(Prediction(ts=ts, symbol="NIFTY", bullish_probability=0.8, run_id=run))
            session.add(SmartMoneyPrediction(ts=ts, symbol="NIFTY", bias="BULLISH", run_id=run))
        session.commit()
    stats = run_pass(session_factory)
    assert (stats["predictions_scored"], stats["smart_money_scored"]) == (2, 2)
    with session_factory() as session:
        P, M = Prediction, SmartMoneyPrediction
        predictions = dict(
            (r[0], (r[1], r[2]))
            for r in session.execute(sa.select(P.run_id, P.actual_move_30m, P.accuracy_score))
        )
        calls = dict(session.execute(sa.select(M.run_id, M.result)).all())
    assert predictions[UP] == (pytest.approx(0.3), pytest.approx(0.04))  # (0.8 - 1)^2
    assert predictions[DOWN] == (pytest.approx(-0.3), pytest.approx(0.64))  # (0.8 - 0)^2
    assert calls == {UP: "CORRECT", DOWN: "WRONG"}


@pytest.fixture
def scored_runs(session_factory):
    """Run up (2 UP calls), run down (1 UP call), a backtest run, and legacy rows: one directional
    call and one NEUTRAL state each of smart money and dealer gamma (no view: never counted)."""
    ts = to_datetime(OPEN_0915)
    with session_factory() as session:
        two_runs_of_one_session(session)
        add_path(session, OPEN_0915, ramp(0.3, 300), run_id="run-bt")
        add_path(session, OPEN_0915, ramp(0.3, 300))
        add_signal(session, OPEN_0915, run_id=UP, source="live")
        add_signal(session, OPEN_0915 + 1, run_id=UP, source="live")
        add_signal(session, OPEN_0915, run_id=DOWN, source="sim:calm")
        add_signal(session, OPEN_0915, run_id="run-bt", source="backtest:june")
        add_signal(session, OPEN_0915)
        add_signal(session, OPEN_0915, engine="SmartMoneyEngine", signal="NEUTRAL", direction="NONE")
        add_signal(session, OPEN_0915, engine="DealerGammaEngine", signal="GAMMA_NEUTRAL", direction="NONE")
        session.add(Prediction(ts=ts, symbol="NIFTY", bullish_probability=0.8, run_id=UP))
        session.add(Prediction(ts=ts, symbol="NIFTY", bullish_probability=0.8, run_id=DOWN))
        session.commit()
    run_pass(session_factory)
    return session_factory


def test_performance_views_narrow_to_one_run(scored_runs) -> None:
    up = PerformanceFilter(run_id=UP)
    assert counts(up, scored_runs) == {"signals": 2, "outcomes": 6, "experience": 6, "predictions": 1}
    assert {(r["correct"], r["wrong"]) for r in hit_rates(up, scored_runs)} == {(2, 0)}
    down = PerformanceFilter(run_id=DOWN)
    assert {(r["correct"], r["wrong"]) for r in hit_rates(down, scored_runs)} == {(0, 1)}
    assert [r["n"] for r in prediction_accuracy(down, session_factory=scored_runs)] == [1]
    assert counts(PerformanceFilter(exclude_backtests=True), scored_runs)["signals"] == 4


def test_performance_views_leave_out_no_view_signals(scored_runs) -> None:
    everything = PerformanceFilter()
    assert counts(everything, scored_runs)["signals"] == 5  # every run and the legacy call
    assert {r["signal"] for r in hit_rates(everything, scored_runs)} == {"SWEEP_UP"}
    assert {(r["correct"], r["wrong"]) for r in hit_rates(everything, scored_runs)} == {(4, 1)}
    assert sum(r["count"] for r in confidence_distribution(everything, session_factory=scored_runs)) == 5
    assert {r["signal"] for r in experience_table(session_factory=scored_runs)} == {"SWEEP_UP"}
