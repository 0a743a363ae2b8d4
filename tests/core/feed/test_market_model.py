"""Simulator market maths: OI shape, spreads, Black-76, the IV smile and regime switching."""

from __future__ import annotations

import numpy as np
from vollib.black import black

from core.feed import market_model as mm


def test_oi_peaks_at_round_strikes():
    K = 25000.0 + 50.0 * np.arange(-20, 21)
    prof = mm.oi_profile(K, 25000.0, 50.0, np.ones(len(K), bool))
    # 25500 (a 10-step multiple) beats its neighbours despite being further out.
    i = int(np.flatnonzero(K == 25500.0)[0])
    assert prof[i] > prof[i - 1] and prof[i] > prof[i + 1]


def test_spreads_widen_out_of_the_money_and_in_volatile_regimes():
    calm = mm.RegimeChain(np.random.default_rng(1), "calm", True).fill(mm.REGIMES["calm"])
    wild = mm.RegimeChain(np.random.default_rng(1), "volatile", True).fill(mm.REGIMES["volatile"])
    K = np.array([25000.0, 26000.0])
    price = np.array([200.0, 200.0])
    bid, ask = mm.quote(price, K, 25000.0, 50.0, calm)
    wbid, wask = mm.quote(price, K, 25000.0, 50.0, wild)
    assert ask[1] - bid[1] > ask[0] - bid[0]
    assert wask[0] - wbid[0] > ask[0] - bid[0]


def test_black76_matches_vollib():
    F, T, r = 25100.0, 9 / 365, 0.055
    K = np.array([24000.0, 25000.0, 26000.0])
    sigma = np.array([0.15, 0.12, 0.11])
    for is_call, flag in ((True, "c"), (False, "p")):
        ours = mm.black76(np.full(3, is_call), F, K, T, r, sigma)
        ref = [black(flag, F, k, T, r, s) for k, s in zip(K, sigma, strict=True)]
        assert np.allclose(ours, ref, rtol=1e-9, atol=1e-9)


def test_smile_is_skewed_to_puts_and_front_expiry_is_richer_in_volatile_regimes():
    F, T, atm = 25000.0, 14 / 365, 0.12
    iv = mm.smile(np.array([F * 0.95, F, F * 1.05]), F, T, atm)
    assert iv[0] > iv[2] > 0 and abs(iv[1] - atm) < 1e-12
    wild = mm.RegimeChain(np.random.default_rng(1), "volatile", True).fill(mm.REGIMES["volatile"])
    calm = mm.RegimeChain(np.random.default_rng(1), "calm", True).fill(mm.REGIMES["calm"])
    assert mm.atm_iv(0.12, 2 / 365, wild) > mm.atm_iv(0.12, 30 / 365, wild)
    assert mm.atm_iv(0.12, 2 / 365, calm) < mm.atm_iv(0.12, 30 / 365, calm)


def test_switching_regimes_visit_every_regime_while_fixed_never_moves():
    chain = mm.RegimeChain(np.random.default_rng(3), "calm", fixed=False)
    visited = {chain.step(0.5).name for _ in range(200_000)}
    assert visited == set(mm.REGIMES)
    fixed = mm.RegimeChain(np.random.default_rng(3), "trending", fixed=True)
    assert {fixed.step(0.5).name for _ in range(20_000)} == {"trending"}
