"""Open-interest kernels: max pain, walls, PCR ratio, per-leg OI steps, flow direction, build-up."""

from __future__ import annotations

import numpy as np
import pytest

from core.analytics.flow import (
    LegFlow,
    OiFlowTracker,
    buildup_classes,
    buildup_counts,
    max_pain,
    near_atm_liquidity,
    oi_walls,
    ratio,
    summarize_flow,
)

NAN = np.nan


def test_max_pain_spec_check_value():
    strikes = np.array([95.0, 100.0, 105.0])
    # pain(95) = 5*33 + 10*5 = 215, pain(100) = 5*9 + 5*5 = 70, pain(105) = 10*9 + 5*45 = 315
    assert max_pain(strikes, np.array([9.0, 45.0, 25.0]), np.array([21.0, 33.0, 5.0])) == 100.0


def test_max_pain_ties_go_to_the_lowest_strike():
    strikes = np.array([100.0, 200.0, 300.0])
    # call OI 1 at 100, put OI 1 at 300: pain is 200 at every strike
    assert max_pain(strikes, np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])) == 100.0


def test_max_pain_ignores_missing_legs_and_needs_some_oi():
    strikes = np.array([95.0, 100.0, 105.0])
    assert max_pain(strikes, np.array([9.0, 45.0, NAN]), np.array([21.0, 33.0, 5.0])) == 100.0
    assert max_pain(strikes, np.zeros(3), np.full(3, NAN)) is None
    assert max_pain(np.empty(0), np.empty(0), np.empty(0)) is None


def test_walls_are_largest_oi_on_their_side_largest_first():
    strikes = np.array([24800.0, 24900.0, 25000.0, 25100.0, 25200.0])
    put_oi = np.array([500.0, 900.0, 300.0, 5000.0, 0.0])
    spot = 25050.0
    assert oi_walls(strikes, put_oi, strikes <= spot) == (
        (24900.0, 900.0),
        (24800.0, 500.0),
        (25000.0, 300.0),
    )
    assert oi_walls(strikes, put_oi, strikes <= spot, top=1) == ((24900.0, 900.0),)
    assert oi_walls(strikes, np.full(5, NAN), strikes <= spot) == ()


def test_ratio_is_none_on_zero_or_non_finite_denominator():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(3.0, 0.0) is None
    assert ratio(NAN, 2.0) is None


def test_tracker_steps_only_when_oi_changes():
    tracker = OiFlowTracker()
    strikes = np.array([100.0, 200.0])
    oi = np.array([[100.0, 200.0], [300.0, 400.0]])
    first = tracker.update(0.0, strikes, oi, np.array([[10.0, 5.0], [8.0, 12.0]]))
    assert np.isnan(first.d_oi).all()
    # premiums move, OI does not: no step, and the legs have had zero flow so far
    same = tracker.update(60.0, strikes, oi, np.array([[11.0, 6.0], [7.0, 12.0]]))
    assert np.array_equal(same.d_oi, np.zeros((2, 2)))
    stepped = tracker.update(
        180.0, strikes, np.array([[150.0, 200.0], [300.0, 350.0]]), np.array([[9.0, 5.0], [8.0, 13.0]])
    )
    assert np.array_equal(stepped.d_oi, [[50.0, 0.0], [0.0, -50.0]])
    # premium change is measured from the premium at the previous OI step (t=0), not the last tick
    assert np.array_equal(stepped.d_premium, [[-1.0, 0.0], [0.0, 1.0]])
    assert np.array_equal(stepped.dt_s, [[180.0, NAN], [NAN, 180.0]], equal_nan=True)
    later = tracker.update(240.0, strikes, np.array([[150.0, 200.0], [300.0, 350.0]]), np.zeros((2, 2)))
    assert np.array_equal(later.d_oi, stepped.d_oi, equal_nan=True)


def test_tracker_realigns_when_strikes_change():
    tracker = OiFlowTracker()
    tracker.update(0.0, np.array([100.0, 200.0]), np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((2, 2)))
    strikes = np.array([50.0, 100.0])
    flow = tracker.update(60.0, strikes, np.array([[7.0, 5.0], [7.0, 3.0]]), np.ones((2, 2)))
    # 50 is new (no history); 100 call went 1 -> 5, 100 put unchanged
    assert np.array_equal(flow.d_oi, [[NAN, 4.0], [NAN, 0.0]], equal_nan=True)


