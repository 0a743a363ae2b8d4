"""EngineHistory: bounded event-time memory and the look-back helpers engines use."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.engines.debounce import Debounce, Settled
from core.engines.history import EngineHistory
from tests.core.engines.builders import STRIKES, T0, chain, feed, make_metrics, ramp


def test_update_refuses_older_event_time():
    h = EngineHistory("NIFTY")
    assert h.update(make_metrics(ts=T0 + 10))
    assert not h.update(make_metrics(ts=T0 + 5))
    assert h.update(make_metrics(ts=T0 + 10))  # same time is fine (several updates per second)
    assert h.last_ts == T0 + 10 and len(h.spot) == 2


def test_memory_is_bounded():
    h = EngineHistory("NIFTY", capacity=100, oi_grid_s=30.0, oi_retention_s=90.0)
    for i in range(1000):
        h.update(make_metrics(ts=T0 + i, spot=25000.0 + i, **chain(call_oi={25000.0: 1e6 + i})))
    assert len(h.spot) == 100 and len(h.oi) == 4  # 90 s of 30 s grid points, plus the current one
    assert [s.ts for s in h.oi] == [T0 + 900.0, T0 + 930.0, T0 + 960.0, T0 + 990.0]
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
    # Held over the window: the sample in force at its start (t - 120 s, exactly on one) counts.
    assert h.min_max(120) == (25479.0, 25599.0)
    assert h.min_max(300, end_ts=h.last_ts - 180) == (25119.0, 25419.0)
    assert h.min_max(300, end_ts=h.last_ts - 179.5) == (25119.0, 25419.0)  # held until the next
    assert h.min_max(300, end_ts=h.last_ts - 179.0) == (25120.0, 25420.0)
    assert h.min_max(60, end_ts=h.last_ts - 1e6) is None  # before the first sample


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


def test_oi_grid_holds_the_chain_as_of_each_grid_time_and_flow_against_base():
    h = EngineHistory("NIFTY", oi_grid_s=30.0)
    h.update(make_metrics(ts=T0))
    h.update(make_metrics(ts=T0 + 1))
    assert [s.ts for s in h.oi] == [T0]
    later = make_metrics(
        ts=T0 + 180, **chain(put_oi={24900.0: 1.1e6, 25000.0: 1.2e6}, put_ltp={25000.0: 90.0})
    )
    h.update(later)
    # 30 s ... 150 s hold the chain of T0 + 1 (nothing changed before 180 s); 180 s is the new one.
    assert [s.ts - T0 for s in h.oi] == [0.0, 30.0, 60.0, 90.0, 120.0, 150.0, 180.0]
    assert h.oi[-2].put_oi[list(STRIKES).index(25000.0)] == 1e6
    assert h.oi[-1].put_oi[list(STRIKES).index(25000.0)] == 1.2e6
    flow = h.oi_flow(later, "PE", 24900.0, 25000.0, T0 + 10)
    assert flow.d_oi == pytest.approx(300_000.0) and flow.strikes == 3
    assert flow.d_premium == pytest.approx(-10 / 3)
    assert flow.writing(0.002) and not flow.buying(0.002)
    assert h.oi_flow(later, "CE", 24900.0, 25000.0, T0 + 10).d_oi == 0.0


def test_a_window_older_than_the_grid_is_not_evaluable_with_a_reason():
    h = EngineHistory("NIFTY", oi_grid_s=30.0)
    h.update(make_metrics(ts=T0 + 15))  # off the grid: the first grid point is T0 + 30
    m = make_metrics(ts=T0 + 200, **chain(put_oi={25000.0: 2e6}))
    h.update(m)
    base, reason = h.oi_base(T0 + 20)
    assert base is None and "covers 170 s" in reason and "needs 180 s" in reason
    assert h.oi_flow(m, "PE", 24900.0, 25000.0, T0 + 20) is None  # never the oldest sample instead
    assert h.oi_base(T0 + 30)[0].ts == T0 + 30


def test_grid_samples_do_not_depend_on_how_the_chain_was_delivered():
    """The same change delivered at once at 60 s, or leg by leg over 60-90 s, gives the same grid
    sample at 90 s and 120 s; only the samples inside the delivery differ."""
    new_puts = {k: 1.5e6 for k in STRIKES}
    at_once, by_leg = EngineHistory("NIFTY"), EngineHistory("NIFTY")
    for h in (at_once, by_leg):
        h.update(make_metrics(ts=T0))
    at_once.update(make_metrics(ts=T0 + 60, **chain(put_oi=new_puts)))
    for i, k in enumerate(STRIKES):
        done = {s: 1.5e6 for s in STRIKES[: i + 1]}
        by_leg.update(make_metrics(ts=T0 + 61 + i, **chain(put_oi=done)))
        assert k in done
    for h in (at_once, by_leg):
        h.update(make_metrics(ts=T0 + 125, **chain(put_oi=new_puts)))
    for t in (T0 + 90, T0 + 120):
        a, b = at_once.oi_base(t)[0], by_leg.oi_base(t)[0]
        assert np.array_equal(a.put_oi, b.put_oi) and np.array_equal(a.call_oi, b.call_oi)


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


def test_volume_rate_and_median_minute_volume():
    h = EngineHistory("NIFTY")
    base = make_metrics()
    feed(
        h,
        np.full(1900, 25000.0),
        base=base,
        per_step=lambda i, _: {"total_call_volume": 60.0 * i, "total_put_volume": 0.0},
    )
    assert h.volume_rate(T0 + 100, T0 + 160) == pytest.approx(3600.0)
    assert h.volume_rate(T0 + 100, T0 + 130) == pytest.approx(3600.0)  # units per minute
    assert h.median_minute_volume(T0 + 1800) == pytest.approx(3600.0)
    assert h.volume_rate(T0 - 100, T0 + 10) is None


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


def sampled(times: list[float], spots: list[float], **fields) -> EngineHistory:
    """A history fed at the given event times (seconds after T0), as a snapshot feed samples."""
    h = EngineHistory("NIFTY")
    for t, spot in zip(times, spots, strict=True):
        h.update(make_metrics(ts=T0 + t, spot=spot, **{k: v(t) for k, v in fields.items()}))
    return h


@pytest.mark.parametrize("lead", [60.0, 61.0, 57.0])
def test_a_spike_on_one_minute_snapshots_starts_at_the_sample_a_minute_before(lead):
    """The sample one `lead_s` before the extreme (a second or two either way) is the spike's start."""
    times = [0.0, 60.0, 120.0, 120.0 + lead, 180.0 + lead]
    h = sampled(times, [25040.0, 25041.0, 25040.0, 24990.0, 25030.0])
    s = h.spike("below", 300, 60)
    assert (s.start, s.extreme) == (25040.0, 24990.0) and s.extreme_ts - s.start_ts == lead
    assert s.retrace == pytest.approx(0.8)


