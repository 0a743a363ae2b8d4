"""Bounded event-time ring buffers: (ts, value) series with a fixed capacity and window queries,
and what their readers share about sampling: the clock tolerance and the observation interval."""

from __future__ import annotations

import numpy as np

from core.analytics import numeric

# Feed clocks wobble by a second or two: a sample counts as `seconds` away when it lies within
# this fraction of it (a snapshot stamped 299 s before now is the 5-minute-old one).
TIME_TOL = 0.1
RECENT_OBSERVATIONS = 30  # a sampling interval is the median over this many recent observations


def observation_interval_s(
    ts: np.ndarray, values: np.ndarray, recent: int = RECENT_OBSERVATIONS
) -> float | None:
    """Median event time between successive observations of a series (its last `recent` ones);
    None before two. An observation is a sample whose value differs from the one before it: a
    source that repeats an unchanged value between its real observations (snapshots delivered
    leg by leg, a stalled quote) is no finer than its changes.
    """
    if len(ts) < 2:
        return None
    # The last `recent` + 1 observations, found in a tail of the series (doubled until it holds
    # them or is the whole series): a long history is not compared sample by sample each call.
    tail = 4 * (recent + 1)
    while True:
        start = max(len(values) - tail, 0)
        changed = _changes(values, start)
        if start == 0 or len(changed) > recent:
            break
        tail *= 2
    gaps = np.diff(ts[changed[-(recent + 1) :]])
    gaps = gaps[gaps > 0]
    return numeric.median(gaps) if len(gaps) else None


def edge_slack(interval_s: float | None, window_s: float) -> float:
    """How far after the instant `window_s` back a window starts: half the observation interval
    (at most half the window), between two observations rather than on one, so a sample stamped a
    little early or late falls on the same side of the edge; 0 while the interval is unknown."""
    return min(interval_s, window_s) / 2.0 if interval_s else 0.0


def _changes(values: np.ndarray, start: int) -> np.ndarray:
    """Indices from `start` on of the samples that differ from the one before (the first always does)."""
    if start == 0:
        return np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    return start + np.flatnonzero(values[start:] != values[start - 1 : -1])


class RingBuffer:
    """A fixed-capacity series of (event ts, value) pairs; the oldest pair is overwritten.

    Appends are O(1); `window(seconds)` returns copies in time order. Timestamps are expected to be
    non-decreasing (event time from one feed); an older timestamp is still stored in arrival order.
    """

    __slots__ = ("_ts", "_val", "_next", "_size")

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._ts = np.zeros(capacity, dtype=float)
        self._val = np.zeros(capacity, dtype=float)
        self._next = 0
        self._size = 0

    @property
    def capacity(self) -> int:
        return len(self._ts)

    def __len__(self) -> int:
        return self._size

    def append(self, ts: float, value: float) -> None:
        i = self._next
        self._ts[i] = ts
        self._val[i] = value
        self._next = (i + 1) % len(self._ts)
        if self._size < len(self._ts):
            self._size += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All stored (ts, values) in insertion order, as new arrays."""
        n, cap = self._size, len(self._ts)
        if n < cap:
            return self._ts[:n].copy(), self._val[:n].copy()
        i = self._next
        return np.concatenate((self._ts[i:], self._ts[:i])), np.concatenate((self._val[i:], self._val[:i]))

    def window(self, seconds: float, now: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pairs with ts in (now - seconds, now]; `now` defaults to the latest stored ts."""
        ts, val = self.arrays()
        if not len(ts):
            return ts, val
        end = ts[-1] if now is None else now
        mask = (ts > end - seconds) & (ts <= end)
        return ts[mask], val[mask]

    def last(self) -> tuple[float, float] | None:
        if not self._size:
            return None
        i = (self._next - 1) % len(self._ts)
        return float(self._ts[i]), float(self._val[i])

    def value_at_or_before(self, ts: float) -> float | None:
        """The latest value stored at or before `ts`, or None if there is none."""
        times, values = self.arrays()
        idx = int(np.searchsorted(times, ts, side="right")) - 1
        return float(values[idx]) if idx >= 0 else None
