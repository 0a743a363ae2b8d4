"""SpotHistory: the view and features of one event time are computed once and shared by expiries."""

from __future__ import annotations

import numpy as np

from core.analytics import regime
from core.analytics.spot_history import SpotHistory


def test_the_same_instant_gives_the_same_view_and_features():
    history = SpotHistory()
    for i in range(400):
        history.view(1000.0 + i, 25000.0 + (i % 17))
    times, values = history.view(1400.0, 25010.0)
    assert history.view(1400.0, 25010.0) == (times, values)  # the same objects
    features = history.features(1400.0)
    assert history.features(1400.0) is features
    assert features == regime.spot_features(times, values, 1400.0)


def test_the_current_spot_is_last_even_between_spaced_samples():
    history = SpotHistory()
    history.view(1000.0, 25000.0)
    times, values = history.view(1000.5, 25001.0)  # within the 1 s spacing: not stored
    assert times.tolist() == [1000.0, 1000.5] and values.tolist() == [25000.0, 25001.0]
    times, values = history.view(1000.5, 25002.0)  # another spot at the same instant: a new view
    assert values.tolist() == [25000.0, 25002.0]


def test_a_missing_spot_is_not_recorded():
    history = SpotHistory()
    history.view(1000.0, 25000.0)
    for bad in (None, float("nan"), 0.0, -1.0):
        times, values = history.view(1001.0, bad)
        assert times.tolist() == [1000.0] and values.tolist() == [25000.0]
    assert np.array_equal(history.view(1002.0, 25003.0)[1], [25000.0, 25003.0])
