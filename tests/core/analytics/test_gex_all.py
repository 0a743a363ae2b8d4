"""All-expiry GEX against an independent computation: Black-76 gamma leg by leg, summed over the
expiries, and the flip found by root-finding on that continuous sum (not on the engine's grid)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from core.analytics.gex_all import all_expiry_gex
from core.analytics.structural import LiveStructuralEngine
from core.market_calendar import expiry_close_epoch
from tests.factories import DEFAULT_RATE, DEFAULT_TS, make_chain, make_snapshot

SPOT = 25000.0
STEP = 50.0
EXPIRIES = (date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 29))
SIGMA = {EXPIRIES[0]: 0.11, EXPIRIES[1]: 0.13, EXPIRIES[2]: 0.15}


def oi_of(expiry: date):
    """Near expiry put-heavy below spot (short gamma for dealers there), far expiry call-heavy above:
    each expiry's own profile differs from the sum's."""

    def oi(strike: float, right: str) -> float:
        x = (strike - SPOT) / STEP
        if expiry == EXPIRIES[0]:
            return 3e6 * math.exp(-((x + 3) ** 2) / 8) if right == "PE" else 4e5
        if expiry == EXPIRIES[1]:
            return 2.5e6 * math.exp(-((x - 4) ** 2) / 10) if right == "CE" else 6e5
        return 1.5e6 * math.exp(-((x - 1) ** 2) / 30)

    return oi


@pytest.fixture(scope="module")
def snapshot():
    legs = []
    for expiry in EXPIRIES:
        chain = make_chain(
            spot=SPOT, expiries=(expiry,), strikes_each_side=12, sigma=SIGMA[expiry], oi=oi_of(expiry)
        )
        legs.extend(chain.legs.values())
    return make_snapshot(legs, spot=SPOT, expiries=EXPIRIES)


@pytest.fixture(scope="module")
def by_expiry(snapshot):
    """What the runtime keeps for the pickers: one LiveMetrics per listed expiry of one snapshot."""
    engine = LiveStructuralEngine()
    return {e: engine.compute(snapshot, e) for e in EXPIRIES}


def _years(expiry: date) -> float:
    return (expiry_close_epoch(expiry) - DEFAULT_TS) / (365 * 86400.0)


def naive_net_gex(spot_at: float, snapshot) -> float:
    """Net GEX (rupees per 1 % move) of every leg of every expiry if spot were `spot_at`: the forward
    moves with spot, each leg keeps its volatility."""
    total = 0.0
    for (expiry, strike, right), tick in snapshot.legs.items():
        T = _years(expiry)
        F = spot_at * math.exp(DEFAULT_RATE * T)
        sigma = SIGMA[expiry]
        d1 = (math.log(F / strike) + 0.5 * sigma * sigma * T) / (sigma * math.sqrt(T))
        gamma = math.exp(-DEFAULT_RATE * T) * norm.pdf(d1) / (F * sigma * math.sqrt(T))
        sign = 1.0 if right == "CE" else -1.0
        total += sign * gamma * tick.oi * spot_at * spot_at * 0.01
    return total


def naive_by_strike(snapshot) -> dict[float, float]:
    out: dict[float, float] = {}
    for (expiry, strike, right), tick in snapshot.legs.items():
        T = _years(expiry)
        F = SPOT * math.exp(DEFAULT_RATE * T)
        sigma = SIGMA[expiry]
        d1 = (math.log(F / strike) + 0.5 * sigma * sigma * T) / (sigma * math.sqrt(T))
        gamma = math.exp(-DEFAULT_RATE * T) * norm.pdf(d1) / (F * sigma * math.sqrt(T))
        out[strike] = (
            out.get(strike, 0.0) + (1.0 if right == "CE" else -1.0) * gamma * tick.oi * SPOT**2 * 0.01
        )
    return out


def test_gex_by_strike_is_the_sum_over_expiries(snapshot, by_expiry):
    combined = all_expiry_gex(by_expiry, EXPIRIES[0])
    expected = naive_by_strike(snapshot)
    assert combined.expiries == EXPIRIES
    np.testing.assert_allclose(combined.strikes, sorted(expected))
    np.testing.assert_allclose(
        combined.gex_by_strike, [expected[k] for k in sorted(expected)], rtol=2e-3, atol=1e3
    )
    assert combined.net_gex == pytest.approx(sum(expected.values()), rel=2e-3)


def test_flip_is_the_zero_of_the_combined_profile(snapshot, by_expiry):
    combined = all_expiry_gex(by_expiry, EXPIRIES[0])
    grid = np.linspace(SPOT * 0.95, SPOT * 1.05, 801)
    values = np.array([naive_net_gex(s, snapshot) for s in grid])
    crossings = np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:]))
    assert crossings.size, "the fixture must cross zero within +-5 %"
    roots = [brentq(naive_net_gex, grid[i], grid[i + 1], args=(snapshot,)) for i in crossings]
    expected = min(roots, key=lambda r: abs(r - SPOT))
    assert combined.flip_state == "crossing"
    assert combined.gamma_flip == pytest.approx(expected, abs=2.0)  # engine grid step is 10 points
    # the combined flip is not any single expiry's flip
    singles = [m.gamma_flip for m in by_expiry.values()]
    assert all(f is None or abs(f - combined.gamma_flip) > 20 for f in singles), singles
    # and the profile itself matches the continuous sum where it was sampled
    sample = combined.profile_spot[:: max(1, len(combined.profile_spot) // 25)]
    got = np.interp(sample, combined.profile_spot, combined.profile)
    want = [naive_net_gex(s, snapshot) for s in sample]
    np.testing.assert_allclose(got, want, rtol=5e-3, atol=2e-3 * max(abs(v) for v in want))


def test_a_shifted_grid_is_interpolated_and_clipped(by_expiry):
    first, second, third = (by_expiry[e] for e in EXPIRIES)
    shifted = replace(third, gex_profile_spot=np.asarray(third.gex_profile_spot) + 100.0)
    combined = all_expiry_gex({EXPIRIES[0]: first, EXPIRIES[1]: second, EXPIRIES[2]: shifted}, EXPIRIES[0])
    # grid points below the shifted grid's start are unknown for that expiry, so dropped
    assert combined.profile_spot[0] >= shifted.gex_profile_spot[0]
    x = combined.profile_spot[len(combined.profile_spot) // 2]
    want = sum(np.interp(x, m.gex_profile_spot, m.gex_profile) for m in (first, second, shifted))
    assert np.interp(x, combined.profile_spot, combined.profile) == pytest.approx(want, rel=1e-9)


def test_an_expiry_without_gex_is_skipped_with_its_reason(by_expiry):
    first = by_expiry[EXPIRIES[0]]
    empty = replace(
        by_expiry[EXPIRIES[1]], strikes=np.array([]), gex_by_strike=np.array([]),
        gex_profile_spot=np.array([]), gex_profile=np.array([]), unavailable={"net_gex": "no OI"},
    )  # fmt: skip
    combined = all_expiry_gex({EXPIRIES[0]: first, EXPIRIES[1]: empty}, EXPIRIES[0])
    assert combined.expiries == (EXPIRIES[0],)
    assert combined.skipped == {EXPIRIES[1]: "no OI"}
    np.testing.assert_allclose(combined.gex_by_strike, first.gex_by_strike)
    assert combined.gamma_flip == first.gamma_flip


def test_nothing_usable_gives_an_empty_answer():
    combined = all_expiry_gex({})
    assert combined.expiries == () and combined.gamma_flip is None and combined.net_gex is None
