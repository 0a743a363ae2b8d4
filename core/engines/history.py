"""Per-symbol event-time memory the engines look back through: spot, selected metrics, OI snapshots."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.domain import LiveMetrics
from core.state.history import RingBuffer

Side = Literal["below", "above"]

# Scalar series kept besides spot; `total_volume` and `total_oi` are call + put sums in units.
TRACKED_METRICS = ("pcr_oi", "atm_straddle", "net_gex", "gross_gex", "total_volume", "total_oi")


@dataclass(frozen=True, slots=True)
class OiSnapshot:
    """Per-strike OI (units) and premiums (rupees) as of one OI update of the exchange."""

    ts: float
    strikes: np.ndarray
    call_oi: np.ndarray
    put_oi: np.ndarray
    call_ltp: np.ndarray
    put_ltp: np.ndarray


@dataclass(frozen=True, slots=True)
class StrikeFlow:
    """OI and premium change over a band of strikes for one right, from a base snapshot to now."""

    d_oi: float  # units
    d_premium: float  # rupees, mean LTP change over the strikes that have both prices
    base_oi: float  # units at the base snapshot
    strikes: int

    @property
    def rel_oi(self) -> float:
        return self.d_oi / self.base_oi if self.base_oi > 0 else 0.0

    def writing(self, min_rel: float) -> bool:
        """OI up and premium down: options are being sold."""
        return self.rel_oi >= min_rel and self.d_premium < 0

    def buying(self, min_rel: float) -> bool:
        """OI up and premium up: options are being bought."""
        return self.rel_oi >= min_rel and self.d_premium > 0


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


class EngineHistory:
    """Bounded look-back for one symbol, advanced by `update(metrics)` before the engines run.

    Capacities are in samples; at the default 1 s metrics interval 4096 samples cover over an hour,
    more than the longest engine window (30 minutes).
    """

    def __init__(self, symbol: str, capacity: int = 4096, oi_snapshots: int = 8) -> None:
        self.symbol = symbol
        self.spot = RingBuffer(capacity)
        self.metrics = {name: RingBuffer(capacity) for name in TRACKED_METRICS}
        self.oi: deque[OiSnapshot] = deque(maxlen=oi_snapshots)
        self.updates = 0
        self._last_ts: float | None = None
        # Engines query the same series many times per update; materialise each one once.
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def last_ts(self) -> float | None:
        """Event time of the latest accepted update: "now" for every window."""
        return self._last_ts

    def update(self, metrics: LiveMetrics) -> bool:
        """Record one metrics update; an update older than the latest one is refused (False)."""
        last = self.last_ts
        if last is not None and metrics.ts < last:
            return False
        self._update_oi(metrics)  # first: the part that can reject malformed arrays
        ts = metrics.ts
        self._last_ts = ts
        self._cache.clear()
        if _finite(metrics.spot):
            self.spot.append(ts, float(metrics.spot))
        for name, value in _tracked_values(metrics).items():
            if _finite(value):
                self.metrics[name].append(ts, float(value))
        self.updates += 1
        return True

    def _update_oi(self, m: LiveMetrics) -> None:
        n = len(m.strikes)
        if not n or len(m.call_oi) != n or len(m.put_oi) != n:
            return
        prev = self.oi[-1] if self.oi else None
        # Exchange OI moves in steps (about every 3 minutes): keep one snapshot per OI change.
        if (
            prev is not None
            and np.array_equal(prev.strikes, m.strikes)
            and np.array_equal(prev.call_oi, m.call_oi, equal_nan=True)
            and np.array_equal(prev.put_oi, m.put_oi, equal_nan=True)
        ):
            return
        call_ltp = m.call_ltp if len(m.call_ltp) == n else np.full(n, np.nan)
        put_ltp = m.put_ltp if len(m.put_ltp) == n else np.full(n, np.nan)
        self.oi.append(OiSnapshot(m.ts, m.strikes, m.call_oi, m.put_oi, call_ltp, put_ltp))

    def series(self, name: str) -> RingBuffer:
        """`spot` or one of TRACKED_METRICS."""
        return self.spot if name == "spot" else self.metrics[name]

    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """All stored (ts, values) of a series in time order, read-only and shared until the next update."""
        cached = self._cache.get(name)
        if cached is None:
            ts, val = self.series(name).arrays()
            ts.flags.writeable = val.flags.writeable = False
            cached = self._cache[name] = (ts, val)
        return cached

    def between(self, name: str, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """Samples with ts in (t0, t1]; update() keeps timestamps non-decreasing, so this is a slice."""
        ts, val = self.arrays(name)
        lo, hi = np.searchsorted(ts, [t0, t1], side="right")
        return ts[lo:hi], val[lo:hi]

    def window(self, name: str, seconds: float, end_offset_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Samples with ts in (now - seconds, now - end_offset_s], now = the latest update."""
        now = self.last_ts
        if now is None:
            return np.empty(0), np.empty(0)
        return self.between(name, now - seconds, now - end_offset_s)

    def min_max(self, seconds: float, end_offset_s: float = 0.0) -> tuple[float, float] | None:
        """Lowest and highest spot over (now - seconds, now - end_offset_s]."""
        _, px = self.window("spot", seconds, end_offset_s)
        return (float(px.min()), float(px.max())) if len(px) else None

    def value_ago(self, name: str, seconds: float) -> float | None:
        """The value of a series as of `seconds` before the latest update (None if not that old)."""
        now = self.last_ts
        if now is None:
            return None
        value = self.sample(name, np.array([now - seconds]))[0]
        return float(value) if np.isfinite(value) else None

    def sample(self, name: str, times: np.ndarray) -> np.ndarray:
        """Values as of each time (last at or before it); NaN where the series does not reach back."""
        ts, val = self.arrays(name)
        idx = np.searchsorted(ts, times, side="right") - 1
        out = np.full(len(times), np.nan)
        ok = idx >= 0
        out[ok] = val[idx[ok]]
        return out

    def sigma_1m(
        self, window_s: float = 1800.0, end_ts: float | None = None, min_returns: int = 5
    ) -> float | None:
        """Standard deviation of 1-minute log returns of spot over (end_ts - window_s, end_ts], as a
        fraction. Ending the window before the move being judged keeps it out of its own yardstick.
        """
        end = self.last_ts if end_ts is None else end_ts
        if end is None:
            return None
        grid = end - 60.0 * np.arange(int(window_s // 60), -1, -1)
        px = self.sample("spot", grid)
        px = px[np.isfinite(px) & (px > 0)]
        rets = np.diff(np.log(px))
        if len(rets) < min_returns:
            return None
        return float(np.std(rets, ddof=1))

    def volume_between(self, t0: float, t1: float) -> float | None:
        """Units traded between two event times, from the cumulative day volume."""
        v = self.sample("total_volume", np.array([t0, t1]))
        if not np.all(np.isfinite(v)) or v[1] < v[0]:
            return None
        return float(v[1] - v[0])

    def median_minute_volume(self, end_ts: float, window_s: float = 1800.0) -> float | None:
        """Median units traded per minute over the window ending at `end_ts`."""
        grid = end_ts - 60.0 * np.arange(int(window_s // 60), -1, -1)
        v = self.sample("total_volume", grid)
        per_min = np.diff(v[np.isfinite(v)])
        per_min = per_min[per_min >= 0]
        if len(per_min) < 3:
            return None
        return float(np.median(per_min))

    def pierce(self, level: float, side: Side, window_s: float, min_depth_pct: float) -> Pierce | None:
        """The deepest trade through `level` within the window that started inside the window.

        "below": spot was at or above the level, then traded at least `min_depth_pct` under it.
        Whether spot has come back is the caller's question (the latest spot is the last sample).
        """
        ts, px = self.window("spot", window_s)
        if len(px) < 2 or not level > 0:
            return None
        below = side == "below"
        i = int(np.argmin(px) if below else np.argmax(px))
        extreme = float(px[i])
        depth = (level - extreme) / level if below else (extreme - level) / level
        if depth < min_depth_pct:
            return None
        origin = px[:i] >= level if below else px[:i] <= level
        if not origin.any():
            return None
        j = int(np.flatnonzero(origin)[-1])
        return Pierce(level, side, extreme, float(ts[i]), float(ts[j]), float(depth))

    def spike(self, side: Side, window_s: float, lead_s: float) -> Spike | None:
        """The move into the window's low ("below") or high ("above") from the opposite extreme
        within `lead_s` before it."""
        ts, px = self.window("spot", window_s)
        if len(px) < 2:
            return None
        below = side == "below"
        i = int(np.argmin(px) if below else np.argmax(px))
        lts, lpx = self.between("spot", float(ts[i]) - lead_s, float(ts[i]))
        if not len(lpx):
            return None
        # The last time at the opposite extreme: where the move itself began.
        k = len(lpx) - 1 - int(np.argmax(lpx[::-1]) if below else np.argmin(lpx[::-1]))
        after = px[i:]
        rebound = float(after.max() if below else after.min())
        return Spike(side, float(lpx[k]), float(lts[k]), float(px[i]), float(ts[i]), rebound)

    def first_reach(self, t0: float, price: float, side: Side) -> float | None:
        """Event time of the first spot sample after `t0` at or below `price` ("below") or at or
        above it ("above"); None if spot has not been there since."""
        ts, px = self.between("spot", t0, self.last_ts if self.last_ts is not None else t0)
        hit = np.flatnonzero(px <= price if side == "below" else px >= price)
        return float(ts[hit[0]]) if len(hit) else None

    def oi_snapshot_at(self, ts: float) -> OiSnapshot | None:
        """The latest OI snapshot at or before `ts`, else the oldest one held."""
        if not self.oi:
            return None
        before = [s for s in self.oi if s.ts <= ts]
        return before[-1] if before else self.oi[0]

    def oi_flow(
        self, metrics: LiveMetrics, right: str, lo: float, hi: float, base_ts: float
    ) -> StrikeFlow | None:
        """OI and premium change for strikes in [lo, hi] of one right, from the snapshot at
        `base_ts` to the current metrics."""
        base = self.oi_snapshot_at(base_ts)
        n = len(metrics.strikes)
        if base is None or not n:
            return None
        cur_oi, cur_px = (
            (metrics.call_oi, metrics.call_ltp) if right == "CE" else (metrics.put_oi, metrics.put_ltp)
        )
        old_oi, old_px = (base.call_oi, base.call_ltp) if right == "CE" else (base.put_oi, base.put_ltp)
        if len(cur_oi) != n:
            return None
        in_band = (metrics.strikes >= lo - 1e-9) & (metrics.strikes <= hi + 1e-9)
        if base.strikes is metrics.strikes or np.array_equal(base.strikes, metrics.strikes):
            ic = ib = np.flatnonzero(in_band)  # the usual case: the same strike grid
        else:
            common, ic, ib = np.intersect1d(metrics.strikes, base.strikes, return_indices=True)
            keep = np.isin(common, metrics.strikes[in_band])
            ic, ib = ic[keep], ib[keep]
        # A leg that does not report OI (NaN) on either side is left out, not counted as zero.
        ok = np.isfinite(cur_oi[ic]) & np.isfinite(old_oi[ib])
        ic, ib = ic[ok], ib[ok]
        if not len(ic):
            return None
        d_oi = float(np.sum(cur_oi[ic]) - np.sum(old_oi[ib]))
        dpx = (cur_px[ic] - old_px[ib]) if len(cur_px) == n else np.array([np.nan])
        dpx = dpx[np.isfinite(dpx)]
        d_premium = float(np.mean(dpx)) if len(dpx) else 0.0
        return StrikeFlow(d_oi, d_premium, float(np.sum(old_oi[ib])), int(len(ic)))


def nearest_strike(metrics: LiveMetrics, level: float) -> float | None:
    """The listed strike closest to a price level."""
    if not len(metrics.strikes) or not _finite(level):
        return None
    return float(metrics.strikes[int(np.argmin(np.abs(metrics.strikes - level)))])


def _tracked_values(m: LiveMetrics) -> dict[str, float | None]:
    def total(a: float | None, b: float | None) -> float | None:
        return a + b if a is not None and b is not None else None

    return {
        "pcr_oi": m.pcr_oi,
        "atm_straddle": m.atm_straddle,
        "net_gex": m.net_gex,
        "gross_gex": m.gross_gex,
        "total_volume": total(m.total_call_volume, m.total_put_volume),
        "total_oi": total(m.total_call_oi, m.total_put_oi),
    }


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
