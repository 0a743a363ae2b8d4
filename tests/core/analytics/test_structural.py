"""LiveStructuralEngine on hand-built chains: each SPEC §5 metric, its units, and 'None with a reason'."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from core.analytics import greeks
from core.analytics.structural import LiveStructuralEngine, time_to_expiry_years
from core.clock import IST
from core.config import AnalyticsConfig
from core.market_calendar import expiry_close_epoch
from tests.factories import DEFAULT_EXPIRIES, DEFAULT_TS, make_chain, make_snapshot, make_tick

EXPIRY = DEFAULT_EXPIRIES[0]
R = 0.055


@pytest.fixture
def engine() -> LiveStructuralEngine:
    return LiveStructuralEngine(AnalyticsConfig(risk_free_rate=R))


def _leg(strike: float, right: str, **fields) -> object:
    return make_tick(strike=strike, right=right, **fields)


def test_time_to_expiry_in_minutes_over_a_year_floored_at_one_hour():
    close = expiry_close_epoch(EXPIRY)
    assert time_to_expiry_years(close - 2 * 86400, EXPIRY) == pytest.approx(2880 / 525600)
    assert time_to_expiry_years(close - 600, EXPIRY) == pytest.approx(60 / 525600)


def test_default_expiry_is_the_nearest_not_yet_expired(engine):
    after_close = datetime.combine(EXPIRY, datetime.min.time(), IST).timestamp() + 16 * 3600
    snap = make_chain(ts=after_close, strikes_each_side=2)
    assert engine.select_expiry(snap) == DEFAULT_EXPIRIES[1]
    assert engine.compute(make_chain(strikes_each_side=2)).expiry == EXPIRY


def test_forward_by_parity_and_flat_vol_recovered(engine):
    m = engine.compute(make_chain(strikes_each_side=10))
    T = time_to_expiry_years(DEFAULT_TS, EXPIRY)
    assert m.forward_source == "parity"
    assert m.forward == pytest.approx(25000 * math.exp(R * T), abs=1e-6)
    assert m.time_to_expiry_years == pytest.approx(T)
    assert m.iv_source == "solved"
    assert np.allclose(m.call_iv, 0.12, atol=1e-7) and np.allclose(m.put_iv, 0.12, atol=1e-7)
    assert m.atm_iv == pytest.approx(0.12, abs=1e-7) and m.volatility_regime == "normal"
    assert m.call_delta[10] == pytest.approx(
        float(greeks.delta("CE", m.forward, 25000.0, T, R, 0.12)), abs=1e-7
    )


def test_forward_falls_back_to_spot_carry_without_parity_pairs(engine):
    legs = [_leg(25000.0, "CE", ltp=150.0, oi=1000.0), _leg(25050.0, "CE", ltp=120.0, oi=1000.0)]
    m = engine.compute(make_snapshot(legs))
    assert m.forward_source == "spot_carry"
    assert m.forward == pytest.approx(25000 * math.exp(R * m.time_to_expiry_years))


def test_feed_iv_is_used_and_labelled(engine):
    chain = make_chain(strikes_each_side=2)
    feed_all = make_snapshot([_with(t, iv=0.2) for t in chain.legs.values()])
    m = engine.compute(feed_all)
    assert m.iv_source == "feed" and np.allclose(m.call_iv, 0.2) and m.atm_iv == pytest.approx(0.2)
    some = make_snapshot([_with(t, iv=0.2) if t.right == "CE" else t for t in chain.legs.values()])
    m2 = LiveStructuralEngine().compute(some)
    assert m2.iv_source == "mixed" and np.allclose(m2.put_iv, 0.12, atol=1e-6)


def _with(tick, **changes):
    return replace(tick, **changes)


def test_pcr_hand_computed(engine):
    legs = [
        _leg(24950.0, "CE", ltp=90.0, oi=100.0, prev_oi=80.0, volume=50.0),
        _leg(25050.0, "CE", ltp=40.0, oi=300.0, prev_oi=300.0, volume=50.0),
        _leg(24950.0, "PE", ltp=30.0, oi=200.0, prev_oi=150.0, volume=25.0),
        _leg(25050.0, "PE", ltp=80.0, oi=400.0, prev_oi=400.0, volume=25.0),
    ]
    m = engine.compute(make_snapshot(legs))
    assert (m.total_call_oi, m.total_put_oi) == (400.0, 600.0)
    assert m.pcr_oi == 1.5
    assert m.pcr_volume == 0.5
    assert m.pcr_oi_change == 50.0 / 20.0
    assert list(m.call_oi_change) == [20.0, 0.0] and list(m.put_oi_change) == [50.0, 0.0]


def test_pcr_division_by_zero_is_none_with_reason(engine):
    legs = [_leg(25000.0, "PE", ltp=100.0, oi=500.0, volume=10.0)]
    m = engine.compute(make_snapshot(legs))
    assert m.pcr_oi is None and m.pcr_volume is None and m.pcr_oi_change is None
    assert {"pcr_oi", "pcr_volume", "pcr_oi_change"} <= set(m.unavailable)


def test_max_pain_spec_check_through_the_engine(engine):
    put_oi, call_oi = {95.0: 21.0, 100.0: 33.0, 105.0: 5.0}, {95.0: 9.0, 100.0: 45.0, 105.0: 25.0}
    legs = [_leg(k, "PE", ltp=1.0, oi=v) for k, v in put_oi.items()]
    legs += [_leg(k, "CE", ltp=1.0, oi=v) for k, v in call_oi.items()]
    m = engine.compute(make_snapshot(legs, spot=101.0, strike_step=5.0))
    assert m.max_pain == 100.0


def test_walls_support_below_resistance_above(engine):
    oi = {(24900.0, "PE"): 900.0, (25000.0, "PE"): 700.0, (25100.0, "PE"): 5000.0}
    oi |= {(24900.0, "CE"): 8000.0, (25000.0, "CE"): 600.0, (25100.0, "CE"): 1200.0}
    legs = [_leg(k, r, ltp=50.0, oi=v) for (k, r), v in oi.items()]
    m = engine.compute(make_snapshot(legs, spot=25020.0))
    assert m.support == 24900.0 and m.support_walls == ((24900.0, 900.0), (25000.0, 700.0))
    assert m.resistance == 25100.0 and m.resistance_walls == ((25100.0, 1200.0),)


def test_gex_signs_and_units_with_feed_greeks(engine):
    legs = [
        _leg(25000.0, "CE", ltp=150.0, oi=100_000.0, iv=0.12, gamma=0.001),
        _leg(25000.0, "PE", ltp=140.0, oi=50_000.0, iv=0.12, gamma=0.002),
        _leg(25100.0, "CE", ltp=100.0, oi=10_000.0, iv=0.12, gamma=0.001),
    ]
    m = engine.compute(make_snapshot(legs))
    unit = 0.001 * 100_000 * 25000.0**2 * 0.01  # rupees per 1 % move
    assert list(m.call_gex) == pytest.approx([unit, unit / 10])
    assert list(m.put_gex) == pytest.approx([-unit, 0.0])
    assert list(m.gex_by_strike) == pytest.approx([0.0, unit / 10])
    assert m.net_gex == pytest.approx(unit / 10)
    assert m.gross_gex == pytest.approx(2.1 * unit)
    assert (m.call_wall, m.put_wall) == (25000.0, 25000.0)


def _skewed_chain():
    """Puts dominate below spot, calls above: dealers short gamma low, long gamma high."""

    def oi(strike: float, right: str) -> float:
        if right == "PE":
            return 3_000_000.0 if strike <= 24800 else 100_000.0
        return 3_000_000.0 if strike >= 25200 else 100_000.0

    return make_chain(strikes_each_side=20, oi=oi)


def test_gamma_flip_is_a_zero_of_net_gex(engine):
    m = engine.compute(_skewed_chain())
    assert m.flip_state == "crossing" and 24800 < m.gamma_flip < 25200
    assert m.distance_from_flip_pts == pytest.approx(25000.0 - m.gamma_flip)
    assert m.distance_from_flip_pct == pytest.approx(100 * (25000.0 - m.gamma_flip) / 25000.0)
    # recompute net GEX independently at the flip: ~0 relative to the profile's scale
    s = m.gamma_flip
    F = m.forward * s / m.spot
    T = m.time_to_expiry_years
    iv = np.vstack([m.call_iv, m.put_iv])
    gex = greeks.gex_per_leg(
        greeks.gamma(greeks.SIGN, F, m.strikes, T, R, iv), np.vstack([m.call_oi, m.put_oi]), s
    )
    assert abs(gex.sum()) < 1e-3 * np.abs(m.gex_profile).max()
    assert np.all(np.diff(m.gex_profile_spot) <= 50.0 / 5 + 1e-9)
    below, above = m.gex_profile_spot < s - 20, m.gex_profile_spot > s + 20
    assert m.gex_profile[below & (m.gex_profile_spot > s - 200)].max() < 0 < m.gex_profile[above].min()


def test_no_crossing_reports_all_positive(engine):
    m = engine.compute(make_chain(strikes_each_side=5, oi=lambda k, r: 1000.0 if r == "CE" else 0.0))
    assert m.gamma_flip is None and m.flip_state == "all positive"
    assert "gamma_flip" in m.unavailable and m.distance_from_flip_pts is None


def test_expected_move_straddle_bands_and_breach_probability(engine):
    """The expected move runs in trading time: from Wednesday 2026-11-25 10:00 to the Tuesday
    2026-12-01 15:30 expiry close is 330 + 3 x 375 + 375 = 1830 minutes of open market, over a
    trading year of 252 x 375 minutes. The straddle is priced in calendar time."""
    m = engine.compute(make_chain(strikes_each_side=3, spread=0.0))
    assert date(2026, 12, 1) == EXPIRY
    S, T, tau = 25000.0, m.time_to_expiry_years, 1830 / (252 * 375)
    em = S * 0.12 * math.sqrt(tau)
    assert m.expected_move == pytest.approx(417.4754, rel=1e-6)
    assert m.expected_move == pytest.approx(em, rel=1e-9)
    assert m.em_bands == pytest.approx((S - 2 * em, S - em, S + em, S + 2 * em), rel=1e-6)
    call, put = (greeks.black76_price(f, m.forward, 25000.0, T, R, 0.12) for f in ("CE", "PE"))
    assert m.atm_straddle == pytest.approx(float(call + put), rel=1e-9)
    sd = 0.12 * math.sqrt(tau)
    mu = math.log(m.forward) - sd * sd / 2
    expected = norm.sf((math.log(S + em) - mu) / sd) + norm.cdf((math.log(S - em) - mu) / sd)
    assert m.breach_probability == pytest.approx(expected, rel=1e-9)
    assert 0.30 < m.breach_probability < 0.34


def _black76_straddle(F: float, K: float, T: float, r: float, sigma: float) -> float:
    """Call + put by the textbook Black-76 formula, written here so the check owes nothing to greeks."""
    sd = sigma * math.sqrt(T)
    d1 = (math.log(F / K) + sd * sd / 2) / sd
    d2 = d1 - sd
    call = F * norm.cdf(d1) - K * norm.cdf(d2)
    put = K * norm.cdf(-d2) - F * norm.cdf(-d1)
    return math.exp(-r * T) * (call + put)


def test_atm_straddle_theta_and_vega_reach_live_metrics(engine):
    """Theta: rupees lost per calendar day (F fixed); vega: rupees per vol point; by finite differences."""
    m = engine.compute(make_chain(strikes_each_side=3, spread=0.0))
    F, K, T = m.forward, m.atm_strike, m.time_to_expiry_years
    day = 1 / 365
    theta = _black76_straddle(F, K, T - day / 2, R, 0.12) - _black76_straddle(F, K, T + day / 2, R, 0.12)
    vega = (_black76_straddle(F, K, T, R, 0.125) - _black76_straddle(F, K, T, R, 0.115)) / 1.0
    assert m.atm_straddle_theta == pytest.approx(theta, rel=1e-3)
    assert m.atm_straddle_vega == pytest.approx(vega, rel=1e-3)
    assert m.atm_straddle_theta < 0 < m.atm_straddle_vega
    unpriced = {(EXPIRY, K, "PE"): {"ltp": 0.0, "bid": 0.0, "ask": 0.0}}  # no premium, so no IV
    no_iv = engine.compute(make_chain(strikes_each_side=3, ts=DEFAULT_TS + 60, overrides=unpriced))
    assert no_iv.atm_straddle_theta is None and "atm_straddle_vega" in no_iv.unavailable


def test_oi_flow_between_oi_updates_and_buildup(engine):
    first = make_chain(strikes_each_side=6)
    engine.compute(first)
    put_writing = {(EXPIRY, k, "PE"): {"oi": 3_000_000.0, "bid": 1.0, "ask": 1.2} for k in (24900.0, 24950.0)}
    later = make_chain(strikes_each_side=6, ts=DEFAULT_TS + 180, overrides=put_writing, prev_close_factor=1.0)
    m = engine.compute(later)
    assert m.flow_direction == "put_writing"
    assert m.flow_imbalance == pytest.approx(-1.0)
    assert m.call_oi_velocity == 0.0 and m.put_oi_velocity > 0
    added = sum(3_000_000.0 - first.legs[(EXPIRY, k, "PE")].oi for k in (24900.0, 24950.0))
    assert m.put_oi_velocity == pytest.approx(added / 3.0)  # units per minute over the 3-minute step
    build = engine.compute(make_chain(strikes_each_side=1, prev_close_factor=0.9, prev_oi_factor=0.5))
    assert build.buildup_counts["LONG_BUILDUP"] == 6  # price up and OI up on all 3 strikes x CE/PE


def test_microstructure_ratios_against_rolling_median(engine):
    for i in range(6):
        m = engine.compute(make_chain(strikes_each_side=5, ts=DEFAULT_TS + i, spread=0.01))
    assert m.spread_rel == pytest.approx(0.01) and m.spread_ratio == pytest.approx(1.0)
    assert m.depth == 7 * 2 * (650 + 1300) and m.depth_ratio == pytest.approx(1.0)
    wide = engine.compute(make_chain(strikes_each_side=5, ts=DEFAULT_TS + 10, spread=0.04))
    assert wide.spread_rel == pytest.approx(0.04) and wide.spread_ratio == pytest.approx(4.0)


def test_spot_features_through_the_engine(engine):
    for i in range(0, 400, 5):
        m = engine.compute(make_chain(spot=25000.0 + i, ts=DEFAULT_TS + i, strikes_each_side=2))
    assert m.ret_1m == pytest.approx(25395 / 25335 - 1)  # one sample every 5 s, spot +1 per second
    assert m.ret_5m == pytest.approx(25395 / 25095 - 1)
    assert m.range_5m == pytest.approx(295.0)
    assert m.realized_vol_30m is None and "realized_vol_30m" in m.unavailable


def test_per_strike_arrays_are_read_only_and_aligned(engine):
    m = engine.compute(make_chain(strikes_each_side=4))
    for name in (
        "strikes",
        "call_oi",
        "put_iv",
        "call_gex",
        "gex_by_strike",
        "gex_profile",
        "gex_profile_spot",
    ):
        arr = getattr(m, name)
        assert not arr.flags.writeable, name
    assert len(m.call_oi) == len(m.strikes) == 9 and np.all(np.diff(m.strikes) > 0)


def test_missing_spot_degrades_to_reasons(engine):
    m = engine.compute(replace(make_chain(strikes_each_side=3), spot=None))
    assert m.spot is None and m.forward_source == "parity" and m.atm_iv == pytest.approx(0.12, abs=1e-6)
    for name in ("net_gex", "gamma_flip", "support", "expected_move", "ret_1m", "regime"):
        assert getattr(m, name) is None and name in m.unavailable


def test_missing_chain_or_expiry_degrades_to_reasons(engine):
    empty = engine.compute(make_snapshot([], expiries=(EXPIRY,)))
    assert "chain" in empty.unavailable and empty.max_pain is None
    gone = engine.compute(make_snapshot([], expiries=(date(2020, 1, 7),)))
    assert gone.expiry is None and "expiry" in gone.unavailable


def test_pin_risk_on_expiry_day(engine):
    ts = expiry_close_epoch(EXPIRY) - 30 * 60
    m = engine.compute(make_chain(ts=ts, strikes_each_side=6))
    assert m.max_pain == 25000.0 and m.regime == "pin_risk"
    assert {a.kind for a in m.alerts} >= {"PIN_RISK"}


FINITE = st.floats(allow_nan=False, allow_infinity=False)
# Plausible magnitudes first so the normal paths run, then anything finite (and missing values).
MAYBE = st.none() | st.floats(0, 5e6) | FINITE
LEG = st.fixed_dictionaries(
    {
        "expiry": st.sampled_from(DEFAULT_EXPIRIES + (date(2026, 11, 17),)),
        "strike": st.sampled_from([24900.0, 24950.0, 25000.0, 25050.0, 25100.0]) | FINITE,
        "right": st.sampled_from(["CE", "PE"]),
        "ltp": st.floats(0, 3000) | FINITE,
        **{f: MAYBE for f in ("bid", "ask", "bid_qty", "ask_qty", "oi", "prev_oi", "volume", "prev_close")},
        **{f: MAYBE for f in ("iv", "delta", "gamma")},
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    legs=st.lists(LEG, max_size=12),
    spot=st.none() | st.floats(24000, 26000) | FINITE,
    step=st.sampled_from([50.0, 0.0]) | FINITE,
    dt=st.floats(-3 * 86400, 3 * 86400),
    later_oi=MAYBE,
)
def test_no_finite_chain_makes_compute_raise(legs, spot, step, dt, later_oi):
    engine = LiveStructuralEngine()
    ticks = [make_tick(ts=DEFAULT_TS + dt, **leg) for leg in legs]
    for ts, oi in ((DEFAULT_TS + dt, None), (DEFAULT_TS + dt + 180, later_oi)):
        moved = [replace(t, ts=ts, oi=oi if oi is not None else t.oi) for t in ticks]
        snap = make_snapshot(moved, spot=spot, ts=ts, strike_step=step, atm_strike=spot)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # not even a numpy warning escapes into the runtime log
            m = engine.compute(snap)
        assert m.symbol == "NIFTY"
        assert all(isinstance(reason, str) for reason in m.unavailable.values())


def test_unsolvable_legs_are_nan_and_counted_by_reason(engine):
    cheap_itm = {(EXPIRY, 24800.0, "CE"): {"ltp": 1.0, "bid": 0.9, "ask": 1.1}}
    m = engine.compute(make_chain(strikes_each_side=4, overrides=cheap_itm))
    assert np.isnan(m.call_iv[0]) and np.isfinite(m.call_iv[1:]).all()
    assert m.unavailable["leg_iv"] == "1 of 18 legs without IV: below_intrinsic 1"


def test_iv_percentile_from_in_session_history(engine):
    for minute in range(25):
        m = engine.compute(
            make_chain(strikes_each_side=2, ts=DEFAULT_TS + 60 * minute, sigma=0.10 + 0.002 * minute)
        )
    assert m.iv_percentile == 100.0 and m.atm_iv == pytest.approx(0.148, abs=1e-6)
    low = engine.compute(make_chain(strikes_each_side=2, ts=DEFAULT_TS + 60 * 25, sigma=0.101))
    assert low.iv_percentile == pytest.approx(100 * 2 / 26)  # 0.10 and the new 0.101 itself


def test_atm_straddle_greeks_are_greeks_straddle_theta_vega_exactly(engine):
    m = engine.compute(make_chain(strikes_each_side=10, sigma=lambda k, e: 0.1 + 2e-6 * abs(k - 25000)))
    col = int(np.flatnonzero(m.strikes == m.atm_strike)[0])
    ivs = np.array([m.call_iv[col], m.put_iv[col]])
    found = greeks.straddle_theta_vega(m.forward, m.atm_strike, m.time_to_expiry_years, R, ivs)
    assert (m.atm_straddle_theta, m.atm_straddle_vega) == found


def test_kept_chain_results_follow_every_tick():
    """What is kept between calls (chain arrays, positioning, liquidity) never goes stale: the
    metrics that depend on the current chain alone match a fresh engine's on every call."""
    kept = LiveStructuralEngine(AnalyticsConfig(risk_free_rate=R))
    snap = make_chain(strikes_each_side=6)
    legs = dict(snap.legs)
    keys = list(legs)
    for i in range(12):
        if i % 3 == 2:
            k = keys[i]
            legs[k] = replace(legs[k], oi=(legs[k].oi or 0.0) + 6500.0, bid=legs[k].bid * 0.99)
        now = replace(snap, ts=DEFAULT_TS + 60.0 * i, legs=dict(legs))
        for expiry in DEFAULT_EXPIRIES:
            got = kept.compute(now, expiry)
            want = LiveStructuralEngine(AnalyticsConfig(risk_free_rate=R)).compute(now, expiry)
            assert (
                got.call_iv.tolist() == want.call_iv.tolist()
                and got.put_bid.tolist() == want.put_bid.tolist()
            )
            assert got.call_oi.tolist() == want.call_oi.tolist() and got.pcr_oi == want.pcr_oi
            assert got.max_pain == want.max_pain and got.spread_rel == want.spread_rel
            assert got.buildup_counts == want.buildup_counts


