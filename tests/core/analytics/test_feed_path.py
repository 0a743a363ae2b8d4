"""A chain sent as protocol-v1 frames through decode -> MarketStateManager gives the same metrics."""

from __future__ import annotations

import math

import numpy as np

from core.analytics.structural import LiveStructuralEngine
from core.config import AnalyticsConfig
from core.domain import InstrumentInfo, LiveMetrics, Tick
from core.feed.base import FeedStats
from core.feed.encode import encode_frame
from core.feed.protocol import decode_frame
from core.state.market_state import MarketStateManager
from tests.factories import DEFAULT_TS, make_chain

HEADLINE = (
    "spot", "forward", "atm_strike", "atm_iv", "pcr_oi", "pcr_volume", "pcr_oi_change", "max_pain",
    "support", "resistance", "net_gex", "call_wall", "put_wall", "gamma_flip", "expected_move",
    "atm_straddle", "breach_probability", "volatility_regime", "total_call_oi", "total_put_oi",
)  # fmt: skip
ARRAYS = ("strikes", "call_oi", "put_oi", "call_iv", "put_iv", "call_delta", "gex_by_strike", "gex_profile")


def same(a: LiveMetrics, b: LiveMetrics) -> None:
    for name in HEADLINE:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, float) and isinstance(y, float):
            assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9), name
        else:
            assert x == y, name
    for name in ARRAYS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, err_msg=name)


def test_protocol_chain_gives_the_same_metrics_as_the_direct_call():
    direct = make_chain(spot=25012.5, strikes_each_side=40, lot_size=65)
    frame_items = [
        InstrumentInfo("NIFTY", lot_size=65, strike_step=50.0, expiries=direct.expiries),
        Tick(symbol="NIFTY", ts=DEFAULT_TS, ltp=direct.spot),
        *direct.legs.values(),
    ]
    stats = FeedStats()
    decoded = decode_frame(encode_frame(frame_items), stats, recv_ts=DEFAULT_TS)
    assert sum(stats.rejected.values()) == 0
    assert len(decoded) == len(frame_items)

    state = MarketStateManager(["NIFTY"])
    state.apply(decoded)
    via_feed = state.publish()["NIFTY"]
    assert via_feed.atm_strike == direct.atm_strike and via_feed.lot_size == 65

    config = AnalyticsConfig()
    for expiry in direct.expiries:
        same(
            LiveStructuralEngine(config).compute(via_feed, expiry),
            LiveStructuralEngine(config).compute(direct, expiry),
        )
