"""Scorecard arithmetic and parameter overrides: the contract every engine relies on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.engines.base import EngineParams, Scorecard, num
from core.engines.liquidity import LiquidityParams
from core.engines.liquidity_vacuum import LiquidityVacuumParams
from core.engines.smart_money import SmartMoneyParams
from core.errors import ConfigError


def test_winner_must_beat_loser_strictly_and_reach_threshold():
    card = Scorecard()
    card.add("up", "a", 0.35)
    card.add("up", "b", 0.15)
    result = card.decide(0.5, "GO_UP", "GO_DOWN", {})
    assert result.active and result.signal == "GO_UP" and result.direction == "UP"
    assert result.raw_score == 0.5  # 0.35 + 0.15 lands exactly on the threshold
    assert result.reasons == ("a", "b")
    assert result.strength == 0.5


def test_just_below_threshold_is_inactive():
    card = Scorecard()
    card.add("down", "a", 0.49)
    result = card.decide(0.5, "GO_UP", "GO_DOWN", {})
    assert not result.active and result.direction == "NONE" and result.raw_score == 0.49


def test_tie_gives_no_signal():
    card = Scorecard()
    card.add("up", "a", 0.6)
    card.add("down", "b", 0.6)
    result = card.decide(0.5, "GO_UP", "GO_DOWN", {})
    assert not result.active and result.signal == ""
    assert result.features["up_score"] == result.features["down_score"] == 0.6


def test_each_side_is_capped_at_one_and_strength_is_the_margin():
    card = Scorecard()
    for tag in "abcd":
        card.add("up", tag, 0.4)
    card.add("down", "x", 0.3)
    result = card.decide(0.5, "GO_UP", "GO_DOWN", {})
    assert result.raw_score == 1.0
    assert result.strength == pytest.approx(0.7)


def test_false_condition_adds_nothing_and_reports_false():
    card = Scorecard()
    assert card.add("up", "a", 0.4, when=False) is False
    assert card.score("up") == 0.0 and card.tags("up") == ()


def test_params_from_applies_overrides_and_keeps_defaults():
    params = LiquidityParams.params_from({"w_pierce": 0.5, "window_s": 240})
    assert params.w_pierce == 0.5 and params.window_s == 240.0
    assert params.w_reclaim == 0.20 and params.threshold == 0.5
    assert LiquidityVacuumParams().threshold == 0.6


def test_unknown_key_raises_config_error_naming_it():
    with pytest.raises(ConfigError, match="w_pierse"):
        LiquidityParams.params_from({"w_pierse": 0.4})


@pytest.mark.parametrize(
    "overrides",
    [
        {"w_pierce": "heavy"},
        {"w_pierce": 1.5},
        {"threshold": -0.1},
        {"window_s": math.inf},
        {"window_s": True},
    ],
)
def test_bad_values_raise_config_error(overrides):
    with pytest.raises(ConfigError):
        LiquidityParams.params_from(overrides)


def test_integer_parameters_stay_integers():
    assert SmartMoneyParams.params_from({"atm_band_strikes": 3.0}).atm_band_strikes == 3
    with pytest.raises(ConfigError, match="whole number"):
        SmartMoneyParams.params_from({"atm_band_strikes": 2.5})


def test_base_params_defaults():
    assert EngineParams.params_from(None).threshold == 0.5


def test_num_makes_features_json_friendly():
    assert num(np.float64(1.23456789)) == 1.234568
    assert num(float("nan")) is None and num(None) is None and num("x") is None
    assert isinstance(num(np.int64(3)), float)


def test_a_verdict_tells_what_each_side_scored_active_or_not():
    card = Scorecard()
    card.add("up", "pattern", 0.4)
    card.add("down", "other", 0.1)
    below = card.decide(0.5, "UP_SIG", "DOWN_SIG", {})
    assert not below.active
    assert (below.side_score("UP"), below.side_score("DOWN"), below.side_score("NONE")) == (0.4, 0.1, 0.0)
    card.add("up", "evidence", 0.3)
    assert card.decide(0.5, "UP_SIG", "DOWN_SIG", {}).side_score("UP") == pytest.approx(0.7)