def _fields(m):
    """Every LiveMetrics field as comparable bytes/values (arrays by their bytes: bit-for-bit)."""
    return {
        name: value.tobytes() if isinstance(value, np.ndarray) else repr(value)
        for name, value in ((f, getattr(m, f)) for f in m.__dataclass_fields__)
    }


def test_compute_all_is_compute_of_each_expiry_bit_for_bit():
    """compute_all solves IVs and prices greeks for every expiry in one call each: the metrics are
    exactly those of compute per expiry, call after call as legs tick and spot moves."""
    together = LiveStructuralEngine(AnalyticsConfig(risk_free_rate=R))
    alone = LiveStructuralEngine(AnalyticsConfig(risk_free_rate=R))
    snap = make_chain(strikes_each_side=8, sigma=lambda k, e: 0.11 + abs(k - 25000.0) / 1e5)
    legs, keys = dict(snap.legs), list(snap.legs)
    for i in range(6):
        k = keys[(5 * i) % len(keys)]
        legs[k] = replace(legs[k], ltp=legs[k].ltp + 0.05, bid=legs[k].bid + 0.05, oi=(legs[k].oi or 0) + 65)
        now = replace(snap, ts=DEFAULT_TS + i, spot=25000.0 + 3 * i, legs=dict(legs))
        got = together.compute_all(now)
        want = [alone.compute(now)] + [alone.compute(now, e) for e in DEFAULT_EXPIRIES[1:]]
        assert [m.expiry for m in got] == list(DEFAULT_EXPIRIES)
        assert [_fields(m) for m in got] == [_fields(m) for m in want]
    assert [m.expiry for m in together.compute_all(now, later_expiries=False)] == [DEFAULT_EXPIRIES[0]]
