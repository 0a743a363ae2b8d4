"""numeric.median and numeric.nanmean give numpy's values bit for bit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from core.analytics import numeric


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 9, 64, 599, 600])
def test_median_is_numpy_median(n):
    rng = np.random.default_rng(n)
    for trial in range(200):
        x = rng.standard_normal(n) * rng.choice([1e-6, 1.0, 1e6, 1e300])
        if trial % 5 == 0:
            x = np.round(x, 1)
        if trial % 17 == 0:
            x[:] = -0.0
        if trial % 11 == 0:
            x[rng.integers(n)] = np.nan
        want, got = float(np.median(x)), numeric.median(x)
        assert (np.isnan(want) and np.isnan(got)) or (want == got and np.signbit(want) == np.signbit(got))


@pytest.mark.parametrize("n", [1, 2, 3, 9, 100])
def test_nanmean_is_numpy_nanmean(n):
    rng = np.random.default_rng(n)
    for _ in range(200):
        x = rng.standard_normal(n) * rng.choice([1e-3, 1.0, 1e8])
        x[rng.integers(n, size=rng.integers(0, n + 1))] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = float(np.nanmean(x))
        got = numeric.nanmean(x)
        assert (np.isnan(want) and np.isnan(got)) or want == got
