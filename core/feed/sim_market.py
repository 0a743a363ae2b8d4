"""One index's simulated option market: spot, regime, IV level and its option books (strikes x
{CE, PE} per expiry), advanced step by step in event time for core/feed/simulator.py."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from core.config import DEFAULT_LOT_SIZE, DEFAULT_STRIKE_STEP
from core.domain import InstrumentInfo, Right
from core.feed import market_model as mm
from core.market_calendar import MarketCalendar, expiry_close_epoch

STRIKES_EACH_SIDE = 40
EXPIRIES = 2
OI_UPDATE_S = (150.0, 210.0)  # exchange OI arrives in steps about every 3 minutes
OI_NOMINAL_S = 180.0  # OI drift and noise are per this much time, however often OI is published
# A real chain's OI moves smoothly between 3-minute steps: positions drift towards the day's shape
# (this fraction of the gap closed per nominal step) with per-strike noise of a few tenths of a
# percent. Larger noise would read as writing/buying waves and an extreme flow imbalance in calm.
OI_REVERSION = 0.06
OI_UNWIND = 0.25  # positions above the shape close this much slower than new ones open
OI_NOISE = 0.003
OI_TEXTURE = 0.05  # log-sd of a strike's popularity against the smooth shape
# Positions are sticky: the shape they drift towards is centred on spot smoothed over this long,
# so a wiggle across a strike does not read as call unwinding and put writing.
OI_ANCHOR_TAU_S = 3600.0
RATE = 0.055
FAR_EXPIRY_WEIGHT = 0.45  # later expiries hold and trade less than the nearest one


@dataclass(slots=True)
class Book:
    """One expiry's chain for one symbol: strikes x {CE, PE} as flat arrays."""

    expiry: date
    close_ts: float
    K: np.ndarray
    is_call: np.ndarray
    weight: float
    texture: np.ndarray  # per-leg popularity around the smooth OI shape, fixed for the book's life
    oi: np.ndarray
    prev_oi: np.ndarray
    volume: np.ndarray
    prev_close: np.ndarray
    price: np.ndarray
    # K and the rights as Python values, fixed like K: both deliveries read a leg's from these
    # when they build its tick instead of converting array slices every step.
    strikes: list[float] = field(init=False)
    rights: list[Right] = field(init=False)
    # mm.liquidity(K) at spot `liq_spot`: advance, quote_draws and the broker delivery all need it
    # at the same spot.
    liq: np.ndarray = field(init=False)
    liq_spot: float = field(init=False, default=math.nan)

    def __post_init__(self) -> None:
        self.strikes = self.K.tolist()
        self.rights = ["CE" if call else "PE" for call in self.is_call.tolist()]


@dataclass(frozen=True, slots=True)
class Quotes:
    """One step's trades on one book: leg indices, trade price, bid, ask and depth (units, n x 2)."""

    idx: np.ndarray
    ltp: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    depth: np.ndarray


