"""ChainArrays and ChainCache: a chain rebuilt only where a leg ticked equals one built from scratch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.analytics.chain_arrays import ChainArrays, ChainCache
from tests.factories import DEFAULT_EXPIRIES, make_chain, make_tick

EXPIRY = DEFAULT_EXPIRIES[0]


def _same(a: ChainArrays, b: ChainArrays) -> bool:
    return (
        np.array_equal(a.strikes, b.strikes)
        and np.array_equal(a.data, b.data, equal_nan=True)
        and np.array_equal(a.premium, b.premium, equal_nan=True)
    )


def test_unchanged_ticks_give_the_very_same_read_only_chain():
    legs = make_chain(strikes_each_side=3).legs_for(EXPIRY)
    cache = ChainCache()
    first = cache.build(legs)
    assert cache.build(list(legs)) is first
    with pytest.raises(ValueError):
        first.data[0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        first.premium[0, 0] = 1.0


def test_new_ticks_on_known_legs_patch_only_their_cells():
    legs = make_chain(strikes_each_side=5).legs_for(EXPIRY)
    cache = ChainCache()
    before = cache.build(legs)
    rng = np.random.default_rng(7)
    for _ in range(20):
        legs = list(legs)
        for i in rng.choice(len(legs), size=3, replace=False):
            t = legs[i]
            legs[i] = replace(t, ltp=t.ltp + 0.5, oi=None if rng.random() < 0.3 else 1e6, bid=None)
        after = cache.build(legs)
        assert after is not before and _same(after, ChainArrays.from_legs(legs))
        before = after


def test_a_new_or_vanished_strike_rebuilds_the_chain():
    legs = make_chain(strikes_each_side=3).legs_for(EXPIRY)
    cache = ChainCache()
    cache.build(legs)
    fewer = legs[2:]
    assert _same(cache.build(fewer), ChainArrays.from_legs(fewer))
    moved = [replace(fewer[0], strike=fewer[0].strike + 25.0), *fewer[1:]]
    assert _same(cache.build(moved), ChainArrays.from_legs(moved))


def test_legs_without_strike_or_right_are_left_out():
    legs = [make_tick(strike=25000.0, right="CE", ltp=10.0), make_tick(strike=None, right=None, ltp=1.0)]
    cache = ChainCache()
    cache.build(legs)
    legs[1] = replace(legs[1], ltp=2.0)
    chain = cache.build(legs)
    assert chain.strikes.tolist() == [25000.0] and chain["ltp"][0, 0] == 10.0
    assert np.isnan(chain["ltp"][1, 0])