def test_a_spike_start_further_back_than_the_tolerance_is_no_spike():
    h = sampled([0.0, 60.0, 127.0, 187.0], [25040.0, 25040.0, 24990.0, 25030.0])  # 67 s: > 60 s + 10 %
    s = h.spike("below", 300, 60)
    assert s.start == s.extreme and s.move_pct == 0.0


def test_a_pierce_in_the_windows_first_sample_has_its_origin_just_before_the_window():
    h = sampled([0.0, 60.0, 120.0, 180.0, 240.0], [25010.0, 25005.0, 24970.0, 24990.0, 25010.0])
    p = h.pierce(25000.0, "below", 180, 0.001)  # window (60 s, 240 s]: the origin at 60 s is its edge
    assert p is not None and (p.extreme, p.extreme_ts, p.cross_ts) == (24970.0, T0 + 120, T0 + 60)


def test_a_pierce_origin_reaches_back_one_sample_and_at_most_two_minutes():
    h = sampled([0.0, 300.0, 600.0], [25010.0, 24970.0, 25010.0])  # a 5-minute feed
    assert h.pierce(25000.0, "below", 500, 0.001).cross_ts == T0  # 100 s before the window
    assert h.pierce(25000.0, "below", 420, 0.001) is None  # 180 s before it: too far
    # The extreme itself stays inside the window: a low before it is no pierce of this window.
    assert h.pierce(25000.0, "below", 250, 0.001) is None


def test_minute_volume_rates_come_from_the_real_sample_intervals():
    """A 5-minute feed trading 300 units a minute: 1,500 units between samples, none on most of
    a 1-minute grid, yet 300 a minute throughout."""
    times = [300.0 * k for k in range(8)]
    h = sampled(times, [25000.0] * 8, total_call_volume=lambda t: 5.0 * t, total_put_volume=lambda t: 0.0)
    assert h.median_minute_volume(T0 + 2100) == pytest.approx(300.0)
    assert h.volume_rate(T0 + 1770, T0 + 1830) == pytest.approx(300.0)  # the interval into 1800 s
    assert h.volume_rate(T0 + 1810, T0 + 1830) is None  # one sample: no interval to rate


