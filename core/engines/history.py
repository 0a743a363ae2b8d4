"""Per-symbol event-time memory the engines look back through: spot, selected metrics, OI snapshots."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any, TypeGuard, TypeVar

import numpy as np

from core.analytics import numeric
from core.domain import LiveMetrics
from core.engines.debounce import Debounce
from core.engines.leg_grid import LegGrid, OiSnapshot, StrikeFlow
from core.engines.observations import ChainObservations
from core.engines.shapes import Pierce, Side, Spike, SpotShapes
from core.state.history import TIME_TOL, RingBuffer, edge_slack, observation_interval_s

# EngineHistory and the shapes the engines import from here.
__all__ = ["EngineHistory", "Pierce", "Side", "Spike", "StrikeFlow"]

# Scalar series kept besides spot; `total_volume` and `total_oi` are call + put sums in units.
TRACKED_METRICS = ("pcr_oi", "atm_straddle", "total_volume", "total_oi")

# How many sigma_1m answers are kept across updates (each engine asks for a few ends at most).
SIGMA_MEMO = 16
# How many answers `kept` holds for one series before starting afresh.
KEPT_MEMO = 64

T = TypeVar("T")


class EngineHistory(SpotShapes):
    """Bounded look-back for one symbol, advanced by `update(metrics)` before the engines run.

    Scalar series are kept per update (capacities in samples; at the default 1 s metrics interval
    4096 samples cover over an hour, more than the longest engine window, 30 minutes). Per-leg OI
    and premiums are kept on a fixed event-time grid (`oi_grid_s`): the sample at grid time t is
    every leg's value as of t, however the feed delivered it (whole snapshots or leg by leg), and
    the grid (`LegGrid`) covers `oi_retention_s`, the longest OI window a rule uses.
    """

    def __init__(
        self,
        symbol: str,
        capacity: int = 4096,
        oi_grid_s: float = 30.0,
        oi_retention_s: float = 1860.0,
        state_hold_s: float = 120.0,
        state_glitch_s: float = 0.0,
    ) -> None:
        self.symbol = symbol
        # The dealer-gamma regime (`LiveMetrics.dealer_gamma`) debounced like every state: rules
        # that ask "are dealers short gamma?" must not follow a flicker on a half-updated chain.
        self.gamma = Debounce(state_hold_s, state_glitch_s)
        self.observations = ChainObservations()
        # The chain as of each complete observation, stamped with its time: what chain-derived
        # windows (writing flow, PCR, straddle) are measured on, so they span the same
        # observations however the chain was delivered.
        self.observed_legs = LegGrid(oi_grid_s, oi_retention_s)
        self._reporting: LiveMetrics | None = None  # the last update that brought leg reports
        self.observation_metrics: LiveMetrics | None = None  # the chain the latest observation is as of
        self.spot = RingBuffer(capacity)
        self.metrics = {name: RingBuffer(capacity) for name in TRACKED_METRICS}
        self.legs = LegGrid(oi_grid_s, oi_retention_s)
        self._oi_data_ts: float | None = None  # when the chain (OI, premiums, PCR, ...) last changed
        self.updates = 0
        self._last_ts: float | None = None
        # The update before spot last moved: the move happened after it (and by the update after).
        self.spot_moved_after: float | None = None
        self.spot_moved = False  # the latest update moved spot
        # The update that brought the current spot: where windows that must not move with the
        # clock between two spot observations end (a snapshot feed's spot holds for a minute).
        self.spot_changed_ts: float | None = None
        # Engines query the same series many times per update; materialise each one once, until
        # it next changes (spot with every update, the tracked series with an observation).
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        # Answers that several engines, or both sides of one, ask for on the same update: functions
        # of the history as of this update.
        self._memo: dict[tuple[Any, ...], Any] = {}
        # sigma_1m answers kept across updates while the samples they read stand (see sigma_1m):
        # (window_s, end, min_returns) -> (sigma, first spot ts then, first grid time).
        self._sigmas: dict[tuple[float, float, int], tuple[float | None, float, float]] = {}
        # Answers that are functions of one tracked series, kept until it next changes (`kept`).
        self._kept: dict[str, dict[Hashable, Any]] = {name: {} for name in TRACKED_METRICS}
        self._interval: tuple[float | None] | None = None  # sample_interval_s, until spot moves

    @property
    def dealer_gamma(self) -> str | None:
        """The debounced dealer-gamma regime: long, short, neutral, or None before one has held."""
        state: str | None = self.gamma.state
        return state

    def update(self, metrics: LiveMetrics) -> bool:
        """Record one metrics update; an update older than the latest one is refused (False)."""
        last = self.last_ts
        if last is not None and metrics.ts < last:
            return False
        self.legs.update(metrics, compare=False)  # first: the part that can reject malformed arrays
        ts = metrics.ts
        obs = self.observations
        observed = obs.update(metrics)
        if observed is not None:
            chain = self._reporting if obs.closed_before and self._reporting is not None else metrics
            self.observation_metrics = chain
            self._observe(chain, observed)
        if obs.reporting:
            self._reporting = metrics
        self.spot_moved = False
        if _finite(metrics.spot):
            previous = self.spot.last()
            if previous is None or previous[1] != metrics.spot:
                self.spot_moved_after, self.spot_moved = last, True
                self.spot_changed_ts = ts
            if self.spot_moved or len(self.spot) == self.spot.capacity:  # else the interval holds:
                self._interval = None  # it depends on when spot changed (and on the first sample)
            self.spot.append(ts, float(metrics.spot))
        self._last_ts = ts
        self._cache.pop("spot", None)
        self._memo.clear()
        self.updates += 1
        return True

    def _observe(self, chain: LiveMetrics, ts: float) -> None:
        """Record one complete observation of the chain, observed at `ts`."""
        self.gamma.update(ts, chain.dealer_gamma)
        changed = self.observed_legs.update(chain, ts)
        for name, value in _tracked_values(chain).items():
            if _finite(value):
                series = self.metrics[name]
                last_value = series.last()
                if last_value is None or last_value[1] != value:
                    changed = True  # a chain-derived series moved: data changed
                series.append(ts, float(value))
                self._cache.pop(name, None)
                self._kept[name].clear()
        if changed or self._oi_data_ts is None:
            self._oi_data_ts = ts

    @property
    def observed(self) -> float | None:
        """When the chain this update completed was observed (`ChainObservations`); None when
        the update did not complete an observation of the whole chain."""
        return self.observations.observed

    @property
    def data_ts(self) -> float | None:
        """When the chain (OI, premiums, or a series derived from it) was last observed changed,
        as a complete observation's time (`ChainObservations`): where windows over chain-derived
        series (PCR, straddle) end, so a verdict changes when data does, not as the clock runs
        on, and spans the same observations whether the chain came whole or leg by leg."""
        return self._oi_data_ts

    @property
    def oi(self) -> deque[OiSnapshot]:
        """The per-leg grid samples, oldest first."""
        return self.legs.samples

    def oi_base(self, ts: float) -> tuple[OiSnapshot | None, str]:
        """The grid sample as of `ts` (the latest at or before it), or None and why not."""
        return self.legs.base(ts)

    def oi_flow(
        self, metrics: LiveMetrics, right: str, lo: float, hi: float, base_ts: float
    ) -> StrikeFlow | None:
        """OI and premium change for strikes in [lo, hi] of one right since the event at `base_ts`."""
        return self.legs.flow(metrics, right, lo, hi, base_ts)

    def oi_flow_over(
        self, metrics: LiveMetrics, right: str, lo: float, hi: float, window_s: float
    ) -> tuple[StrikeFlow | None, str]:
        """OI and premium change over `window_s` on the chain's observations, each leg back from
        the observation its latest value belongs to (LegGrid.flow_over)."""
        anchors = self._memo.get(("anchors",))
        if anchors is None:  # a function of the observations, which only update() advances
            anchors = self._memo["anchors",] = self.observations.anchors()
            anchors.flags.writeable = False
        if len(anchors) != 2 * len(metrics.strikes):
            anchors = np.concatenate((metrics.call_ts, metrics.put_ts))
        return self.observed_legs.flow_over(
            metrics, right, lo, hi, window_s, self.window_slack(window_s), anchors
        )

    def value_ago(self, name: str, seconds: float, end_ts: float | None = None) -> float | None:
        """The value of a series as of `seconds` before `end_ts` (default the latest update);
        None if the series is not that old."""
        now = self.last_ts if end_ts is None else end_ts
        if now is None:
            return None
        ts, val = self.arrays(name)
        i = int(ts.searchsorted(now - seconds, side="right")) - 1
        value = float(val[i]) if i >= 0 else math.nan
        return value if math.isfinite(value) else None

    def sample(self, name: str, times: np.ndarray) -> np.ndarray:
        """Values as of each time (last at or before it); NaN where the series does not reach back."""
        ts, val = self.arrays(name)
        idx = ts.searchsorted(times, side="right") - 1
        ok = idx >= 0
        if ok.all():  # the usual case: the series reaches back to every time
            return val[idx]
        out = np.full(len(times), np.nan)
        out[ok] = val[idx[ok]]
        return out

    def kept(self, series: str, key: Hashable, compute: Callable[[], T]) -> T:
        """compute(), remembered until the tracked `series` next changes: for an answer that is
        a function of that series and of `key` alone (which must say everything else it reads)."""
        memo = self._kept[series]
        if key in memo:
            found: T = memo[key]
            return found
        if len(memo) >= KEPT_MEMO:
            memo.clear()
        found = memo[key] = compute()
        return found

    def sample_interval_s(self) -> float | None:
        """Seconds between spot observations, the median over recent ones (None before two): the
        finest spot move the engines can see."""
        if self._interval is None:
            self._interval = (observation_interval_s(*self.arrays("spot")),)
        return self._interval[0]

    def window_slack(self, window_s: float) -> float:
        """How much younger than `window_s` a window's base may be: half the feed's observation
        interval (so the base is the observation nearest the window's start), TIME_TOL of the
        window while the interval is unknown."""
        interval = self.sample_interval_s()
        return edge_slack(interval, window_s) if interval else window_s * TIME_TOL

    def too_coarse(self, span_s: float, samples: int) -> str | None:
        """Why spot is sampled too coarsely for a rule that must see `samples` spot observations
        within `span_s` seconds; None when it is not (or no interval is known yet). Such a rule is
        not evaluable: a feed sampled every 5 minutes cannot show a 60-second spike, and scoring
        the rule 0 would claim there was none.
        """
        interval = self.sample_interval_s()
        finest = span_s * (1 + TIME_TOL) / max(samples - 1, 1)
        if interval is None or interval <= finest:
            return None
        return (
            f"spot sampled every ~{interval:.0f} s; the rule needs {samples} samples within "
            f"{span_s:.0f} s (at most {finest:.0f} s apart)"
        )

    def _minute_samples(self, name: str, end: float, window_s: float) -> tuple[np.ndarray, np.ndarray]:
        """The samples of a series that stand for a 1-minute grid over [end - window_s, end]: the
        latest sample as of each grid time, each once. On a dense series these are the grid
        values; on a sparse one (snapshots minutes apart) every sample, at its own time."""
        ts, val = self.arrays(name)
        grid = end - 60.0 * np.arange(int(window_s // 60), -1, -1)
        idx = np.unique(np.searchsorted(ts, grid, side="right") - 1)
        idx = idx[idx >= 0]
        return ts[idx], val[idx]

    def sigma_1m(
        self, window_s: float = 1800.0, end_ts: float | None = None, min_returns: int = 5
    ) -> float | None:
        """Standard deviation of 1-minute log returns of spot over (end_ts - window_s, end_ts], as a
        fraction. Ending the window before the move being judged keeps it out of its own yardstick.

        The same window is asked for on many updates (a spike's start stays put while it is in
        the hunt's window), so answers are kept while the samples they read stand: each grid time
        reads the last spot sample at or before it, an answer is kept only when a sample after
        `end` was already stored (timestamps never decrease, so later samples are all after
        `end`), and the ring's evictions only change grid times before its first sample.
        """
        end = self.last_ts if end_ts is None else end_ts
        if end is None:
            return None
        ts, _ = self.arrays("spot")
        key = (window_s, end, min_returns)
        kept = self._sigmas.pop(key, None)
        if kept is not None and len(ts) and (kept[1] == ts[0] or kept[2] >= ts[0]):
            self._sigmas[key] = kept  # re-inserted: the most recently used are kept longest
            return kept[0]
        grid = end - _minute_steps(int(window_s // 60))
        px = self.sample("spot", grid)
        px = px[np.isfinite(px) & (px > 0)]
        log_px = np.log(px)
        rets = log_px[1:] - log_px[:-1]  # np.diff's arithmetic
        sigma = numeric.std(rets, ddof=1) if len(rets) >= min_returns else None
        if len(ts) and end < ts[-1]:
            if len(self._sigmas) >= SIGMA_MEMO:
                del self._sigmas[next(iter(self._sigmas))]  # the least recently used
            self._sigmas[key] = (sigma, float(ts[0]), float(grid[0]))
        return sigma

    def volume_rate(self, t0: float, t1: float) -> float | None:
        """Units traded per minute from the cumulative-volume sample as of `t0` to the one as of
        `t1`, over the time that really separates those samples (on a feed sampled every few
        minutes, more than t1 - t0); None without two distinct samples or if volume fell."""
        ts, v = self.arrays("total_volume")
        i0, i1 = (int(i) for i in np.searchsorted(ts, [t0, t1], side="right") - 1)
        if i0 < 0 or not ts[i1] > ts[i0] or v[i1] < v[i0]:
            return None
        return float(60.0 * (v[i1] - v[i0]) / (ts[i1] - ts[i0]))

    def median_minute_volume(self, end_ts: float, window_s: float = 1800.0) -> float | None:
        """Median units traded per minute over the window ending at `end_ts`, each rate over the
        time between real samples (a grid finer than the feed would read most minutes as 0)."""
        ts, v = self._minute_samples("total_volume", end_ts, window_s)
        dt, dv = np.diff(ts), np.diff(v)
        rates = 60.0 * dv[dv >= 0] / dt[dv >= 0]
        if len(rates) < 3:
            return None
        return float(np.median(rates))


@lru_cache(maxsize=8)
def _minute_steps(minutes: int) -> np.ndarray:
    """60 * [minutes, ..., 1, 0]: the offsets of a 1-minute grid back from its end (read-only)."""
    steps = 60.0 * np.arange(minutes, -1, -1)
    steps.flags.writeable = False
    return steps


def _tracked_values(m: LiveMetrics) -> dict[str, float | None]:
    def total(a: float | None, b: float | None) -> float | None:
        return a + b if a is not None and b is not None else None

    return {
        "pcr_oi": m.pcr_oi,
        "atm_straddle": m.atm_straddle,
        "total_volume": total(m.total_call_volume, m.total_put_volume),
        "total_oi": total(m.total_call_oi, m.total_put_oi),
    }


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)
