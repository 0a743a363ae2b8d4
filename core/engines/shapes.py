"""What spot did around a level or into an extreme, as the engines' history finds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from core.state.history import TIME_TOL, RingBuffer

Side = Literal["below", "above"]

# A pierce's origin-side sample may lie this far before the window (one sampling interval of a
# 1- or 2-minute feed), so a pierce in the window's first sample still has an origin.
ORIGIN_LOOKBACK_S = 120.0


@dataclass(frozen=True, slots=True)
class Pierce:
    """Spot traded through `level` to `extreme`, having been on the origin side at `cross_ts`."""

    level: float
    side: Side  # "below": traded under the level from above; "above": the mirror
    extreme: float
    extreme_ts: float
    cross_ts: float  # last sample on the origin side before the extreme
    depth_pct: float  # |extreme - level| / level, as a fraction


@dataclass(frozen=True, slots=True)
class Spike:
    """The move into the window's extreme: from `start` (within `lead_s` before it) to `extreme`."""

    side: Side  # "below": a down-spike to a low; "above": an up-spike to a high
    start: float
    start_ts: float
    extreme: float
    extreme_ts: float
    rebound: float  # the furthest price back from the extreme since it was made

    @property
    def move_pct(self) -> float:
        return abs(self.extreme - self.start) / self.start

    @property
    def retrace(self) -> float:
        """Fraction of the spike given back at best since the extreme (0 = none, 1 = all)."""
        span = abs(self.start - self.extreme)
        return abs(self.rebound - self.extreme) / span if span > 0 else 0.0


