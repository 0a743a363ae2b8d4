"""Spot features on snapshot feeds: samples a minute or five apart, stamped a second early or late."""

from __future__ import annotations

import numpy as np
import pytest

from core.analytics.regime import spot_features

NOW = 1_800_000_000.0


def every(step_s: float, minutes: int, amplitude: float = 0.0005) -> tuple[np.ndarray, np.ndarray]:
    """Samples `step_s` apart over `minutes`, ending at NOW; log price zigzags by `amplitude`."""
    n = int(minutes * 60 / step_s) + 1
    ts = NOW - step_s * np.arange(n)[::-1]
    return ts, 25000.0 * np.exp(np.where(np.arange(n) % 2 == 1, amplitude, 0.0))


def test_vol_spike_ratio_on_one_minute_samples_counts_the_return_into_the_window():
    """Five samples lie inside (now - 5 min, now]; the one at the window's start opens the fifth return."""
    f = spot_features(*every(60.0, 40), NOW)
    assert f.vol_spike_ratio == pytest.approx(1.0)
    assert "vol_spike_ratio" not in f.missing


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_features_on_minute_snapshots_do_not_depend_on_sub_second_stamps(seed):
    """The same 40 minutes of 1-minute observations, stamped on the minute (a snapshot replay) and
    each up to a second later (a stream stamps an observation with the update that brought it,
    along with that second's legs): the windows' starts fall between observations, so both take
    the same ones. Here the observation 5 minutes back is stamped later than the latest one, which
    put it outside a window that started exactly 5 minutes before."""
    rng = np.random.default_rng(seed)
    ts, _ = every(60.0, 40)
    spot = 25000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, len(ts))))
    late = ts + rng.uniform(0.0, 1.0, len(ts))
    late[-1], late[-6], late[-31] = NOW + 0.2, NOW - 300.0 + 0.8, NOW - 1800.0 + 0.9
    on_minute, stream = spot_features(ts, spot, NOW), spot_features(late, spot, NOW + 0.2)
    for name in ("ret_1m", "ret_5m", "range_5m", "vol_spike_ratio"):
        assert getattr(stream, name) == pytest.approx(getattr(on_minute, name), rel=0.02), name
    assert stream.realized_vol_30m == pytest.approx(on_minute.realized_vol_30m, rel=0.02)


def test_vol_spike_ratio_is_not_evaluable_on_five_minute_samples_and_says_why():
    f = spot_features(*every(300.0, 120), NOW)
    assert f.realized_vol_30m is not None and f.vol_spike_ratio is None
    assert f.missing["vol_spike_ratio"] == (
        "5-minute vol: not evaluable at this resolution: spot observed every ~300 s; "
        "1 of the 5 returns it needs in 300 s"
    )


def test_a_gap_is_not_called_a_resolution_limit():
    ts, spot = every(60.0, 40)
    keep = (ts <= NOW - 240) | (ts == NOW)  # nothing for the last four minutes
    spot = np.where(ts == NOW, spot * 1.001, spot)  # a new observation (an unchanged one is none)
    f = spot_features(ts[keep], spot[keep], NOW)
    assert f.missing["vol_spike_ratio"].startswith("5-minute vol: gap in the spot history")


@pytest.mark.parametrize("before", [610.0, 599.0])
def test_a_five_minute_return_takes_the_snapshot_stamped_299_s_back(before):
    """A 5-minute feed whose clock wobbles: the 299-s-old snapshot stands for 5 minutes ago, not
    the one before it (10 minutes back, or past the two-horizon limit)."""
    ts = np.array([NOW - before, NOW - 299.0, NOW])
    f = spot_features(ts, np.array([24000.0, 25000.0, 25100.0]), NOW)
    assert f.ret_5m == pytest.approx(25100.0 / 25000.0 - 1)


def test_a_one_minute_return_on_a_jittery_minute_feed_is_over_one_minute():
    ts = np.array([NOW - 119.0, NOW - 59.0, NOW])
    f = spot_features(ts, np.array([25010.0, 24990.0, 25000.0]), NOW)
    assert f.ret_1m == pytest.approx(25000.0 / 24990.0 - 1) and f.ret_1m > 0


def test_a_dense_feed_still_takes_the_sample_exactly_one_horizon_back():
    ts = NOW - np.arange(400.0)[::-1]
    spot = 25000.0 + ts - ts[0]
    f = spot_features(ts, spot, NOW)
    assert f.ret_1m == pytest.approx(spot[-1] / spot[-61] - 1)
    assert f.ret_5m == pytest.approx(spot[-1] / spot[-301] - 1)


def test_a_return_needs_a_sample_from_0_9_to_2_horizons_back():
    young = spot_features(np.array([NOW - 260.0, NOW]), np.array([25000.0, 25010.0]), NOW)
    assert young.ret_5m is None and young.missing["ret_5m"] == "spot history does not cover 300 s yet"
    old = spot_features(np.array([NOW - 700.0, NOW]), np.array([25000.0, 25010.0]), NOW)
    assert old.ret_5m is None and "no sample 270-600 s old" in old.missing["ret_5m"]


def test_features_change_only_when_spot_does():
    """Spot observed every 5 minutes but re-published every second (a chain streamed leg by leg):
    the features at any second between two observations equal those at the last observation."""
    ts, spot = every(300.0, 120, amplitude=0.002)
    at_obs = spot_features(ts, spot, NOW)
    dense_ts = np.arange(ts[0], NOW + 200.0, 1.0)
    dense = spot[np.searchsorted(ts, dense_ts, side="right") - 1]
    later = spot_features(dense_ts, dense, NOW + 200.0)
    assert (later.ret_1m, later.ret_5m, later.range_5m) == (at_obs.ret_1m, at_obs.ret_5m, at_obs.range_5m)
    assert later.realized_vol_30m == pytest.approx(at_obs.realized_vol_30m)
    assert later.vol_spike_ratio == at_obs.vol_spike_ratio is None
