"""Scorecard statistics against independent computations: Wilson by its formula, Brier and reliability
on known values, baselines on constructed price paths."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest

from core.backtest.baseline import WindowCounts, baselines, window_counts
from core.backtest.scorecard import brier_score, reliability, row_baseline
from core.clock import IST
from core.learning.performance import wilson_interval
from core.learning.spot_paths import SpotPath
from core.market_calendar import MarketCalendar

TRADING_SECONDS_PER_YEAR = 252 * 375 * 60.0  # by hand: 252 sessions of 09:15-15:30

Z = 1.959963984540054
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=IST).timestamp()  # a Wednesday session, far from the close


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(7, 10), (0, 5), (5, 5), (33, 120), (1, 1)])
def test_wilson_interval_is_the_wilson_formula(k, n):
    low, high = wilson_interval(k, n)
    expected = wilson_by_hand(k, n)
    assert low == pytest.approx(max(0.0, expected[0]), abs=1e-9)
    assert high == pytest.approx(min(1.0, expected[1]), abs=1e-9)


def test_wilson_interval_of_seven_in_ten():
    low, high = wilson_interval(7, 10)
    assert (round(low, 4), round(high, 4)) == (0.3968, 0.8922)


def test_no_trials_no_interval():
    assert wilson_interval(0, 0) == (None, None)


def test_brier_score_on_known_values():
    assert brier_score([0.9, 0.6, 0.2], [True, False, False]) == pytest.approx((0.01 + 0.36 + 0.04) / 3)
    assert brier_score([1.0, 0.0], [True, False]) == 0.0
    assert brier_score([], []) is None


def test_reliability_bins_count_mean_confidence_and_hit_rate():
    bins = reliability([0.1, 0.15, 0.5, 0.95, 1.0, 0.55], [True, False, True, True, False, False], bins=5)
    assert [b["count"] for b in bins] == [2, 0, 2, 0, 2]
    assert bins[0]["mean_confidence"] == pytest.approx(0.125) and bins[0]["hit_rate"] == 0.5
    assert bins[1]["mean_confidence"] is None and bins[1]["hit_rate"] is None
    assert bins[2]["mean_confidence"] == pytest.approx(0.525) and bins[2]["hit_rate"] == 0.5
    # 1.0 belongs to the top bin
    assert bins[4]["mean_confidence"] == pytest.approx(0.975) and bins[4]["hit_rate"] == 0.5
    assert (bins[3]["lo"], bins[3]["hi"]) == (pytest.approx(0.6), pytest.approx(0.8))


def minute_path(spots: list[float], iv: float = 0.2, step_s: float = 60.0) -> SpotPath:
    ts = T0 + step_s * np.arange(len(spots))
    return SpotPath(ts, np.asarray(spots, dtype=float), np.full(len(spots), iv))


def test_directional_baseline_on_a_hand_made_path():
    # 5-minute windows start at minutes 0..5 (later ones would end after the last sample):
    # 0: 100 -> 100.02 flat (under the 0.05 % band); 1: 101 -> 100.5 down; 2: 100 -> 99 down;
    # 3: 99 -> 100 up; 4: 100 -> 101 up; 5: 100.02 -> 101 up.
    path = minute_path([100, 101, 100, 99, 100, 100.02, 100.5, 99, 100, 101, 101])
    counts = window_counts(path, 300, MarketCalendar.default())
    assert (counts.up, counts.down, counts.flat) == (3, 2, 1)
    assert counts.p_up == pytest.approx(0.6)
    assert counts.directional == pytest.approx(0.6)


def test_the_majority_direction_wins_either_way():
    assert WindowCounts(up=1, down=3).directional == pytest.approx(0.75)
    assert WindowCounts(up=0, down=0, flat=4).directional is None


def test_a_window_is_as_of_its_end_and_never_crosses_the_session_end():
    # Samples every 2 minutes: a 5-minute window ends on the sample at or before start + 5 min.
    path = minute_path([100, 100, 101, 99, 99, 99, 99], step_s=120.0)
    counts = window_counts(path, 300, MarketCalendar.default())
    # starts at 0, 2, 4, 6 min (8 + 5 > 12): ends as of 4, 6, 8, 10 min -> up, down, down, flat
    assert (counts.up, counts.down, counts.flat) == (1, 2, 1)
    close = datetime(2026, 11, 25, 15, 30, tzinfo=IST).timestamp()
    late = SpotPath(close - 240 + 60 * np.arange(8), np.full(8, 100.0), np.full(8, 0.2))
    assert window_counts(late, 300, MarketCalendar.default()) == WindowCounts()  # all cross the close


def independent_range_share(spots: np.ndarray, ts: np.ndarray, iv: float, horizon: int) -> float:
    half_em = iv * math.sqrt(horizon / TRADING_SECONDS_PER_YEAR) * 100.0 / 2.0
    held = total = 0
    for i in range(len(ts)):
        end = ts[i] + horizon
        if end > ts[-1]:
            continue
        inside = (ts > ts[i]) & (ts <= end)
        moves = np.abs(spots[inside] / spots[i] - 1.0) * 100.0
        total += 1
        held += bool(moves.max() < half_em)
    return held / total


def test_range_baseline_is_the_share_of_windows_where_the_range_held():
    rng = np.random.default_rng(3)
    spots = 25000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0004, 240)))
    path = minute_path(list(spots), iv=0.18)
    for horizon in (300, 900, 1800):
        counts = window_counts(path, horizon, MarketCalendar.default())
        assert 0.0 < counts.range < 1.0
        assert counts.range == pytest.approx(independent_range_share(path.spot, path.ts, 0.18, horizon))


def test_baselines_sum_sessions():
    a, b = minute_path([100, 101, 102, 103, 104, 105, 106]), minute_path([100, 99, 98, 97, 96, 95, 94])
    per = baselines([a, b], [300], MarketCalendar.default())[300]
    assert (per.up, per.down) == (2, 2)


def test_row_baseline_weights_each_kind_by_its_decided_calls():
    counts = WindowCounts(up=6, down=4, range_held=8, range_broke=2)  # directional 0.6, range 0.8
    weighted = row_baseline({"direction": 3, "range": 1}, {"direction": 5, "range": 5}, counts)
    assert weighted == pytest.approx(0.65)
    assert row_baseline({}, {"range": 2}, counts) == pytest.approx(0.8)  # nothing decided: by signals
    assert row_baseline({"direction": 2}, {"direction": 2}, WindowCounts()) is None
