"""LegGrid: every option leg's OI and premium on a fixed event-time grid, and flows over it.

The sample at grid time t is every leg's value as of t, however the feed delivered it (whole
snapshots or leg by leg); the grid covers the longest OI window a rule uses. A window reaching
before the first sample is not evaluable (`base` says why), never answered from a later one.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.analytics import numeric
from core.domain import LiveMetrics

# How many bands' flows LegGrid.flow_over keeps (the engines read four per update).
FLOW_MEMO = 32


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


@dataclass(frozen=True, slots=True, eq=False)
class _KeptFlow:
    """An answer of LegGrid.flow_over and what it was computed from (held, so compared by identity)."""

    key: tuple[Any, ...]
    strikes: np.ndarray
    bases: tuple[OiSnapshot, ...]
    flow: tuple[StrikeFlow | None, str]


class LegGrid:
    """Per-leg OI and premiums (one expiry's strikes) sampled every `grid_s` for `retention_s`."""

    def __init__(self, grid_s: float = 30.0, retention_s: float = 1860.0) -> None:
        self.grid_s = grid_s
        self._capacity = int(math.ceil(retention_s / grid_s)) + 1
        self.samples: deque[OiSnapshot] = deque(maxlen=self._capacity)
        self._now: OiSnapshot | None = None  # the latest update's chain, not yet on the grid
        self._times_cache: np.ndarray | None = None
        # Per right, the legs of a metrics update with OI and a tick time: several bands are read
        # off the same update (writing, buying), and the update never changes (frozen arrays).
        self._reported: dict[str, tuple[LiveMetrics, np.ndarray]] = {}
        # flow_over's latest answer per band (right, lo, hi, window).
        self._flows: dict[tuple[str, float, float, float], _KeptFlow] = {}

    def update(self, m: LiveMetrics, ts: float | None = None, compare: bool = True) -> bool:
        """Grid points in (last grid point, ts] take the chain as of each: the previous update's
        chain for points before ts, this one's for a point at ts exactly; `ts` is m.ts unless the
        chain was observed at another moment. True if the chain changed since the previous update;
        always False without `compare`, for a caller that does not ask (comparing two chains
        costs more than the rest)."""
        ts = m.ts if ts is None else ts
        n = len(m.strikes)
        if not n or len(m.call_oi) != n or len(m.put_oi) != n:
            return False
        call_ltp = m.call_ltp if len(m.call_ltp) == n else np.full(n, np.nan)
        put_ltp = m.put_ltp if len(m.put_ltp) == n else np.full(n, np.nan)
        now = OiSnapshot(ts, m.strikes, m.call_oi, m.put_oi, call_ltp, put_ltp)
        changed = compare and (self._now is None or not _same_chain(self._now, now))
        step = self.grid_s
        last_grid = self.samples[-1].ts if self.samples else None
        prev = self._now
        if prev is not None:
            first = last_grid + step if last_grid is not None else math.ceil(prev.ts / step) * step
            # After a long gap only the points the ring can hold matter.
            first = max(first, (math.floor(ts / step) - self._capacity) * step)
            t = first
            while t < ts:
                self.samples.append(replace(prev, ts=t))
                t += step
        if ts % step == 0 and (not self.samples or self.samples[-1].ts < ts):
            self.samples.append(now)
        self._now = now
        return changed

    def base(self, ts: float) -> tuple[OiSnapshot | None, str]:
        """The grid sample as of `ts` (the latest at or before it), or None and why not."""
        if not self.samples or ts < self.samples[0].ts:
            now = self._now.ts if self._now is not None else ts
            held = now - self.samples[0].ts if self.samples else 0.0
            return None, f"OI history covers {max(held, 0.0):.0f} s, the window needs {now - ts:.0f} s"
        i = int(np.searchsorted(self._times(), ts, side="right")) - 1
        return self.samples[i], ""

    def _times(self) -> np.ndarray:
        if (
            self._times_cache is None
            or len(self._times_cache) != len(self.samples)
            or (len(self.samples) and self._times_cache[-1] != self.samples[-1].ts)
        ):
            self._times_cache = np.fromiter((s.ts for s in self.samples), float, len(self.samples))
        return self._times_cache

    def flow(
        self, metrics: LiveMetrics, right: str, lo: float, hi: float, base_ts: float
    ) -> StrikeFlow | None:
        """OI and premium change for strikes in [lo, hi] of one right, from the snapshot at
        `base_ts` to the current metrics."""
        base, _ = self.base(base_ts)
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
        d_premium = numeric.mean(dpx) if len(dpx) else 0.0
        return StrikeFlow(d_oi, d_premium, float(np.sum(old_oi[ib])), int(len(ic)))

    def flow_over(
        self,
        metrics: LiveMetrics,
        right: str,
        lo: float,
        hi: float,
        window_s: float,
        slack_s: float,
        anchors: np.ndarray | None = None,
    ) -> tuple[StrikeFlow | None, str]:
        """OI and premium change over `window_s` for strikes in [lo, hi] of one right, each leg
        measured back from its own last tick to its observation nearest `window_s` earlier: the
        base is read as of half an observation interval after that point (TIME_TOL of the window
        while the interval is unknown), so a snapshot stamped a little early or late, or a leg
        streamed a little later than its neighbours, finds the same base. (None, why) when a
        leg's window reaches before the grid.

        Per leg, not from the clock: a chain streamed leg by leg has each leg's new value at its
        own moment, and a clock-anchored base steps to the next snapshot between two deliveries,
        so the same market read as whole snapshots and as a stream would disagree. `anchors` (calls,
        then puts) replaces each leg's tick time as the end of its window: when the chain
        observation it belongs to was made (`ChainObservations.anchors`).
        """
        n = len(metrics.strikes)
        cur_oi, cur_px, leg_ts = (
            (metrics.call_oi, metrics.call_ltp, metrics.call_ts)
            if right == "CE"
            else (metrics.put_oi, metrics.put_ltp, metrics.put_ts)
        )
        if not n or len(cur_oi) != n or len(leg_ts) != n:
            return None, "no per-leg OI and tick times"
        strikes = metrics.strikes
        reported = self._reported.get(right)
        if reported is None or reported[0] is not metrics:
            reported = self._reported[right] = (metrics, np.isfinite(cur_oi) & np.isfinite(leg_ts))
        legs = ((strikes >= lo - 1e-9) & (strikes <= hi + 1e-9) & reported[1]).nonzero()[0]
        if not len(legs):
            return None, "no leg with OI in the band"
        ends = leg_ts if anchors is None else (anchors[:n] if right == "CE" else anchors[n:])
        base_ts = ends[legs] - window_s + slack_s
        starts = base_ts.tolist()  # a band's handful of legs: cheaper as Python floats
        if not all(map(math.isfinite, starts)):
            return None, "no complete observation of the chain yet"
        first = min(starts)
        if not self.samples or first < self.samples[0].ts:
            return None, self.base(first)[1]
        grid = self._times().searchsorted(base_ts, side="right") - 1
        band_oi, band_px = cur_oi[legs], (cur_px[legs] if len(cur_px) == n else None)
        # The flow is a function of these legs' values now and of the grid samples their bases
        # lie in (immutable once on the grid; and of the strike values only where a sample's
        # strike list is another array): a band with no new report since an earlier update,
        # measured from the same samples, reads the same, so the latest answer is kept per band.
        bases = tuple(self.samples[g] for g in sorted(set(grid.tolist())))
        same_grid = tuple(b.strikes is strikes for b in bases)
        key = (
            legs.tobytes(),
            grid.tobytes(),
            band_oi.tobytes(),
            None if band_px is None else band_px.tobytes(),
            same_grid,
        )
        slot = (right, lo, hi, window_s)
        kept = self._flows.get(slot)
        if (
            kept is not None
            and kept.key == key
            and (all(same_grid) or kept.strikes is strikes)
            and all(map(operator.is_, kept.bases, bases))
        ):
            return kept.flow
        flow = self._band_flow(right, strikes, legs, grid, band_oi, band_px)
        if len(self._flows) >= FLOW_MEMO:
            self._flows.clear()
        self._flows[slot] = _KeptFlow(key, strikes, bases, flow)
        return flow

    def _band_flow(
        self,
        right: str,
        strikes: np.ndarray,
        legs: np.ndarray,
        grid: np.ndarray,
        cur_oi: np.ndarray,
        cur_px: np.ndarray | None,
    ) -> tuple[StrikeFlow | None, str]:
        """flow_over's sums for `legs` with values `cur_oi` and `cur_px` (None: the feed has no
        premiums) now and their bases in grid samples `grid`."""
        old_oi, old_px = self._at_bases(right, strikes, legs, grid)
        ok = np.isfinite(old_oi)  # a leg with no OI at its base is left out, not counted as zero
        count = int(np.count_nonzero(ok))
        if not count:
            return None, "no leg of the band has OI at the start of its window"
        dpx = cur_px - old_px if cur_px is not None else np.array([np.nan])
        if count < len(legs):  # else every leg counts: the same arrays, unindexed
            cur_oi, old_oi = cur_oi[ok], old_oi[ok]
            dpx = dpx[ok] if cur_px is not None else dpx
        dpx = dpx[np.isfinite(dpx)]
        base_oi = old_oi.sum()
        flow = StrikeFlow(
            float(cur_oi.sum() - base_oi), numeric.mean(dpx) if len(dpx) else 0.0, float(base_oi), count
        )
        return flow, ""

    def _at_bases(
        self, right: str, strikes: np.ndarray, legs: np.ndarray, grid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """OI and premium of `legs` (columns of `strikes`) of one right in grid samples `grid`, one
        per leg; NaN where a sample lacks the strike."""
        used = set(grid.tolist())  # a handful of legs: cheaper as Python ints than numpy calls
        lo_g, hi_g = min(used), max(used)
        first, last = self.samples[lo_g], self.samples[hi_g]
        if len(used) <= 2 and first.strikes is strikes and last.strikes is strikes:
            # The usual case, a strike grid unchanged since the windows' starts and every leg's
            # base in one of two samples (a leg's window ends at the latest complete observation
            # or at the one in progress): picked leg by leg.
            first_oi, first_px = _leg_values(first, right)
            if lo_g == hi_g:
                return first_oi[legs], first_px[legs]
            in_first = grid == lo_g
            last_oi, last_px = _leg_values(last, right)
            return (
                np.where(in_first, first_oi[legs], last_oi[legs]),
                np.where(in_first, first_px[legs], last_px[legs]),
            )
        snaps = [self.samples[g] for g in range(lo_g, hi_g + 1)]
        if all(snap.strikes is strikes for snap in snaps):
            # The usual case, a strike grid unchanged since the windows' starts: one gather.
            at = (grid - lo_g, legs)
            if right == "CE":
                oi, px = [snap.call_oi for snap in snaps], [snap.call_ltp for snap in snaps]
            else:
                oi, px = [snap.put_oi for snap in snaps], [snap.put_ltp for snap in snaps]
            return np.array(oi, dtype=float)[at], np.array(px, dtype=float)[at]
        old_oi, old_px = np.full((2, len(legs)), np.nan)
        for g in np.unique(grid).tolist():  # each grid sample's legs at once
            k = np.flatnonzero(grid == g)
            snap = self.samples[g]
            i = legs[k]
            if snap.strikes is not strikes:  # a grid that changed since (snapshots are never empty)
                j = np.minimum(snap.strikes.searchsorted(strikes[i]), len(snap.strikes) - 1)
                found = snap.strikes[j] == strikes[i]
                k, i = k[found], j[found]
            old_oi[k] = (snap.call_oi if right == "CE" else snap.put_oi)[i]
            old_px[k] = (snap.call_ltp if right == "CE" else snap.put_ltp)[i]
        return old_oi, old_px


def _leg_values(snap: OiSnapshot, right: str) -> tuple[np.ndarray, np.ndarray]:
    """A snapshot's OI and premiums of one right, as float arrays."""
    oi, px = (snap.call_oi, snap.call_ltp) if right == "CE" else (snap.put_oi, snap.put_ltp)
    return np.asarray(oi, dtype=float), np.asarray(px, dtype=float)


def _same_chain(a: OiSnapshot, b: OiSnapshot) -> bool:
    return (
        (a.strikes is b.strikes or np.array_equal(a.strikes, b.strikes))
        and _same_values(a.call_oi, b.call_oi)
        and _same_values(a.put_oi, b.put_oi)
        and _same_values(a.call_ltp, b.call_ltp)
        and _same_values(a.put_ltp, b.put_ltp)
    )


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """np.array_equal(a, b, equal_nan=True), for float arrays without its overhead: every
    element equal or NaN in both (a chain's OI and premiums always have legs without a value)."""
    if a.dtype.kind != "f" or b.dtype.kind != "f" or a.shape != b.shape:
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(((a == b) | (np.isnan(a) & np.isnan(b))).all())
