"""LiquidityEngine rules: pierce-and-reclaim core, reclaim depth, volume, volatility, OI defence."""

from __future__ import annotations

import numpy as np
import pytest

from core.engines.history import EngineHistory
from core.engines.liquidity import LiquidityEngine, LiquidityParams
from tests.core.engines.builders import (
    T0,
    calm_path,
    chain,
    make_metrics,
    ramp,
    run,
    stamped,
    volume_per_step,
)

ENGINE = LiquidityEngine()
BASE = make_metrics(support=25000.0, resistance=25150.0)
PRE = 1800  # a 30-minute calm tape before the event


def sweep_path(low: float = 24965.0, back: float = 25040.0, hold: int = 0) -> np.ndarray:
    """Calm above support, a 40 s drop through it to `low`, `hold` s there, 60 s back to `back`."""
    calm = calm_path(PRE, start=25060.0, sigma_1m=0.0002)
    calm = np.clip(calm, 25020.0, None)  # keep the pre-event tape above the level
    return np.r_[calm, ramp(calm[-1], low, 40), np.full(hold, low), ramp(low, back, 60)]


def test_sweep_of_support_and_reclaim_fires_sweep_up():
    result, _, _ = run(ENGINE, sweep_path(), base=BASE)
    assert result.active and result.signal == "SWEEP_UP" and result.direction == "UP"
    assert result.reasons == ("pierce_reclaim_support", "reclaim_half")
    assert result.raw_score == pytest.approx(0.60)
    assert result.features["up_level"] == 25000.0
    assert result.features["up_pierce_pct"] == pytest.approx(35 / 25000, rel=1e-3)


def test_still_below_the_level_is_no_sweep():
    result, _, _ = run(ENGINE, sweep_path(back=24990.0), base=BASE)
    assert not result.active and result.features["up_score"] == 0


def test_pierce_shallower_than_a_tenth_of_a_percent_is_ignored():
    result, _, _ = run(ENGINE, sweep_path(low=24980.0), base=BASE)
    assert not result.active and result.features["up_score"] == 0


def test_reclaim_later_than_three_minutes_is_no_sweep():
    result, _, _ = run(ENGINE, sweep_path(hold=120), base=BASE)
    assert not result.active and result.features["up_score"] == 0


def test_partial_reclaim_scores_only_the_core_and_misses_the_threshold():
    path = sweep_path(back=25010.0)  # 10 points back over a 35-point pierce
    result, _, _ = run(ENGINE, path, base=BASE)
    assert not result.active and result.raw_score == pytest.approx(0.40)
    heavier = LiquidityParams.params_from({"w_pierce": 0.5})
    edge, _, _ = run(ENGINE, path, base=BASE, params=heavier)
    assert edge.active and edge.raw_score == 0.5


def test_volume_spike_in_the_pierce_minute_adds_weight():
    path = sweep_path()
    step = volume_per_step(1000.0, spike_from=PRE + 20, spike_to=PRE + 60, mult=6.0)
    result, _, _ = run(ENGINE, path, base=BASE, per_step=step)
    assert "volume_spike" in result.reasons and result.raw_score == pytest.approx(0.75)
    flat, _, _ = run(ENGINE, path, base=BASE, per_step=volume_per_step(1000.0))
    assert "volume_spike" not in flat.reasons


@pytest.mark.parametrize(
    ("regime", "tag", "score"),
    [
        ("elevated", "vol_elevated", 0.70),
        ("extreme", "vol_extreme", 0.75),
        ("normal", None, 0.60),
        (None, None, 0.60),
    ],
)
def test_volatility_regime_weights(regime, tag, score):
    result, _, _ = run(ENGINE, sweep_path(), base=BASE, volatility_regime=regime)
    assert result.raw_score == pytest.approx(score)
    assert (tag in result.reasons) if tag else not any(r.startswith("vol_") for r in result.reasons)


def test_put_oi_rising_at_the_swept_strike_counts_as_defence():
    def step(i: int, _spot: float) -> dict:
        return chain(put_oi={25000.0: 1.3e6}) if i >= PRE + 30 else chain()

    result, _, _ = run(ENGINE, sweep_path(), base=BASE, per_step=step)
    assert "oi_defending_level" in result.reasons and result.raw_score == pytest.approx(0.75)
    assert result.features["up_level_oi_change"] == pytest.approx(300_000.0)


def test_sweep_of_resistance_fires_sweep_down():
    calm = np.clip(calm_path(PRE, start=25100.0, sigma_1m=0.0002), None, 25130.0)
    path = np.r_[calm, ramp(calm[-1], 25185.0, 40), ramp(25185.0, 25110.0, 60)]
    result, _, _ = run(ENGINE, path, base=BASE)
    assert result.signal == "SWEEP_DOWN" and result.direction == "DOWN"
    assert result.reasons == ("pierce_reclaim_resistance", "reclaim_half")


def test_put_wall_and_recent_low_are_levels_too():
    no_support = make_metrics(put_wall=25000.0)
    result, _, _ = run(ENGINE, sweep_path(), base=no_support)
    assert result.reasons[0] == "pierce_reclaim_put_wall"
    bare = make_metrics()
    path = np.r_[
        np.full(600, 25060.0),
        np.full(60, 25000.0),
        np.full(300, 25060.0),
        ramp(25060, 24960, 40),
        ramp(24960, 25040, 60),
    ]
    result, _, _ = run(ENGINE, path, base=bare)
    assert result.reasons[0] == "pierce_reclaim_recent_low" and result.features["up_level"] == 25000.0


