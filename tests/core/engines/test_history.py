"""EngineHistory: bounded event-time memory and the look-back helpers engines use."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.engines.history import EngineHistory
from tests.core.engines.builders import STRIKES, T0, chain, feed, make_metrics, ramp


def test_update_refuses_older_event_time():
    h = EngineHistory("NIFTY")
    assert h.update(make_metrics(ts=T0 + 10))
    assert not h.update(make_metrics(ts=T0 + 5))
    assert h.update(make_metrics(ts=T0 + 10))  # same time is fine (several updates per second)
    assert h.last_ts == T0 + 10 and len(h.spot) == 2


def test_memory_is_bounded():
    h = EngineHistory("NIFTY", capacity=100, oi_snapshots=3)
    for i in range(1000):
        h.update(make_metrics(ts=T0 + i, spot=25000.0 + i, **chain(call_oi={25000.0: 1e6 + i})))
    assert len(h.spot) == 100 and len(h.oi) == 3
    assert all(len(b) <= 100 for b in h.metrics.values())


def test_none_fields_are_not_recorded():
    h = EngineHistory("NIFTY")
    h.update(make_metrics(spot=None, pcr_oi=None))
    assert len(h.spot) == 0 and len(h.metrics["pcr_oi"]) == 0 and h.last_ts == T0


def test_value_ago_and_min_max():
    h = EngineHistory("NIFTY")
    feed(h, np.arange(25000.0, 25600.0))  # +1 point per second for 600 s
    assert h.value_ago("spot", 60) == 25539.0
    assert h.value_ago("spot", 10_000) is None
    assert h.min_max(120) == (25480.0, 25599.0)
    assert h.min_max(300, end_offset_s=180) == (25300.0, 25419.0)


def test_sigma_1m_matches_direct_computation():
    rng = np.random.default_rng(1)
    path = 25000.0 * np.exp(np.cumsum(rng.normal(0, 0.0001, 1900)))
    h = EngineHistory("NIFTY")
    feed(h, path)
    grid = path[len(path) - 1 - 60 * np.arange(30, -1, -1)]
    expected = np.std(np.diff(np.log(grid)), ddof=1)
    assert h.sigma_1m(1800) == pytest.approx(expected)
    assert EngineHistory("X").sigma_1m() is None


def test_pierce_needs_origin_side_inside_the_window():
    h = EngineHistory("NIFTY")
    path = np.r_[np.full(60, 25040.0), ramp(25040, 24970, 30), ramp(24970, 25030, 30)]
    feed(h, path)
    p = h.pierce(25000.0, "below", 180, 0.001)
    assert p is not None and p.extreme == 24970.0 and p.depth_pct == pytest.approx(30 / 25000)
    assert p.cross_ts < p.extreme_ts
    assert h.pierce(25000.0, "below", 180, 0.002) is None  # not deep enough
    assert h.pierce(25000.0, "below", 40, 0.001) is None  # crossed before the window began


def test_spike_and_best_retracement():
    h = EngineHistory("NIFTY")
    path = np.r_[
        np.full(100, 25000.0), ramp(25000, 24900, 20), ramp(24900, 24980, 60), ramp(24980, 24950, 20)
    ]
    feed(h, path)
    s = h.spike("below", 300, 60)
    assert s.start == 25000.0 and s.extreme == 24900.0 and s.extreme_ts - s.start_ts == 20
    assert s.retrace == pytest.approx(0.8)  # best rebound, not the current price


def test_oi_snapshots_only_on_change_and_flow_against_base():
    h = EngineHistory("NIFTY")
    h.update(make_metrics(ts=T0))
    h.update(make_metrics(ts=T0 + 1))
    assert len(h.oi) == 1
    later = make_metrics(
        ts=T0 + 180, **chain(put_oi={24900.0: 1.1e6, 25000.0: 1.2e6}, put_ltp={25000.0: 90.0})
    )
    h.update(later)
    assert len(h.oi) == 2
    flow = h.oi_flow(later, "PE", 24900.0, 25000.0, T0 + 10)
    assert flow.d_oi == pytest.approx(300_000.0) and flow.strikes == 3
    assert flow.d_premium == pytest.approx(-10 / 3)
    assert flow.writing(0.002) and not flow.buying(0.002)
    assert h.oi_flow(later, "CE", 24900.0, 25000.0, T0 + 10).d_oi == 0.0


def test_oi_flow_aligns_different_strike_grids():
    h = EngineHistory("NIFTY")
    h.update(make_metrics(ts=T0))
    narrow = STRIKES[2:-2]
    m = make_metrics(
        ts=T0 + 180,
        strikes=narrow,
        call_oi=np.full(len(narrow), 1.5e6),
        put_oi=np.full(len(narrow), 1e6),
        call_ltp=np.full(len(narrow), 120.0),
        put_ltp=np.full(len(narrow), 100.0),
    )
    h.update(m)
    flow = h.oi_flow(m, "CE", 24950.0, 25050.0, T0)
    assert flow.strikes == 3 and flow.d_oi == pytest.approx(1.5e6) and flow.buying(0.01)


def test_volume_between_and_median_minute_volume():
    h = EngineHistory("NIFTY")
    base = make_metrics()
    feed(
        h,
        np.full(1900, 25000.0),
        base=base,
        per_step=lambda i, _: {"total_call_volume": 60.0 * i, "total_put_volume": 0.0},
    )
    assert h.volume_between(T0 + 100, T0 + 160) == pytest.approx(3600.0)
    assert h.median_minute_volume(T0 + 1800) == pytest.approx(3600.0)
    assert h.volume_between(T0 - 100, T0 + 10) is None


def test_legs_without_oi_neither_fake_changes_nor_poison_sums():
    h = EngineHistory("NIFTY")
    arrays = chain()
    gappy = np.array(arrays["put_oi"])
    gappy[3] = np.nan  # a leg that has not reported OI yet
    first = make_metrics(ts=T0, put_oi=gappy)
    h.update(first)
    h.update(replace(first, ts=T0 + 1, put_oi=gappy.copy()))
    assert len(h.oi) == 1  # NaN == NaN here: no new OI update happened
    written = gappy.copy()
    written[-5:] += 50_000.0
    later = replace(first, ts=T0 + 180, put_oi=written)
    h.update(later)
    flow = h.oi_flow(later, "PE", STRIKES[0], STRIKES[-1], T0)
    assert flow.d_oi == pytest.approx(250_000.0) and flow.strikes == len(STRIKES) - 1
