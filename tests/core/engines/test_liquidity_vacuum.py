"""LiquidityVacuumEngine rules: a fast move gives direction; thin depth, wide spread, vol add; 0.6 bar."""

from __future__ import annotations

import numpy as np
import pytest

from core.engines.history import EngineHistory
from core.engines.liquidity_vacuum import LiquidityVacuumEngine
from tests.core.engines.builders import calm_path, make_metrics, ramp, run

ENGINE = LiquidityVacuumEngine()
CALM = calm_path(1800, sigma_1m=0.0004)
FAST_UP = np.r_[CALM, ramp(CALM[-1], CALM[-1] * 1.003, 60)]


def test_fast_move_into_a_very_thin_wide_book():
    result, _, _ = run(ENGINE, FAST_UP, ret_1m=0.003, depth_ratio=0.25, spread_ratio=2.5)
    assert result.signal == "LIQUIDITY_VACUUM_UP" and result.direction == "UP"
    assert result.reasons == ("fast_move_up", "depth_very_thin", "spread_wide")
    assert result.raw_score == pytest.approx(0.9)
    assert result.features["ret_sigmas"] > 2


def test_thin_depth_and_fast_move_reach_exactly_the_threshold():
    result, _, _ = run(ENGINE, FAST_UP, ret_1m=0.003, depth_ratio=0.45)
    assert result.active and result.raw_score == pytest.approx(0.6)
    assert result.reasons == ("fast_move_up", "depth_thin")


@pytest.mark.parametrize(("regime", "score", "active"), [("elevated", 0.4, False), ("extreme", 0.5, False)])
def test_volatility_alone_does_not_reach_point_six(regime, score, active):
    result, _, _ = run(ENGINE, FAST_UP, ret_1m=0.003, volatility_regime=regime)
    assert result.raw_score == pytest.approx(score) and result.active is active


def test_extreme_vol_plus_thin_depth():
    result, _, _ = run(ENGINE, FAST_UP, ret_1m=0.003, depth_ratio=0.45, volatility_regime="extreme")
    assert result.reasons == (
        "fast_move_up",
        "depth_thin",
        "vol_extreme",
    ) and result.raw_score == pytest.approx(0.8)


def test_thin_book_without_a_fast_move_has_no_direction():
    result, _, _ = run(
        ENGINE, CALM, ret_1m=0.0001, depth_ratio=0.1, spread_ratio=5.0, volatility_regime="extreme"
    )
    assert not result.active and result.raw_score == 0


def test_fast_move_down():
    path = np.r_[CALM, ramp(CALM[-1], CALM[-1] * 0.997, 60)]
    result, _, _ = run(ENGINE, path, ret_1m=-0.003, depth_ratio=0.2, spread_ratio=3.0)
    assert result.signal == "LIQUIDITY_VACUUM_DOWN" and result.direction == "DOWN"


def test_missing_fields_never_crash():
    assert not ENGINE.evaluate(make_metrics(), EngineHistory("NIFTY")).active
    result, _, _ = run(ENGINE, FAST_UP, ret_1m=0.003, depth_ratio=None, spread_ratio=None)
    assert not result.active and result.raw_score == pytest.approx(0.3)


def test_book_rules_are_not_evaluable_on_a_feed_without_bid_ask_depth():
    result, _, _ = run(ENGINE, FAST_UP, ret_1m=0.003, depth_ratio=None, spread_ratio=None)
    assert result.features["not_evaluable"] == {
        "depth_thin": "feed has no bid/ask depth",
        "spread_wide": "feed has no bid/ask depth",
    }
    quoted, _, _ = run(ENGINE, FAST_UP, ret_1m=0.003, depth_ratio=0.45, spread_ratio=1.0)
    assert "not_evaluable" not in quoted.features


def test_a_book_whose_median_is_not_established_says_so():
    result, _, _ = run(
        ENGINE,
        FAST_UP,
        ret_1m=0.003,
        depth=5000.0,
        spread_rel=0.002,
        depth_ratio=None,
        spread_ratio=None,
        unavailable={"depth_ratio": "rolling 10-minute median not established yet"},
    )
    assert result.features["not_evaluable"]["depth_thin"] == "rolling 10-minute median not established yet"


def test_the_fast_move_is_not_evaluable_on_five_minute_snapshots():
    path = np.r_[CALM[::300], CALM[-1] * 1.003]  # one 5-minute step up 0.3 %
    result, _, _ = run(ENGINE, path, step_s=300.0, ret_1m=0.003, depth_ratio=0.2, spread_ratio=3.0)
    assert not result.active and result.raw_score == 0
    assert result.features["not_evaluable"]["fast_move"].startswith("spot sampled every ~300 s")