class SymbolMarket:
    """The evolving market of one index: spot, regime, IV level and its option books."""

    def __init__(
        self, symbol: str, seed: int, scenario: mm.Scenario, rate: float, warmup_s: float = 0.0
    ) -> None:
        self.symbol = symbol
        self.profile = mm.PROFILES.get(symbol, mm.PROFILES["NIFTY"])
        self.lot = DEFAULT_LOT_SIZE.get(symbol, 1)
        self.step = DEFAULT_STRIKE_STEP.get(symbol, 50.0)
        self.rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
        self.scenario = scenario
        self.rate = rate
        self.warmup_s = warmup_s
        start = scenario.fixed_regime or "calm"
        self.regimes = mm.RegimeChain(self.rng, start, fixed=scenario.fixed_regime is not None)
        self.spot = self.profile.spot * math.exp(0.01 * self.rng.standard_normal())
        self.spot_prev_close = self.spot * math.exp(-0.004 * self.rng.standard_normal())
        self.iv_level = self.profile.atm_iv
        self.oi_anchor = self.spot  # the spot the OI shape is built around (follows spot slowly)
        self.books: list[Book] = []
        self.state = self.regimes.fill(mm.REGIMES[self.regimes.current])
        self.next_oi_ts = 0.0
        self.last_oi_ts = 0.0
        self.session_open = 0.0
        self.script_start = 0.0
        self.memo: dict[str, Any] = {}

    def start_session(
        self, calendar: MarketCalendar, day: date, open_ts: float, now: float, first: bool
    ) -> None:
        """Roll the day: yesterday's closes become prev_close/prev_oi, volume resets, expiries roll.

        `now` is when the simulation (re)starts: the open, or a mid-session `config.start`; the
        script starts `self.warmup_s` later (until then the scenario's baseline regime runs).
        """
        if not first:
            for b in self.books:
                b.prev_close, b.prev_oi = mm.to_tick(b.price), b.oi.copy()
                b.volume = np.zeros_like(b.volume)
            self.spot_prev_close = self.spot
            self.spot *= math.exp(0.004 * self.rng.standard_normal())  # overnight gap
        kept = {b.expiry: b for b in self.books}
        expiries = calendar.expiries(self.symbol, day, EXPIRIES)
        self.books = [
            kept.get(e) or self._new_book(e, now, FAR_EXPIRY_WEIGHT if i else 1.0)
            for i, e in enumerate(expiries)
        ]
        for i, b in enumerate(self.books):
            b.weight = FAR_EXPIRY_WEIGHT if i else 1.0
        self.session_open = open_ts
        self.last_oi_ts = now
        self.next_oi_ts = now + self.rng.uniform(*OI_UPDATE_S)
        # Each session replays the script, after its own warm-up, with fresh pinned levels.
        self.script_start, self.memo = now + self.warmup_s, {}

    def view(self, ts: float) -> mm.MarketView:
        """The front expiry's OI by strike, for the scenario script (read-only array views)."""
        b = self.books[0]
        strikes, call_oi, put_oi = b.K[0::2], b.oi[0::2], b.oi[1::2]
        for a in (strikes, call_oi, put_oi):
            a.flags.writeable = False
        return mm.MarketView(
            self.symbol, ts, self.script_start, self.spot, self.step, strikes, call_oi, put_oi, self.memo
        )

    def _new_book(self, expiry: date, ts: float, weight: float) -> Book:
        atm = round(self.spot / self.step) * self.step
        strikes = atm + self.step * np.arange(-STRIKES_EACH_SIDE, STRIKES_EACH_SIDE + 1)
        K = np.repeat(strikes, 2)
        is_call = np.tile([True, False], len(strikes))
        close = expiry_close_epoch(expiry)
        # Some strikes stay more popular than their neighbours; a fixed texture keeps the shape
        # ragged without the daily drift turning that raggedness into per-strike flow.
        texture = np.exp(OI_TEXTURE * self.rng.standard_normal(len(K)))
        oi = self._lots(self._oi_target(K, is_call, weight, 0.0) * texture)
        prev_oi = self._lots(oi * np.exp(0.08 * self.rng.standard_normal(len(K))))
        # Yesterday's close: yesterday's spot with one more day to expiry.
        prev_close = mm.to_tick(self._fair(K, is_call, close, ts - 86400.0, self.spot_prev_close))
        price = mm.to_tick(self._fair(K, is_call, close, ts, self.spot))
        return Book(
            expiry, close, K, is_call, weight, texture, oi, prev_oi, np.zeros(len(K)), prev_close, price
        )

    def _lots(self, units: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, np.rint(units / self.lot)) * self.lot

    def _oi_target(
        self, K: np.ndarray, is_call: np.ndarray, weight: float, session_frac: float
    ) -> np.ndarray:
        peak = self.profile.oi_peak_lots * self.lot * weight * (1.0 + 0.6 * session_frac)
        return peak * mm.oi_profile(K, self.oi_anchor, self.step, is_call)

    def _fair(
        self, K: np.ndarray, is_call: np.ndarray, close_ts: float, ts: float, spot: float
    ) -> np.ndarray:
        T = max((close_ts - ts) / mm.CALENDAR_YEAR_S, mm.MIN_T_YEARS)
        F = spot * math.exp(self.rate * T)
        atm = mm.atm_iv(self.iv_level, T, self.state)
        return mm.black76(is_call, F, K, T, self.rate, mm.smile(K, F, T, atm))

    def advance(self, ts: float, dt: float) -> bool:
        """Move spot, IV, OI and volume to `ts`; True when OI was updated this step."""
        self.state = self.regimes.fill(self.regimes.step(dt))
        self.state.market = self.view(ts)
        self.scenario.adjust(self.symbol, ts, self.spot, self.state)
        ret = mm.spot_log_return(self.rng, self.state, dt)
        self.spot *= math.exp(ret)
        # IV mean-reverts to the symbol's level and rises when spot falls (leverage effect).
        base = self.profile.atm_iv
        self.iv_level += (base - self.iv_level) * dt / 1800.0 - 1.5 * ret * self.iv_level
        self.iv_level = min(max(self.iv_level, 0.5 * base), 3.0 * base)
        oi_step = ts >= self.oi_due()
        if oi_step:
            self.next_oi_ts = ts + self.rng.uniform(*OI_UPDATE_S)
            pull = min(1.0, max(ts - self.last_oi_ts, 0.0) / OI_ANCHOR_TAU_S)
            self.oi_anchor += (self.spot - self.oi_anchor) * pull
        for b in self.books:
            if oi_step:
                self._update_oi(b, ts)
            liq = self.liquidity(b)
            rate = self.profile.volume_lots_per_s * b.weight * self.state.activity * liq * dt
            b.volume += self.rng.poisson(rate) * self.lot
            b.price = self._fair(b.K, b.is_call, b.close_ts, ts, self.spot)
        if oi_step:
            self.last_oi_ts = ts
        return oi_step

    def liquidity(self, b: Book) -> np.ndarray:
        """mm.liquidity of book `b`'s legs at the current spot, computed once per spot (read-only)."""
        if b.liq_spot != self.spot:
            b.liq = mm.liquidity(b.K, self.spot, self.step)
            b.liq.flags.writeable = False
            b.liq_spot = self.spot
        return b.liq

    def oi_due(self) -> float:
        """When the next exchange OI step is due: the ~3-minute cycle, or a script's faster one."""
        due = self.next_oi_ts
        if self.state.oi_interval_s is not None:
            due = min(due, self.last_oi_ts + self.state.oi_interval_s)
        return due

    def _update_oi(self, b: Book, ts: float) -> None:
        frac = min(1.0, (ts - self.session_open) / mm.SESSION_SECONDS)
        target = self._oi_target(b.K, b.is_call, b.weight, frac) * b.texture
        # Positions drift in event time: a faster OI cadence publishes smaller steps, not bigger moves.
        elapsed = min(1.0, max(ts - self.last_oi_ts, 0.0) / OI_NOMINAL_S)
        noise = OI_NOISE * math.sqrt(elapsed) * self.rng.standard_normal(len(b.K))
        s = self.state
        scripted = np.where(b.is_call, s.call_oi_flow, s.put_oi_flow)
        focus = np.full(len(b.K), np.nan if s.oi_focus is None else s.oi_focus)
        if s.put_oi_focus is not None:
            focus[~b.is_call] = s.put_oi_focus
        near = np.exp(-0.5 * ((b.K - focus) / (s.oi_focus_strikes * self.step)) ** 2)
        scripted = scripted * np.where(np.isnan(focus), 1.0, near)
        base = np.maximum(b.oi, 100.0 * self.lot)
        gap = target - b.oi
        b.oi = self._lots(
            b.oi
            + OI_REVERSION * elapsed * gap * np.where(gap > 0, 1.0, OI_UNWIND)
            + b.oi * noise
            + base * scripted
        )

    def quotes(self, b: Book, full: bool) -> Quotes:
        """The legs that trade this step (all when `full`): trade price, bid, ask and depth."""
        idx, buyer, depth = self.quote_draws(b, full)
        price = np.maximum(b.price[idx], mm.TICK_SIZE)
        bid, ask = mm.quote(price, b.K[idx], self.spot, self.step, self.state)
        return Quotes(idx, np.where(buyer, ask, bid), bid, ask, depth)

    def quote_draws(self, b: Book, full: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The random part of `quotes`: (legs that trade, buyer-initiated, depth in units).

        Drawn from the market's own generator, as sync delivery always has; broker delivery makes
        the same draws and discards them, so a seed gives one market whichever way it is delivered.
        """
        liq = self.liquidity(b)
        if full:
            idx = np.arange(len(b.K))
        else:
            idx = (self.rng.random(len(b.K)) < np.minimum(1.0, 0.6 * liq * b.weight)).nonzero()[0]
        buyer = self.rng.random(len(idx)) < 0.5
        depth = mm.depth_lots(self.rng, liq[idx].repeat(2).reshape(-1, 2), self.state) * self.lot
        return idx, buyer, depth

    def info(self) -> InstrumentInfo:
        return InstrumentInfo(self.symbol, self.lot, self.step, tuple(b.expiry for b in self.books))