def test_sample_interval_is_the_median_spacing_of_spot_observations():
    h = sampled([0.0, 300.0, 598.0, 900.0, 1203.0], [25000.0, 25010.0, 25005.0, 25020.0, 25015.0])
    assert h.sample_interval_s() == pytest.approx(301.0)
    assert EngineHistory("NIFTY").sample_interval_s() is None
    # A snapshot source delivered leg by leg repeats an unchanged spot every second: still 5 minutes.
    h = EngineHistory("NIFTY")
    for t in range(0, 1201):
        h.update(make_metrics(ts=T0 + t, spot=25000.0 + 5 * (t // 300)))
    assert h.sample_interval_s() == pytest.approx(300.0)


@pytest.mark.parametrize(
    ("every", "coarse"), [(1.0, False), (60.0, False), (66.0, False), (70.0, True), (300.0, True)]
)
def test_a_rule_needing_two_samples_within_a_minute_is_too_coarse_beyond_66_s(every, coarse):
    h = sampled([every * k for k in range(10)], [25000.0 + k for k in range(10)])
    reason = h.too_coarse(60.0, samples=2)
    assert (reason is not None) is coarse
    if coarse:
        assert reason.startswith(f"spot sampled every ~{every:.0f} s")


def test_a_flow_window_runs_back_from_each_legs_own_last_tick_not_the_clock():
    """Snapshots at 0, 300 and 600 s (after one at -300 s, which only establishes the chain's
    legs: a first observation is never a reading). Read at 950 s (no new data since 600 s), each
    leg's 600 s window starts from the observation its value belongs to, 600 s (a base up to 10 %
    younger accepted): the base is the chain of 0 s whatever the clock says. The 600 s chain
    streamed 30 s late (its legs stamped 630 s) gets the same."""

    def read(last_chain_ts: float) -> float:
        h = EngineHistory("NIFTY")
        for t, oi in ((-300, 0.9e6), (0, 1.0e6), (300, 1.1e6), (last_chain_ts, 1.2e6)):
            h.update(make_metrics(ts=T0 + t, **chain(put_oi={25000.0: oi})))
        legs = np.full(len(STRIKES), T0 + last_chain_ts)
        m = replace(make_metrics(ts=T0 + 950, **chain(put_oi={25000.0: 1.2e6})), put_ts=legs, call_ts=legs)
        h.update(m)
        flow, why = h.oi_flow_over(m, "PE", 25000.0, 25000.0, 600.0)
        assert why == "" and flow.strikes == 1
        # Measured from the clock (950 - 600 = 350 s) the base would be the 300 s chain: +0.1e6.
        assert h.oi_flow(m, "PE", 25000.0, 25000.0, T0 + 350).d_oi == pytest.approx(0.1e6)
        return flow.d_oi

    assert read(600.0) == pytest.approx(0.2e6) and read(630.0) == pytest.approx(0.2e6)


def test_a_leg_window_before_the_history_is_not_evaluable():
    h = EngineHistory("NIFTY")
    m = make_metrics(ts=T0 + 300)
    h.update(make_metrics(ts=T0))  # a first observation only establishes the chain's legs
    h.update(make_metrics(ts=T0 + 60))
    h.update(m)
    flow, why = h.oi_flow_over(m, "PE", 24900.0, 25000.0, 600.0)
    assert flow is None and "covers 240 s" in why


def test_a_settled_state_carries_the_data_seen_before_it_qualified_not_after():
    d = Debounce(120.0)
    assert d.update(T0, "LONG", "seen at 0") == []
    assert d.update(T0 + 300, "LONG", "seen at 300") == [Settled("LONG", T0 + 120, "seen at 0")]
    d = Debounce(120.0)
    d.update(T0, "SHORT", "a")
    d.update(T0 + 60, "SHORT", "b")
    assert d.update(T0 + 120, "SHORT", "c") == [Settled("SHORT", T0 + 120, "c")]  # qualifies now
    assert d.update(T0 + 200, "NEUTRAL", "d") == [] and d.state == "SHORT"


def test_a_window_base_is_the_observation_nearest_its_start_on_a_wobbling_feed():
    """Snapshots 260 and 270 s apart (a collector's clock): the 600 s window from 530 s reaches
    back to -70 s, but the observation nearest its start is the one at 0 s, half an observation
    interval being accepted; a clock-exact window would call it not evaluable. (The snapshot at
    -265 s only establishes the chain's legs: a first observation is never a reading.)"""
    h = EngineHistory("NIFTY")
    snapshots = ((-265, 0.9e6, 24990.0), (0, 1.0e6, 25000.0), (260, 1.1e6, 25010.0), (530, 1.3e6, 25020.0))
    for t, oi, spot in snapshots:
        m = make_metrics(ts=T0 + t, spot=spot, **chain(put_oi={25000.0: oi}))
        h.update(m)
    assert h.window_slack(600.0) == pytest.approx(132.5)  # half the 265 s median interval
    flow, why = h.oi_flow_over(m, "PE", 25000.0, 25000.0, 600.0)
    assert why == "" and flow.d_oi == pytest.approx(0.3e6)


def test_no_state_is_carried_across_a_long_gap_in_the_data():
    d = Debounce(120.0, 0.0, max_gap_s=900.0)
    d.update(T0, "SHORT")
    assert d.update(T0 + 300, "SHORT") == [Settled("SHORT", T0 + 120, None)] and d.state == "SHORT"
    assert d.update(T0 + 300 + 5880, "SHORT") == [] and d.state is None  # 98 minutes later
    assert d.update(T0 + 6300, "SHORT") == [Settled("SHORT", T0 + 6180 + 120, None)]


def test_a_feed_that_updates_every_15_minutes_keeps_its_state_between_updates():
    d = Debounce(120.0, 0.0)
    settled = [s for i in range(6) for s in d.update(T0 + 905.0 * i, "LONG")]
    assert settled == [Settled("LONG", T0 + 120, None)] and d.state == "LONG"
    assert d.update(T0 + 905.0 * 5 + 1801, "LONG") == [] and d.state is None  # over 30 minutes
