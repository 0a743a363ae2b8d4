"""Scripted price paths with known outcomes for every rule of SPEC §8."""

import numpy as np
import pytest

from core.learning.outcomes import evaluate_outcome

T0 = 1_764_570_000.0  # any event time
ENTRY = 25_000.0
# 1 sigma in trading time at 12 % ATM IV, by hand: 0.12 * sqrt(window / (252 * 375 * 60 s)) * 100.
EM_15M_PCT = 0.15119  # 900 s
EM_30M_PCT = 0.21381  # 1800 s


def path(moves_pct, step=5.0):
    """Spot samples every `step` seconds after T0 from a list of % moves vs the entry."""
    ts = T0 + step * np.arange(1, len(moves_pct) + 1)
    return ts, ENTRY * (1 + np.asarray(moves_pct, dtype=float) / 100.0)


def score(direction, moves, horizon=300, **kw):
    ts, spot = path(moves)
    return evaluate_outcome(direction, T0, ENTRY, ts, spot, horizon, **kw)


def test_up_signal_correct_when_move_beats_band():
    r = score("UP", np.linspace(0.0, 0.2, 60))
    assert r.outcome == "CORRECT"
    assert r.move_pct == pytest.approx(0.2)
    assert r.mfe_pct == pytest.approx(0.2) and r.mae_pct == pytest.approx(0.0)


def test_down_signal_wrong_when_market_rises():
    r = score("DOWN", np.linspace(0.0, 0.2, 60))
    assert r.outcome == "WRONG"
    assert r.mae_pct == pytest.approx(0.2)


@pytest.mark.parametrize(("final", "expected"), [(0.049, "NEUTRAL"), (0.051, "CORRECT"), (-0.051, "WRONG")])
def test_neutral_band_edges_at_five_minutes(final, expected):
    moves = [0.0] * 59 + [final]
    assert score("UP", moves).outcome == expected


def test_band_widens_with_horizon():
    moves = [0.0] * 359 + [0.12]
    assert score("UP", moves, horizon=1800).outcome == "NEUTRAL"  # band 0.15 %
    assert score("UP", [0.0] * 179 + [0.12], horizon=900).outcome == "CORRECT"  # band 0.10 %


def test_not_evaluable_before_horizon():
    assert score("UP", [0.1] * 10, horizon=300) is None


def test_range_call_uses_half_the_horizon_expected_move():
    half = EM_15M_PCT / 2  # 0.0756 %
    assert score("NONE", [half * 0.98] * 180, horizon=900, atm_iv=0.12).outcome == "CORRECT"
    assert score("NONE", [half * 1.02] * 180, horizon=900, atm_iv=0.12).outcome == "WRONG"
    assert score("NONE", [0.01] * 180, horizon=900, atm_iv=None) is None


def test_range_call_cut_by_the_close_uses_the_shorter_window():
    """A 30-minute range call 15 minutes before the close is judged on 15 minutes of trading time:
    an excursion inside half the 30-minute move but outside half the 15-minute move is WRONG."""
    moves = [0.09] * 180  # 0.0756 % < 0.09 % < 0.1069 %
    assert EM_15M_PCT / 2 < 0.09 < EM_30M_PCT / 2
    cut = score("NONE", moves, horizon=1800, atm_iv=0.12, session_close_ts=T0 + 900.0)
    assert cut.at_close and cut.outcome == "WRONG"
    moves_full = [0.09] * 360
    assert score("NONE", moves_full, horizon=1800, atm_iv=0.12).outcome == "CORRECT"


def test_horizon_past_session_close_scores_against_close():
    close = T0 + 120.0
    r = score("UP", [0.3] * 24, horizon=1800, session_close_ts=close)
    assert r.at_close and r.outcome == "CORRECT"
    assert r.evaluated_ts == pytest.approx(close)


def test_deterministic():
    a = score("UP", np.linspace(0, 0.3, 60))
    b = score("UP", np.linspace(0, 0.3, 60))
    assert a == b
