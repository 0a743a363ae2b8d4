"""Numeric helpers the analytics kernels share, where numpy's generic version costs more than the work."""

from __future__ import annotations

import math

import numpy as np


def median(values: np.ndarray) -> float:
    """np.median of a non-empty 1-D float array, the same value (NaN if any value is NaN).

    np.median partitions at the middle and takes mean() of the middle one or two values, a sum
    that starts from 0.0 (so -0.0 comes out as 0.0) over their count; this does the same
    arithmetic without the dispatch, which on a rolling window costs more than the work.
    """
    n = len(values)
    if np.isnan(values).any():
        return float("nan")
    half = n // 2
    if n % 2:
        return float(0.0 + np.partition(values, half)[half])
    part = np.partition(values, (half - 1, half))
    return float((0.0 + part[half - 1] + part[half]) / 2.0)


def nanmean(values: np.ndarray) -> float:
    """np.nanmean of a 1-D float array by its own arithmetic: the sum with NaNs as 0.0 over the count of
    non-NaN values (NaN when there is none)."""
    missing = np.isnan(values)
    count = len(values) - int(np.count_nonzero(missing))
    total = np.where(missing, 0.0, values).sum()
    return float(total / count) if count else float("nan")


def mean(values: np.ndarray) -> float:
    """np.mean of a non-empty 1-D float array by its own arithmetic: the sum over the count."""
    return float(values.sum() / len(values))


def std(values: np.ndarray, ddof: int = 0) -> float:
    """np.std of a 1-D float array of more than `ddof` values by its own arithmetic: the square
    root of the summed squared deviations from the mean (sum over count) over count - ddof."""
    n = len(values)
    dev = values - values.sum() / n
    return math.sqrt((dev * dev).sum() / (n - ddof))