class SpotShapes:
    """The stored series (spot and the tracked chain metrics) as arrays, their windows, and the
    shapes of spot's path in them (range, pierce, spike, return to a price): the read side of
    EngineHistory, which declares the series here and fills them in `update`; `_memo` holds
    answers until its next update."""

    spot: RingBuffer
    metrics: dict[str, RingBuffer]
    _last_ts: float | None
    _cache: dict[str, tuple[np.ndarray, np.ndarray]]
    _memo: dict[tuple[Any, ...], Any]

    @property
    def last_ts(self) -> float | None:
        """Event time of the latest accepted update: "now" for every window."""
        return self._last_ts

    def series(self, name: str) -> RingBuffer:
        """`spot` or one of the tracked chain metrics (history.TRACKED_METRICS)."""
        return self.spot if name == "spot" else self.metrics[name]

    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """All stored (ts, values) of a series in time order, read-only and shared until it changes."""
        cached = self._cache.get(name)
        if cached is None:
            ts, val = self.series(name).arrays()
            ts.flags.writeable = val.flags.writeable = False
            cached = self._cache[name] = (ts, val)
        return cached

    def between(self, name: str, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """Samples with ts in (t0, t1]; update() keeps timestamps non-decreasing, so this is a slice."""
        ts, val = self.arrays(name)
        lo, hi = ts.searchsorted(t0, side="right"), ts.searchsorted(t1, side="right")
        return ts[lo:hi], val[lo:hi]

    def window(self, name: str, seconds: float, end_offset_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Samples with ts in (now - seconds, now - end_offset_s], now = the latest update."""
        now = self.last_ts
        if now is None:
            return np.empty(0), np.empty(0)
        return self.between(name, now - seconds, now - end_offset_s)

    def min_max(self, seconds: float, end_ts: float | None = None) -> tuple[float, float] | None:
        """Lowest and highest spot held over (end - seconds, end], `end_ts` or now: the samples in
        it and the one still in force at its start (spot is a step function of event time).

        Held, not sampled: a feed that repeats the last spot at every update (a stream, updated
        leg by leg) and one that has it once per snapshot must give the same range, so the value
        at the window's start counts whether or not a repeat of it happens to fall inside.
        """
        end = self.last_ts if end_ts is None else end_ts
        if end is None:
            return None
        key = ("min_max", seconds, end)
        if key in self._memo:  # both sides of a sweep measure against the same range
            found: tuple[float, float] | None = self._memo[key]
            return found
        ts, px = self.arrays("spot")
        lo, hi = ts.searchsorted(end - seconds, side="right"), ts.searchsorted(end, side="right")
        px = px[max(int(lo) - 1, 0) : hi]
        found = self._memo[key] = (float(px.min()), float(px.max())) if len(px) else None
        return found

    def _from_anchor(self, t0: float, t1: float, slack_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Spot samples in [t0, t1], led by the last sample before t0 when it lies within `slack_s`
        of it: on a sparse feed the sample just before a window is where a move into it began."""
        ts, px = self.arrays("spot")
        a = int(ts.searchsorted(t0, side="right")) - 1  # the last sample at or before t0
        lo = a if a >= 0 and ts[a] >= t0 - slack_s else a + 1
        hi = int(ts.searchsorted(t1, side="right"))
        return ts[lo:hi], px[lo:hi]

    def pierce(
        self,
        level: float,
        side: Side,
        window_s: float,
        min_depth_pct: float,
        origin_lookback_s: float = ORIGIN_LOOKBACK_S,
    ) -> Pierce | None:
        """The deepest trade through `level` within the window, having started from the origin side.

        "below": spot was at or above the level, then traded at least `min_depth_pct` under it.
        The extreme lies inside the window; the origin-side sample may also be the last one before
        the window (within `origin_lookback_s`): on a feed sampled every minute or two, the sample
        before a pierce is often just outside it. Whether spot has come back is the caller's
        question (the latest spot is the last sample).
        """
        if self.last_ts is None or not level > 0:
            return None
        found = self._extreme(side, window_s, origin_lookback_s)
        if found is None:
            return None
        ts, px, i = found
        below = side == "below"
        extreme = float(px[i])
        depth = (level - extreme) / level if below else (extreme - level) / level
        if depth < min_depth_pct:
            return None
        origin = (px[:i] >= level if below else px[:i] <= level).nonzero()[0]
        if not len(origin):
            return None
        j = int(origin[-1])
        return Pierce(level, side, extreme, float(ts[i]), float(ts[j]), float(depth))

    def _extreme(
        self, side: Side, window_s: float, origin_lookback_s: float
    ) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Spot samples from a pierce's anchor (`_from_anchor`) to now and the index of the lowest
        ("below") or highest sample in the window; None without two samples or one in the window.
        The same for every level an engine tries, so it is found once per update."""
        key = ("extreme", side, window_s, origin_lookback_s)
        if key in self._memo:
            found: tuple[np.ndarray, np.ndarray, int] | None = self._memo[key]
            return found
        now = self.last_ts
        assert now is not None  # pierce() returns before looking without an update
        ts, px = self._from_anchor(now - window_s, now, origin_lookback_s)
        first = int(ts.searchsorted(now - window_s, side="right"))  # ts is sorted: the window's first
        found = None
        if len(ts) >= 2 and first != len(ts):
            inside = px[first:]
            found = (ts, px, first + int(inside.argmin() if side == "below" else inside.argmax()))
        self._memo[key] = found
        return found

    def spike(self, side: Side, window_s: float, lead_s: float) -> Spike | None:
        """The move into the window's low ("below") or high ("above") from the opposite extreme
        within `lead_s` before it. The last sample before that counts too if it is at most
        TIME_TOL further back: on 1-minute snapshots, stamped a second early or late, the sample
        a minute before the extreme is the only start there is."""
        ts, px = self.window("spot", window_s)
        if len(px) < 2:
            return None
        below = side == "below"
        i = int(px.argmin() if below else px.argmax())
        lts, lpx = self._from_anchor(float(ts[i]) - lead_s, float(ts[i]), lead_s * TIME_TOL)
        if not len(lpx):
            return None
        # The last time at the opposite extreme: where the move itself began.
        k = len(lpx) - 1 - int(lpx[::-1].argmax() if below else lpx[::-1].argmin())
        after = px[i:]
        rebound = float(after.max() if below else after.min())
        return Spike(side, float(lpx[k]), float(lts[k]), float(px[i]), float(ts[i]), rebound)

    def first_reach(self, t0: float, price: float, side: Side) -> float | None:
        """Event time of the first spot sample after `t0` at or below `price` ("below") or at or
        above it ("above"); None if spot has not been there since."""
        ts, px = self.between("spot", t0, self.last_ts if self.last_ts is not None else t0)
        hit = (px <= price if side == "below" else px >= price).nonzero()[0]
        return float(ts[hit[0]]) if len(hit) else None
