"""Scripted price paths with known outcomes for every rule of SPEC §8."""

import numpy as np
import pytest

from core.learning.outcomes import evaluate_outcome, horizon_expected_move_pct

T0 = 1_764_570_000.0  # any event time
ENTRY = 25_000.0


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
    iv = 0.12
    em = horizon_expected_move_pct(iv, 900)
    assert em == pytest.approx(0.12 * np.sqrt(900 / (252 * 375 * 60)) * 100)
    quiet = [em * 0.4] * 180
    assert score("NONE", quiet, horizon=900, atm_iv=iv).outcome == "CORRECT"
    wild = [em * 0.6] * 180
    assert score("NONE", wild, horizon=900, atm_iv=iv).outcome == "WRONG"
    assert score("NONE", quiet, horizon=900, atm_iv=None) is None


def test_horizon_past_session_close_scores_against_close():
    close = T0 + 120.0
    r = score("UP", [0.3] * 24, horizon=1800, session_close_ts=close)
    assert r.at_close and r.outcome == "CORRECT"
    assert r.evaluated_ts == pytest.approx(close)


def test_deterministic():
    a = score("UP", np.linspace(0, 0.3, 60))
    b = score("UP", np.linspace(0, 0.3, 60))
    assert a == b
