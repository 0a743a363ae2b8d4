"""Bounded event-time ring buffers: (ts, value) series with a fixed capacity and window queries."""

from __future__ import annotations

import numpy as np


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
        order = np.r_[self._next : cap, 0 : self._next]
        return self._ts[order], self._val[order]

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
