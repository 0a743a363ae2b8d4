"""Black-76 kernels against the SPEC check values, vollib, finite differences; IV solver; GEX kernels."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import vollib.black as vb
import vollib.black.greeks.analytical as vga
import vollib.black.implied_volatility as vbi

from core.analytics import greeks as g

SPEC = dict(F=25000.0, K=25000.0, T=7 / 365, r=0.055, sigma=0.12)
GRID = list(
    itertools.product(
        ("CE", "PE"),
        (21000.0, 23500.0, 25000.0, 26500.0, 29000.0),
        (1 / 365, 7 / 365, 30 / 365, 0.5),
        (0.08, 0.15, 0.3, 0.8),
    )
)


def test_spec_check_values():
    args = (SPEC["F"], SPEC["K"], SPEC["T"], SPEC["r"], SPEC["sigma"])
    assert g.black76_price("CE", *args) == pytest.approx(165.5659, abs=5e-5)
    assert g.black76_price("PE", *args) == pytest.approx(165.5659, abs=5e-5)
    assert g.delta("CE", *args) == pytest.approx(0.502784, abs=5e-7)
    assert g.gamma("CE", *args) == pytest.approx(0.000959, abs=5e-7)
    assert g.vega("CE", *args) == pytest.approx(1379.68, abs=5e-3)


def test_flags_accept_signs_and_names_and_reject_garbage():
    assert list(g.flag_sign(["CE", "pe", "c", "PUT"])) == [1.0, -1.0, 1.0, -1.0]
    assert list(g.flag_sign(np.array([1, -1]))) == [1.0, -1.0]
    with pytest.raises(ValueError):
        g.flag_sign(["XX"])
    with pytest.raises(ValueError):
        g.flag_sign(0)


@pytest.mark.parametrize(("flag", "K", "T", "sigma"), GRID)
def test_matches_vollib(flag, K, T, sigma):
    F, r, f = 25000.0, 0.055, flag[0].lower()
    assert g.black76_price(flag, F, K, T, r, sigma) == pytest.approx(
        vb.black(f, F, K, T, r, sigma), rel=1e-9, abs=1e-9
    )
    assert g.delta(flag, F, K, T, r, sigma) == pytest.approx(
        vga.delta(f, F, K, T, r, sigma), rel=1e-9, abs=1e-12
    )
    assert g.gamma(flag, F, K, T, r, sigma) == pytest.approx(
        vga.gamma(f, F, K, T, r, sigma), rel=1e-9, abs=1e-15
    )
    # vollib's vega is per vol point (1 %); ours is per 1.00 of sigma.
    assert g.vega(flag, F, K, T, r, sigma) == pytest.approx(
        100 * vga.vega(f, F, K, T, r, sigma), rel=1e-9, abs=1e-9
    )
    # both thetas are per calendar day
    assert g.theta(flag, F, K, T, r, sigma) == pytest.approx(
        vga.theta(f, F, K, T, r, sigma), rel=1e-8, abs=1e-9
    )


def test_vectorised_call_equals_scalar_calls():
    flags, K, T, sigma = (np.array(col) for col in zip(*GRID, strict=True))
    vec = g.black76_price(flags, 25000.0, K, T, 0.055, sigma)
    one_by_one = [float(g.black76_price(f, 25000.0, k, t, 0.055, s)) for f, k, t, s in GRID]
    assert np.allclose(vec, one_by_one, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("flag", "K", "T", "sigma"), GRID[::3])
def test_greeks_match_finite_differences(flag, K, T, sigma):
    F, r = 25000.0, 0.055

    def price(f=F, t=T, s=sigma):
        return float(g.black76_price(flag, f, K, t, r, s))

    h, ds, dt = F * 1e-4, 1e-5, min(T, 1 / 365) * 1e-3
    scale = max(price(), 1.0)
    assert g.delta(flag, F, K, T, r, sigma) == pytest.approx(
        (price(F + h) - price(F - h)) / (2 * h), abs=1e-6
    )
    fd_gamma = (price(F + h) - 2 * price() + price(F - h)) / (h * h)
    assert g.gamma(flag, F, K, T, r, sigma) == pytest.approx(fd_gamma, rel=1e-3, abs=1e-9)
    fd_vega = (price(s=sigma + ds) - price(s=sigma - ds)) / (2 * ds)
    assert g.vega(flag, F, K, T, r, sigma) == pytest.approx(fd_vega, rel=1e-5, abs=1e-6 * scale)
    fd_theta = -(price(t=T + dt) - price(t=T - dt)) / (2 * dt) / 365
    assert g.theta(flag, F, K, T, r, sigma) == pytest.approx(fd_theta, rel=1e-4, abs=1e-6 * scale)


def test_put_call_parity_holds():
    K = np.linspace(20000, 30000, 41)
    call = g.black76_price("CE", 25000.0, K, 0.1, 0.055, 0.2)
    put = g.black76_price("PE", 25000.0, K, 0.1, 0.055, 0.2)
    assert np.allclose(call - put, math.exp(-0.055 * 0.1) * (25000.0 - K), atol=1e-8)


def test_implied_vol_round_trip_over_grid():
    flags, K, T, sigma = (np.array(col) for col in zip(*GRID, strict=True))
    prices = g.black76_price(flags, 25000.0, K, T, 0.055, sigma)
    # Legs whose time value is below a paisa carry no vol information; a real chain never quotes them.
    time_value = prices - np.exp(-0.055 * T) * np.maximum(g.flag_sign(flags) * (25000.0 - K), 0.0)
    meaningful = time_value > 0.01
    iv, reason = g.implied_vol(prices, 25000.0, K, T, 0.055, flags)
    assert meaningful.sum() > 100
    assert np.all(reason[meaningful] == "")
    assert np.allclose(iv[meaningful], sigma[meaningful], rtol=0, atol=1e-6)


def _has_time_value(flag: str, K: float, T: float, sigma: float) -> bool:
    """At least a paisa of time value: below that the vol is not identified by the price."""
    price = vb.black(flag[0].lower(), 25000.0, K, T, 0.055, sigma)
    return price - math.exp(-0.055 * T) * max((25000.0 - K) * (1 if flag == "CE" else -1), 0.0) >= 0.01


@pytest.mark.parametrize(("flag", "K", "T", "sigma"), [leg for leg in GRID if _has_time_value(*leg)])
def test_implied_vol_matches_vollib(flag, K, T, sigma):
    F, r = 25000.0, 0.055
    price = vb.black(flag[0].lower(), F, K, T, r, sigma)
    ours, reason = g.implied_vol(price, F, K, T, r, flag)
    assert reason == ""
    assert float(ours) == pytest.approx(vbi.implied_volatility(price, F, K, r, T, flag[0].lower()), abs=1e-7)


def test_bad_legs_give_nan_and_reason_without_raising():
    F, T, r = 25000.0, 7 / 365, 0.055
    prices = [np.nan, 0.0, -5.0, 900.0, 30000.0, 165.5659, 1e-9, 165.0, 165.0]
    strikes = [25000.0, 25000.0, 25000.0, 24000.0, 25000.0, 25000.0, 25000.0, 25000.0, 25000.0]
    flags = ["CE"] * 9
    Ts = [T] * 7 + [0.0, T]
    Fs = [F] * 8 + [np.nan]
    iv, reason = g.implied_vol(prices, Fs, strikes, Ts, r, flags)
    assert list(reason) == [
        "no_price",
        "no_price",
        "no_price",
        "below_intrinsic",  # 1000 points in the money cannot cost 900
        "above_bound",  # a call cannot cost more than the discounted forward
        "",
        "out_of_range",  # an ATM call this cheap needs a vol below 1 %
        "no_price",  # T = 0
        "no_price",  # NaN forward
    ]
    assert np.isnan(iv[[0, 1, 2, 3, 4, 6, 7, 8]]).all()
    assert iv[5] == pytest.approx(0.12, abs=1e-6)


def test_implied_vol_keeps_input_shape():
    prices = g.black76_price(g.SIGN, 25000.0, np.array([24900.0, 25000.0, 25100.0]), 0.02, 0.055, 0.15)
    iv, reason = g.implied_vol(prices, 25000.0, np.array([24900.0, 25000.0, 25100.0]), 0.02, 0.055, g.SIGN)
    assert iv.shape == reason.shape == (2, 3)
    assert np.allclose(iv, 0.15, atol=1e-7)


def test_gex_per_leg_units_and_signs():
    gamma = np.array([[0.001, np.nan], [0.002, 0.0005]])
    oi = np.array([[100_000.0, 50_000.0], [200_000.0, 0.0]])
    out = g.gex_per_leg(gamma, oi, 25000.0)
    # 0.001 * 100000 units * 25000^2 * 0.01 = 625,000,000 rupees per 1 % move
    assert out[0, 0] == pytest.approx(6.25e8)
    assert out[1, 0] == pytest.approx(-2 * 2 * 6.25e8)
    assert out[0, 1] == 0.0 and out[1, 1] == 0.0


def test_gex_profile_at_spot_equals_direct_gex():
    strikes = np.array([24800.0, 25000.0, 25200.0])
    iv = np.array([[0.13, 0.12, 0.11], [0.14, 0.125, 0.12]])
    oi = np.array([[1e5, 3e5, 5e5], [4e5, 2e5, 1e5]])
    F, S, T, r = 25030.0, 25000.0, 10 / 365, 0.055
    grid, profile = g.gex_profile(strikes, iv, oi, F, S, T, r, 10.0)
    assert grid[0] == pytest.approx(S * 0.95) and grid[-1] == pytest.approx(S * 1.05)
    assert np.allclose(np.diff(grid), 10.0)
    at = int(np.argmin(np.abs(grid - S)))
    direct = g.gex_per_leg(g.gamma(g.SIGN, F * grid[at] / S, strikes, T, r, iv), oi, grid[at]).sum()
    assert profile[at] == pytest.approx(direct, rel=1e-10)


def test_gamma_flip_interpolates_the_crossing_nearest_spot():
    grid = np.array([90.0, 100.0, 110.0, 120.0, 130.0])
    profile = np.array([-3.0, 1.0, 2.0, -2.0, -1.0])  # crossings at 97.5 and 115
    assert g.gamma_flip(grid, profile, 112.0) == (pytest.approx(115.0), "crossing")
    assert g.gamma_flip(grid, profile, 95.0) == (pytest.approx(97.5), "crossing")


def test_gamma_flip_without_crossing():
    grid = np.arange(5.0)
    assert g.gamma_flip(grid, np.array([1.0, 2, 3, 2, 1]), 2.0) == (None, "all positive")
    assert g.gamma_flip(grid, -np.array([1.0, 2, 3, 2, 1]), 2.0) == (None, "all negative")


def test_chain_kernels_give_each_chain_its_own_call_bit_for_bit():
    """implied_vol_chains and black76_greeks_chains (one call for several expiries) return exactly
    what implied_vol and black76_greeks give chain by chain, unsolvable legs and reasons included."""
    rng = np.random.default_rng(3)
    chains = []
    for F, T, n in ((25010.0, 3 / 365, 41), (25060.0, 10 / 365, 21), (25150.0, 31 / 365, 7)):
        K = 25000.0 + 50.0 * np.arange(-(n // 2), n // 2 + 1)
        sigma = rng.uniform(0.08, 0.4, (2, n))
        price = g.black76_price(g.SIGN, F, K, T, 0.055, sigma) * rng.uniform(0.98, 1.02, (2, n))
        price[0, 0], price[1, -1] = np.nan, 1e9  # no price, above the bound
        chains.append((price, F, K, T))
    together = g.implied_vol_chains(chains, 0.055)
    for (price, F, K, T), (iv, reason) in zip(chains, together, strict=True):
        want_iv, want_reason = g.implied_vol(price, F, K, T, 0.055, g.SIGN)
        assert iv.tobytes() == want_iv.tobytes() and reason.tolist() == want_reason.tolist()
    inputs = [(F, K, T, iv) for (_, F, K, T), (iv, _) in zip(chains, together, strict=True)]
    for (F, K, T, iv), found in zip(inputs, g.black76_greeks_chains(inputs, 0.055), strict=True):
        want = g.black76_greeks(g.SIGN, F, K, T, 0.055, iv)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(found, want, strict=True))
    assert g.implied_vol_chains([], 0.055) == [] and g.black76_greeks_chains([], 0.055) == []