def edge_low_minutes(far: float) -> np.ndarray:
    """Minute samples: `far` exactly 33 minutes before the last sample (the far edge of the
    recent-low window), a calm 25060 tape with a 25040 low, then origin, a pierce to 25000 and a
    reclaim to 25065."""
    return np.r_[far, np.full(28, 25060.0), 25040.0, 25060.0, 25000.0, 25030.0, 25065.0]


def sweep_verdicts(times: list[float], spots: list[float], at: set[float]) -> set[tuple]:
    """(signal, level kind) of the engine at each update time in `at`, fed (time, spot) updates."""
    history, out = EngineHistory("NIFTY"), set()
    for ts, spot in zip(times, spots, strict=True):
        m = stamped(make_metrics(ts=ts, spot=spot))
        history.update(m)
        if ts in at:
            result = ENGINE.evaluate(m, history)
            out.add((result.signal, result.features.get("up_level_kind")))
    return out


@pytest.mark.parametrize(
    "far, verdict",
    [(24990.0, ("", None)), (25060.0, ("SWEEP_UP", "recent_low"))],
    ids=["low-in-force-at-the-edge", "no-low-at-the-edge"],
)
def test_the_recent_low_is_the_same_on_snapshots_and_on_a_stream_of_them(far, verdict):
    """The recent low is spot's range as held, ending 3 minutes before the current spot was
    observed. A stream repeats the last spot at every update (legs arrive between snapshots) and
    stamps the update that brings a new spot with the second's latest leg; a snapshot feed has
    each spot once, on the minute. Whatever the clock reads within the last minute, both measure
    the pierce to 25000 against the same level: the 24990 still in force at the window's start
    (nothing pierced), or without it the tape's 25040 (a sweep)."""
    minutes = edge_low_minutes(far)
    snap_times = [T0 + 60.0 * k for k in range(len(minutes))]
    snapshots = sweep_verdicts(snap_times, list(minutes), {snap_times[-1]})
    stream_times, stream_spots = [], []
    for k, spot in enumerate(minutes):
        seconds = [0.3] + list(range(1, 60)) if k < len(minutes) - 1 else [0.3, 1.0, 30.0, 59.0]
        stream_times += [T0 + 60.0 * k + s for s in seconds]
        stream_spots += [float(spot)] * len(seconds)
    streamed = sweep_verdicts(stream_times, stream_spots, set(stream_times[-4:]))
    assert snapshots == streamed == {verdict}


def test_whipsaw_through_both_levels_is_a_tie():
    base = make_metrics(support=24950.0, resistance=25050.0)
    path = np.r_[
        np.full(300, 25000.0), ramp(25000, 24900, 30), ramp(24900, 25100, 60), ramp(25100, 25000, 30)
    ]
    result, _, _ = run(ENGINE, path, base=base)
    assert result.features["up_score"] == result.features["down_score"] == 0.6
    assert not result.active and result.direction == "NONE"


def test_missing_fields_never_crash():
    h = EngineHistory("NIFTY")
    empty = make_metrics(spot=None, strikes=np.array([]), call_oi=np.array([]), put_oi=np.array([]))
    assert not ENGINE.evaluate(empty, h).active
    h.update(make_metrics())
    assert not ENGINE.evaluate(make_metrics(), h).active


def minute_sweep() -> np.ndarray:
    """Calm above support for 30 samples, then one sample each: on the level's origin side, through
    it by 40 points, partly back, and back above it by 30 points."""
    calm = np.clip(calm_path(1800, start=25060.0, sigma_1m=0.0002)[::60], 25020.0, None)
    return np.r_[calm, 25010.0, 24960.0, 24990.0, 25030.0]


def test_a_sweep_on_one_minute_snapshots_whose_origin_opens_the_window_fires():
    """Origin, pierce and reclaim a minute apart: the origin sample sits exactly 180 s back, on the
    edge of the window, and is where the pierce began."""
    result, _, _ = run(ENGINE, minute_sweep(), base=BASE, step_s=60.0)
    assert result.signal == "SWEEP_UP" and result.reasons == ("pierce_reclaim_support", "reclaim_half")
    assert result.features["up_pierce_pct"] == pytest.approx(40 / 25000)


def test_a_sweep_is_not_evaluable_on_five_minute_snapshots():
    result, _, _ = run(ENGINE, minute_sweep(), base=BASE, step_s=300.0)
    assert not result.active and result.features["up_rules"] == []
    reason = result.features["not_evaluable"]["pierce_reclaim"]
    assert reason.startswith("spot sampled every ~300 s") and "3 samples within 180 s" in reason


def test_a_volume_spike_on_a_sparse_feed_is_a_rate_against_the_median_rate():
    """Snapshots 90 s apart: origin, pierce, reclaim; the interval into the pierce trades 3x the
    usual volume, and both are read as units per minute."""
    path = np.r_[minute_sweep()[:-3], 24960.0, 25030.0]
    pierce = len(path) - 2  # the sample at the pierce's extreme
    step = volume_per_step(9000.0, spike_from=pierce - 1, spike_to=pierce, mult=3.0)
    result, _, _ = run(ENGINE, path, base=BASE, per_step=step, step_s=90.0)
    assert "volume_spike" in result.reasons
    assert result.features["up_minute_volume"] == pytest.approx(18000.0)  # 27,000 units in 90 s
    assert result.features["up_median_minute_volume"] == pytest.approx(6000.0)
