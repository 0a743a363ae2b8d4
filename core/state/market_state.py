"""MarketStateManager: the single-writer in-memory market that publishes immutable ChainSnapshots."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

import numpy as np

from core.config import DEFAULT_LOT_SIZE, DEFAULT_STRIKE_STEP
from core.domain import ChainSnapshot, FeedItem, InstrumentInfo, LegKey, MarketStatus, Tick
from core.market_calendar import MarketCalendar

FALLBACK_LOT_SIZE = 1
FALLBACK_STRIKE_STEP = 50.0
MAX_UNKNOWN_NAMES = 64  # distinct unknown symbols remembered by name; the total is always counted
TTL_SWEEP_EVERY_S = 30.0  # event seconds between TTL sweeps, so apply/publish stay O(changed legs)


@dataclass(slots=True)
class _SymbolState:
    """Mutable per-symbol state. Touched by the writer thread only."""

    symbol: str
    lot_size: int
    strike_step: float
    step_from_info: bool = False
    info_expiries: tuple[date, ...] = ()
    spot: Tick | None = None
    spot_prev_close: float | None = None
    last_ts: float = 0.0
    ticks: int = 0
    atm: float | None = None
    next_sweep_ts: float = 0.0
    structure_changed: bool = True
    derived_expiries: tuple[date, ...] = ()
    strikes: tuple[float, ...] = ()
    legs: dict[LegKey, Tick] = field(default_factory=dict)


class MarketStateManager:
    """Keeps every configured symbol's underlying and legs; publishes one ChainSnapshot per dirty symbol.

    Threading: `apply` and `publish` belong to the single writer (the feed thread). `snapshot` and
    `snapshots` are lock-free for any reader: they read a reference that `publish` swaps whole, and
    every published snapshot is immutable. It keeps no history: the structural engine keeps the
    spot and OI history metrics need, the engine pipeline the one signals look back through.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        calendar: MarketCalendar | None = None,
        leg_ttl_s: float = 1800.0,
        max_legs_per_symbol: int = 4000,
        atm_margin_steps: float = 0.1,
    ) -> None:
        self.calendar = calendar or MarketCalendar.default()
        self.leg_ttl_s = leg_ttl_s
        self.max_legs_per_symbol = max_legs_per_symbol
        # Extra distance past the half-step before ATM moves, so spot hovering at a midpoint
        # does not flip ATM back and forth on every tick.
        self.atm_margin_steps = atm_margin_steps
        self._states = {
            s: _SymbolState(
                s,
                DEFAULT_LOT_SIZE.get(s, FALLBACK_LOT_SIZE),
                DEFAULT_STRIKE_STEP.get(s, FALLBACK_STRIKE_STEP),
            )
            for s in symbols
        }
        self._dirty: set[str] = set()
        self._market = "OPEN"
        self._published: Mapping[str, ChainSnapshot] = MappingProxyType({})
        self.unknown_ticks = 0
        self.unknown_symbols: Counter[str] = Counter()
        self.out_of_order = 0
        self.dropped_legs = 0

    # writer side

    def apply(self, items: Iterable[FeedItem]) -> set[str]:
        """Apply one frame's items; returns the symbols that changed (they are now dirty)."""
        changed: set[str] = set()
        states = self._states
        for item in items:
            if type(item) is Tick:
                state = states.get(item.symbol)
                if state is None:
                    self._count_unknown(item.symbol)
                elif self._apply_tick(state, item):
                    changed.add(item.symbol)
            elif isinstance(item, InstrumentInfo):
                if self._apply_info(item):
                    changed.add(item.symbol)
            elif isinstance(item, MarketStatus):
                self._market = item.market
                changed.update(states)
        self._dirty |= changed
        return changed

    def _apply_tick(self, state: _SymbolState, tick: Tick) -> bool:
        if tick.right is None:
            prev = state.spot
            if prev is not None and tick.ts < prev.ts:
                self.out_of_order += 1
                return False
            state.spot = tick
            if tick.prev_close is not None:
                state.spot_prev_close = tick.prev_close
        else:
            key = tick.key
            prev = state.legs.get(key)
            if prev is not None and tick.ts < prev.ts:
                self.out_of_order += 1
                return False
            if prev is None:
                state.structure_changed = True
            state.legs[key] = tick
        state.ticks += 1
        if tick.ts > state.last_ts:
            state.last_ts = tick.ts
        return True

    def _apply_info(self, info: InstrumentInfo) -> bool:
        state = self._states.get(info.symbol)
        if state is None:
            self._count_unknown(info.symbol)
            return False
        if info.lot_size:
            state.lot_size = int(info.lot_size)
        if info.strike_step:
            state.strike_step = float(info.strike_step)
            state.step_from_info = True
        if info.expiries:
            state.info_expiries = tuple(sorted(info.expiries))
        return True

    def _count_unknown(self, symbol: str) -> None:
        self.unknown_ticks += 1
        if symbol in self.unknown_symbols or len(self.unknown_symbols) < MAX_UNKNOWN_NAMES:
            self.unknown_symbols[symbol] += 1

    def publish(self) -> dict[str, ChainSnapshot]:
        """Build one new snapshot per dirty symbol and swap the published reference once."""
        if not self._dirty:
            return {}
        fresh: dict[str, ChainSnapshot] = {}
        for symbol in self._dirty:
            fresh[symbol] = self._build(self._states[symbol])
        self._dirty = set()
        merged = dict(self._published)
        merged.update(fresh)
        self._published = MappingProxyType(merged)
        return fresh

    def _build(self, state: _SymbolState) -> ChainSnapshot:
        if state.last_ts >= state.next_sweep_ts:
            self._sweep(state)
            state.next_sweep_ts = state.last_ts + TTL_SWEEP_EVERY_S
        if len(state.legs) > self.max_legs_per_symbol:
            self._evict_oldest(state, len(state.legs) - self.max_legs_per_symbol)
        if state.structure_changed:
            self._derive_structure(state)
        spot = state.spot
        if spot is not None:
            self._update_atm(state, spot.ltp)
        return ChainSnapshot(
            symbol=state.symbol,
            ts=state.last_ts,
            spot=spot.ltp if spot is not None else None,
            spot_prev_close=state.spot_prev_close,
            atm_strike=state.atm,
            lot_size=state.lot_size,
            strike_step=state.strike_step,
            expiries=state.info_expiries or state.derived_expiries,
            legs=MappingProxyType(dict(state.legs)),
            tick_count=state.ticks,
            market=self._market,
        )

    def _sweep(self, state: _SymbolState) -> None:
        """Drop legs not updated for the TTL (event time) and legs whose expiry has closed."""
        cutoff = state.last_ts - self.leg_ttl_s
        closes = {e: self.calendar.session_close_epoch(e) for e in state.derived_expiries}
        stale = [
            k
            for k, t in state.legs.items()
            if t.ts < cutoff or closes.get(k[0], state.last_ts) < state.last_ts
        ]
        self._drop(state, stale)

    def _evict_oldest(self, state: _SymbolState, count: int) -> None:
        oldest = sorted(state.legs.items(), key=lambda kv: kv[1].ts)[:count]
        self._drop(state, [k for k, _ in oldest])

    def _drop(self, state: _SymbolState, keys: list[LegKey]) -> None:
        for key in keys:
            del state.legs[key]
        if keys:
            self.dropped_legs += len(keys)
            state.structure_changed = True

    def _derive_structure(self, state: _SymbolState) -> None:
        state.derived_expiries = tuple(sorted({k[0] for k in state.legs}))
        state.strikes = tuple(sorted({k[1] for k in state.legs}))
        if not state.step_from_info:
            derived = derive_strike_step(state.strikes)
            if derived is not None:
                state.strike_step = derived
        state.structure_changed = False

    def _update_atm(self, state: _SymbolState, spot: float) -> None:
        step = state.strike_step
        if state.atm is not None and abs(spot - state.atm) <= step * (0.5 + self.atm_margin_steps):
            return
        listed = nearest_strike(state.strikes, spot)
        state.atm = listed if listed is not None else round(spot / step) * step

    # reader side

    def snapshot(self, symbol: str) -> ChainSnapshot | None:
        """The latest published snapshot of `symbol`; lock-free, safe from any thread."""
        return self._published.get(symbol)

    def snapshots(self) -> Mapping[str, ChainSnapshot]:
        """All latest snapshots, as one consistent read-only mapping."""
        return self._published

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._states)

    def stats(self) -> dict[str, Any]:
        """Counters for the System page. Values are read without locking and may lag one publish."""
        per_symbol = {
            s: {"ticks": st.ticks, "legs": len(st.legs), "last_ts": st.last_ts or None}
            for s, st in self._states.items()
        }
        return {
            "symbols": per_symbol,
            "unknown_symbol_ticks": self.unknown_ticks,
            "unknown_symbols": dict(self.unknown_symbols),
            "out_of_order": self.out_of_order,
            "dropped_legs": self.dropped_legs,
            "market": self._market,
        }


def derive_strike_step(strikes: Sequence[float]) -> float | None:
    """The most common gap between adjacent listed strikes (the smallest on ties), or None."""
    if len(strikes) < 3:
        return None
    gaps = Counter(round(b - a, 6) for a, b in zip(strikes, strikes[1:], strict=False) if b > a)
    if not gaps:
        return None
    best = max(gaps.values())
    return min(g for g, n in gaps.items() if n == best)


def nearest_strike(strikes: Sequence[float] | np.ndarray, price: float) -> float | None:
    """The strike of ascending `strikes` nearest `price` (lower on ties); None when nothing is
    listed or the price is not finite. The state's ATM and the engines' level strikes use this one."""
    if len(strikes) == 0 or not math.isfinite(price):
        return None
    i = bisect.bisect_left(strikes, price)
    if i == 0:
        return float(strikes[0])
    if i == len(strikes):
        return float(strikes[-1])
    lo, hi = strikes[i - 1], strikes[i]
    return float(hi if hi - price < price - lo else lo)