def _flow(call_d, put_d, call_dp, put_dp, dt=180.0):
    d_oi = np.array([call_d, put_d], dtype=float)
    return LegFlow(d_oi, np.array([call_dp, put_dp], dtype=float), np.full(d_oi.shape, dt))


@pytest.mark.parametrize(
    ("call_d", "put_d", "call_dp", "put_dp", "direction"),
    [
        ([60.0, 40.0], [0.0, 0.0], [-1.0, -2.0], [0.0, 0.0], "call_writing"),
        ([60.0, 40.0], [0.0, 0.0], [1.0, 2.0], [0.0, 0.0], "call_buying"),
        ([-60.0, -40.0], [10.0, 0.0], [1.0, 2.0], [0.0, 0.0], "call_unwinding"),
        ([0.0, 0.0], [80.0, 20.0], [0.0, 0.0], [-3.0, 1.0], "put_writing"),  # OI-weighted premium falls
        ([0.0, 0.0], [80.0, 20.0], [0.0, 0.0], [3.0, -1.0], "put_buying"),
        ([0.0, 0.0], [-80.0, 0.0], [0.0, 0.0], [3.0, 0.0], "put_unwinding"),
        ([50.0, 0.0], [45.0, 0.0], [1.0, 0.0], [1.0, 0.0], "balanced"),
    ],
)
def test_flow_direction(call_d, put_d, call_dp, put_dp, direction):
    assert (
        summarize_flow(_flow(call_d, put_d, call_dp, put_dp), np.ones(2, dtype=bool)).direction == direction
    )


def test_flow_velocity_and_imbalance_hand_computed():
    flow = LegFlow(
        np.array([[30.0, 60.0, 999.0], [-30.0, NAN, 999.0]]),
        np.zeros((2, 3)),
        np.array([[180.0, 120.0, 60.0], [180.0, NAN, 60.0]]),
    )
    out = summarize_flow(flow, np.array([True, True, False]))  # third strike outside the window
    assert out.call_velocity == pytest.approx(30 / 3 + 60 / 2)  # units per minute, per-leg rates summed
    assert out.put_velocity == pytest.approx(-30 / 3)
    assert out.call_d_oi == 90.0 and out.put_d_oi == -30.0
    assert out.imbalance == pytest.approx((90 - -30) / (90 + 30))


def test_flow_is_unknown_without_steps_or_without_change():
    unknown = summarize_flow(_flow([NAN, NAN], [NAN, NAN], [NAN, NAN], [NAN, NAN]), np.ones(2, dtype=bool))
    assert unknown.imbalance is None and unknown.direction is None and unknown.call_velocity is None
    flat = summarize_flow(_flow([0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]), np.ones(2, dtype=bool))
    assert flat.imbalance is None and flat.direction is None and flat.call_velocity == 0.0


def test_buildup_classes_and_counts():
    d_price = np.array([[1.0, -1.0, 1.0, -1.0, 0.0, NAN]])
    d_oi = np.array([[5.0, 5.0, -5.0, -5.0, 5.0, 5.0]])
    classes = buildup_classes(d_price, d_oi)
    assert list(classes[0]) == ["LONG_BUILDUP", "SHORT_BUILDUP", "SHORT_COVERING", "LONG_UNWINDING", "", ""]
    assert buildup_counts(classes) == {
        "LONG_BUILDUP": 1,
        "SHORT_BUILDUP": 1,
        "SHORT_COVERING": 1,
        "LONG_UNWINDING": 1,
    }


def test_near_atm_liquidity_uses_only_sane_two_sided_quotes():
    bid = np.array([[99.0, 0.0], [49.0, 51.0]])
    ask = np.array([[101.0, 5.0], [51.0, 50.0]])  # a one-sided quote and a crossed quote
    qty = np.array([[10.0, 20.0], [30.0, NAN]])
    spread, depth = near_atm_liquidity(bid, ask, qty, qty)
    assert spread == pytest.approx(np.mean([2 / 100, 2 / 50]))
    assert depth == 2 * (10 + 20 + 30)
    assert near_atm_liquidity(np.zeros((2, 1)), np.zeros((2, 1)), qty[:, :1], qty[:, :1]) == (None, None)
