"""Chain-view kernels: touch probability against a Monte Carlo path simulation and its limits, leg
greeks against finite differences, per-strike PCR, the max-pain curve."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pytest

from core.analytics import chain_view as cv
from core.analytics import flow, greeks
from core.clock import IST


def _mc_touch(spot: float, level: float, sigma: float, t: float, fwd: float, paths: int = 20_000) -> float:
    """Fraction of fine-stepped lognormal paths that reach `level` (slightly biased low: discrete steps)."""
    rng = np.random.default_rng(11)
    steps = 2000
    dt = t / steps
    nu = math.log(fwd / spot) / t - 0.5 * sigma * sigma
    incr = nu * dt + sigma * math.sqrt(dt) * rng.standard_normal((paths, steps))
    log_path = np.cumsum(incr, axis=1)
    b = math.log(level / spot)
    hit = (log_path.max(axis=1) >= b) if b > 0 else (log_path.min(axis=1) <= b)
    return float(hit.mean())


@pytest.mark.parametrize("level", [24_400.0, 25_300.0, 25_800.0])
def test_touch_probability_matches_path_simulation(level):
    args = dict(spot=25_000.0, level=level, sigma=0.14, t_years=7 / 365, forward=25_030.0)
    p = cv.touch_probability(**args)
    mc = _mc_touch(25_000.0, level, 0.14, 7 / 365, 25_030.0)
    assert p == pytest.approx(mc, abs=0.02)


def test_touch_probability_is_not_a_constant_and_has_the_right_limits():
    near = cv.touch_probability(25_000.0, 25_050.0, 0.14, 7 / 365)
    far = cv.touch_probability(25_000.0, 26_500.0, 0.14, 7 / 365)
    assert near > 0.8 > 0.05 > far
    assert cv.touch_probability(25_000.0, 25_000.0, 0.14, 7 / 365) == 1.0
    # Driftless limit: twice the probability of finishing beyond the level (reflection principle).
    sd = 0.14 * math.sqrt(7 / 365)
    b = math.log(25_400 / 25_000)
    no_drift = cv.touch_probability(
        25_000.0, 25_400.0, 0.14, 7 / 365, forward=25_000.0 * math.exp(0.5 * sd * sd)
    )
    assert no_drift == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(b / sd / math.sqrt(2)))), abs=1e-9)
    assert cv.touch_probability(25_000.0, 25_400.0, 0.0, 7 / 365) is None


def test_leg_greeks_match_finite_differences():
    strikes = np.array([24_500.0, 25_000.0, 25_500.0])
    iv = np.array([0.15, 0.13, np.nan])
    F, T, r = 25_050.0, 5 / 365, 0.055
    out = cv.leg_greeks(strikes, iv, iv, F, T, r)
    h = 1.0
    up = greeks.delta("CE", F + h, strikes, T, r, iv)
    dn = greeks.delta("CE", F - h, strikes, T, r, iv)
    np.testing.assert_allclose(out["call_gamma"][:2], ((up - dn) / (2 * h))[:2], rtol=1e-4)
    bump = greeks.black76_price("PE", F, strikes, T, r, iv + 0.005) - greeks.black76_price(
        "PE", F, strikes, T, r, iv - 0.005
    )
    np.testing.assert_allclose(out["put_vega"][:2], bump[:2], rtol=1e-3)
    one_day = greeks.black76_price("CE", F, strikes, T - 1 / 365, r, iv) - greeks.black76_price(
        "CE", F, strikes, T, r, iv
    )
    np.testing.assert_allclose(out["call_theta"][:2], one_day[:2], rtol=0.1)
    assert out["call_theta"][1] < 0 and np.isnan(out["put_gamma"][2])
    assert np.isnan(cv.leg_greeks(strikes, iv, iv, None, T, r)["call_vega"]).all()


def test_strike_pcr_and_pain_curve():
    strikes = np.array([100.0, 110.0, 120.0])
    call_oi = np.array([0.0, 50.0, 200.0])
    put_oi = np.array([300.0, 100.0, np.nan])
    pcr = cv.strike_pcr(call_oi, put_oi)
    assert np.isnan(pcr[0]) and pcr[1] == 2.0 and np.isnan(pcr[2])
    pain = cv.pain_curve(strikes, call_oi, put_oi)
    # Settling at 110: the 100 call pays 10 x 0, puts at 120 pay nothing (no OI), the 100 put nothing.
    assert pain[1] == pytest.approx(0.0 * 10 + 0.0)
    assert strikes[int(np.argmin(pain))] == flow.max_pain(strikes, call_oi, put_oi)
    assert pain[0] == pytest.approx(100.0 * 10)  # the 110 put pays 10 per unit on 100 units


def test_days_to_expiry_and_nearest_level():
    expiry = date(2026, 12, 3)
    ts = datetime(2026, 12, 1, 15, 30, tzinfo=IST).timestamp()
    assert cv.days_to_expiry(ts, expiry) == pytest.approx(2.0)
    assert cv.days_to_expiry(ts + 10 * 86_400, expiry) == 0.0
    assert cv.nearest_level(25_000.0, {"support": 24_800.0, "flip": 25_120.0, "resistance": None}) == (
        "flip",
        25_120.0,
    )
    assert cv.nearest_level(None, {"support": 1.0}) is None
