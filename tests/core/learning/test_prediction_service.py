"""prediction_service: the documented experience-weighted vote, the Prediction row, and 30-minute
scoring (Brier) of predictions and smart-money rows through the database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.clock import to_datetime
from core.engines.base import EngineResult
from core.learning.experience import Experience
from core.learning.prediction_service import (
    MODEL_VERSION,
    brier,
    build_prediction,
    bullish_probability,
    score_predictions,
)
from core.storage.models import Prediction, SmartMoneyPrediction
from tests.core.engines.builders import make_metrics
from tests.core.learning.builders import OPEN_T0, add_path, ramp


def vote(direction, raw, active=True):
    return EngineResult("X", direction, raw, 0.5, (), {}, active)


def test_no_votes_is_a_coin_flip():
    assert bullish_probability({}, {}) == 0.5
    results = {"a": vote("NONE", 0.9), "b": vote("UP", 0.9, active=False)}
    assert bullish_probability(results, {}) == 0.5


def test_votes_weighted_by_experience():
    assert bullish_probability({"a": vote("UP", 0.7)}, {}) == pytest.approx(0.7)
    exp = Experience(wins=80, losses=20, neutrals=5)
    results = {"a": vote("UP", 0.7), "b": vote("DOWN", 0.8)}
    # By hand: b's calibrated confidence 100/130 * 82/104 + 30/130 * 0.8 = 0.7911243, its weight
    # 1 + ln(101) = 5.6151205; a untested: 0.7 with weight 1.
    p_b, w_a, w_b = 0.7911243, 1.0, 5.6151205
    expected = 0.5 + (w_a * 0.2 - w_b * (p_b - 0.5)) / (w_a + w_b)
    assert expected == pytest.approx(0.2831184, abs=1e-6)
    assert bullish_probability(results, {"b": exp}) == pytest.approx(expected, abs=1e-6)
    assert expected < 0.5  # the experienced bear outweighs the untested bull


def test_an_engine_that_is_usually_wrong_argues_against_itself():
    bad = Experience(wins=10, losses=90, neutrals=0)
    assert bullish_probability({"a": vote("UP", 0.9)}, {"a": bad}) < 0.5


def test_build_prediction_row():
    m = make_metrics(breach_probability=0.31, regime="trend")
    row = build_prediction(m, {"a": vote("UP", 0.7)}, {})
    assert row.symbol == m.symbol and row.ts == to_datetime(m.ts)
    assert row.bullish_probability == pytest.approx(0.7)
    assert row.confidence_score == pytest.approx(0.7)
    assert row.volatility_probability == 0.31 and row.regime == "trend"
    assert row.model_version == MODEL_VERSION
    assert row.accuracy_score is None
    assert row.gamma_state is None


def test_a_no_view_state_is_stored_with_the_prediction_not_as_a_signal():
    row = build_prediction(make_metrics(), {}, {}, gamma_state="GAMMA_NEUTRAL")
    assert row.gamma_state == "GAMMA_NEUTRAL"


def test_brier_of_up_down_and_flat():
    assert brier(0.8, 0.2) == pytest.approx(0.04)
    assert brier(0.8, -0.2) == pytest.approx(0.64)
    assert brier(0.8, 0.0) == pytest.approx(0.09)


def seed(session_factory):
    with session_factory() as session:
        add_path(session, OPEN_T0, ramp(0.2, 300))
        ts = to_datetime(OPEN_T0)
        session.add_all([
            Prediction(ts=ts, symbol="NIFTY", bullish_probability=0.8),
            Prediction(ts=ts, symbol="NIFTY", bullish_probability=0.3),
            SmartMoneyPrediction(ts=ts, symbol="NIFTY", bias="BULLISH", confidence=0.7),
            SmartMoneyPrediction(ts=ts, symbol="NIFTY", bias="BEARISH", confidence=0.7),
            SmartMoneyPrediction(ts=ts, symbol="NIFTY", bias="NEUTRAL", confidence=0.7),
        ])  # fmt: skip
        session.commit()


def test_predictions_and_smart_money_scored_at_thirty_minutes(session_factory):
    seed(session_factory)
    assert score_predictions(session_factory, now=OPEN_T0 + 1700) == {
        "predictions_scored": 0,
        "smart_money_scored": 0,
    }
    assert score_predictions(session_factory, now=OPEN_T0 + 1800) == {
        "predictions_scored": 2,
        "smart_money_scored": 3,
    }
    with session_factory() as session:
        preds = session.execute(
            sa.select(Prediction.bullish_probability, Prediction.actual_move_30m, Prediction.accuracy_score)
        ).all()
        smart = dict(session.execute(sa.select(SmartMoneyPrediction.bias, SmartMoneyPrediction.result)).all())
    scores = {p: (move, score) for p, move, score in preds}
    assert scores[0.8] == (pytest.approx(0.2), pytest.approx(0.04))
    assert scores[0.3] == (pytest.approx(0.2), pytest.approx(0.49))
    assert smart == {"BULLISH": "CORRECT", "BEARISH": "WRONG", "NEUTRAL": "WRONG"}
    assert score_predictions(session_factory) == {"predictions_scored": 0, "smart_money_scored": 0}
