"""GammaSqueezeEngine rules: momentum and option buying give direction; gamma, level and vol add to it."""

from __future__ import annotations

import numpy as np
import pytest

from core.engines.gamma_squeeze import GammaSqueezeEngine
from core.engines.history import EngineHistory
from tests.core.engines.builders import chain, make_metrics, ramp, run

ENGINE = GammaSqueezeEngine()
BASE = make_metrics(net_gex=-1e9, gross_gex=4e9, gamma_flip=25100.0, call_wall=25200.0, put_wall=24800.0)
UP_PATH = np.r_[np.full(600, 24950.0), ramp(24950.0, 25030.0, 300)]
CALLS = {k: 1.2e6 for k in (25000.0, 25050.0, 25100.0, 25150.0, 25200.0)}


def call_buying(i: int, _spot: float) -> dict:
    return chain(call_oi=CALLS, call_ltp={k: 130.0 for k in CALLS}) if i >= 700 else chain()


def test_full_squeeze_up():
    result, _, _ = run(ENGINE, UP_PATH, base=BASE, per_step=call_buying, ret_5m=0.004, vol_spike_ratio=1.8)
    assert result.signal == "SQUEEZE_UP" and result.direction == "UP"
    assert result.reasons == ("momentum_up", "call_buying", "dealers_short_gamma", "near_flip", "vol_spike")
    assert result.raw_score == pytest.approx(1.0)


def test_a_trend_into_short_gamma_without_option_buying_is_not_a_squeeze():
    # Momentum + short gamma + near the flip would be 0.65, but nobody is buying options.
    result, _, _ = run(ENGINE, UP_PATH, base=BASE, ret_5m=0.004)
    assert not result.active and result.raw_score == 0
    assert result.features["up_momentum"] is True


def test_buying_with_short_gamma_near_the_flip_is_a_squeeze_without_momentum():
    far = make_metrics(net_gex=-1e9, gross_gex=4e9, gamma_flip=26000.0, call_wall=26000.0)
    result, _, _ = run(ENGINE, UP_PATH, base=far, per_step=call_buying, ret_5m=0.001)
    assert not result.active and result.raw_score == pytest.approx(0.45)
    near, _, _ = run(ENGINE, UP_PATH, base=BASE, per_step=call_buying, ret_5m=0.001)
    assert near.active and near.raw_score == pytest.approx(0.65)


def test_context_without_direction_scores_nothing():
    result, _, _ = run(ENGINE, UP_PATH, base=BASE, ret_5m=0.001, vol_spike_ratio=3.0)
    assert not result.active and result.raw_score == 0


def test_momentum_threshold_edge():
    at_edge, _, _ = run(ENGINE, UP_PATH, base=BASE, ret_5m=0.003)
    assert "momentum_up" not in at_edge.features["up_rules"]  # "> 0.3 %" is strict


def test_positive_gex_is_not_short_gamma():
    base = make_metrics(net_gex=1e9, gross_gex=4e9, gamma_flip=25100.0, call_wall=25200.0)
    result, _, _ = run(ENGINE, UP_PATH, base=base, per_step=call_buying, ret_5m=0.004)
    assert "dealers_short_gamma" not in result.reasons and result.raw_score == pytest.approx(0.6)


def test_net_gex_barely_negative_is_not_short_gamma():
    # g = -0.05: inside DealerGamma's neutral band, so no dealers are forced to chase.
    base = make_metrics(net_gex=-0.2e9, gross_gex=4e9, gamma_flip=25100.0, call_wall=25200.0)
    result, _, _ = run(ENGINE, UP_PATH, base=base, per_step=call_buying, ret_5m=0.004)
    assert "dealers_short_gamma" not in result.reasons and result.features["g"] == pytest.approx(-0.05)


def test_oi_drift_below_the_flow_floor_is_not_buying():
    drift = {k: 1.01e6 for k in CALLS}  # +1 % in the band: ordinary build-up

    def step(i: int, _spot: float) -> dict:
        return chain(call_oi=drift, call_ltp={k: 130.0 for k in drift}) if i >= 700 else chain()

    result, _, _ = run(ENGINE, UP_PATH, base=BASE, per_step=step, ret_5m=0.001)
    assert "call_buying" not in result.features["up_rules"] and not result.active


def test_through_the_call_wall_counts_as_at_the_level():
    base = make_metrics(net_gex=-1e9, gross_gex=4e9, call_wall=25200.0)
    path = np.r_[np.full(600, 25150.0), ramp(25150.0, 25350.0, 200)]
    result, _, _ = run(ENGINE, path, base=base, per_step=call_buying, ret_5m=0.008)
    assert result.reasons == ("momentum_up", "call_buying", "dealers_short_gamma", "near_wall")
    stale = np.r_[np.full(600, 25300.0), ramp(25300.0, 25350.0, 400)]  # above the wall all along
    result, _, _ = run(ENGINE, stale, base=base, per_step=call_buying, ret_5m=0.004)
    assert "near_wall" not in result.features["up_rules"]


def test_squeeze_down_with_put_buying_at_the_put_wall():
    puts = {k: 1.2e6 for k in (24800.0, 24850.0, 24900.0, 24950.0, 25000.0)}

    def put_buying(i: int, _spot: float) -> dict:
        return chain(put_oi=puts, put_ltp={k: 140.0 for k in puts}) if i >= 700 else chain()

    path = np.r_[np.full(600, 24950.0), ramp(24950.0, 24830.0, 300)]
    result, _, _ = run(ENGINE, path, base=BASE, per_step=put_buying, ret_5m=-0.005)
    assert result.signal == "SQUEEZE_DOWN" and result.direction == "DOWN"
    assert result.reasons == ("momentum_down", "put_buying", "dealers_short_gamma", "near_wall")


def test_missing_fields_never_crash():
    bare = make_metrics(strikes=np.array([]), call_oi=np.array([]), put_oi=np.array([]), atm_strike=None)
    assert not ENGINE.evaluate(bare, EngineHistory("NIFTY")).active
    assert not ENGINE.evaluate(make_metrics(spot=None), EngineHistory("NIFTY")).active
