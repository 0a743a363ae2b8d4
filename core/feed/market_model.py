"""The simulator's market maths: regimes, step state, IV smile, Black-76, OI shape, spreads and depth.

Pure functions of numpy arrays plus two small mutable records (`StepState`, `RegimeChain`) so a
scenario script can steer a simulated market one step at a time without touching the pricing code;
`MarketView` is what such a script may read of the market it steers (core/feed/script.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.special import ndtr

from core.market_calendar import TRADING_SECONDS_PER_YEAR

SESSION_SECONDS = 6.25 * 3600.0  # 09:15-15:30
TRADING_YEAR_S = TRADING_SECONDS_PER_YEAR  # spot diffuses in trading time only
CALENDAR_YEAR_S = 365.0 * 86400.0  # option time to expiry is calendar time
MIN_T_YEARS = 60.0 / CALENDAR_YEAR_S  # one minute, so expiry-day prices stay finite
TICK_SIZE = 0.05  # NSE option price tick


@dataclass(frozen=True, slots=True)
class Regime:
    """One volatility regime. Drift is a per-session log move; vol and IV are annualised."""

    name: str
    vol: float
    session_drift: float
    jumps_per_session: float
    jump_sd: float
    iv_mult: float
    front_iv_premium: float  # >0 inverts the term structure (near expiry richer)
    spread_mult: float
    depth_mult: float
    activity: float  # volume multiplier
    mean_dwell_s: float


REGIMES: dict[str, Regime] = {
    # No jumps in calm: a gap through a wall that drifts back is a textbook stop hunt, not calm.
    "calm": Regime("calm", 0.09, 0.0, 0.0, 0.002, 0.95, -0.05, 1.0, 1.0, 0.8, 3600.0),
    "trending": Regime("trending", 0.13, 0.012, 0.8, 0.003, 1.05, 0.03, 1.2, 0.9, 1.3, 2400.0),
    "volatile": Regime("volatile", 0.26, 0.0, 3.0, 0.006, 1.45, 0.15, 2.2, 0.55, 1.9, 1500.0),
}

# Probability of moving to each other regime when the current one ends (rows sum to 1).
REGIME_EXITS: dict[str, dict[str, float]] = {
    "calm": {"trending": 0.7, "volatile": 0.3},
    "trending": {"calm": 0.6, "volatile": 0.4},
    "volatile": {"calm": 0.5, "trending": 0.5},
}


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    """Per-index shape of the simulated market."""

    spot: float
    atm_iv: float
    oi_peak_lots: float  # OI of the largest strike, in lots, near expiry
    volume_lots_per_s: float  # ATM front-expiry trading rate


PROFILES: dict[str, SymbolProfile] = {
    "NIFTY": SymbolProfile(25000.0, 0.115, 180_000.0, 60.0),
    "BANKNIFTY": SymbolProfile(56000.0, 0.135, 60_000.0, 25.0),
    "FINNIFTY": SymbolProfile(26500.0, 0.13, 20_000.0, 6.0),
    "MIDCPNIFTY": SymbolProfile(13000.0, 0.16, 25_000.0, 8.0),
}


@dataclass(slots=True)
class StepState:
    """What drives one symbol for one step. The simulator fills it from the regime; a scenario
    may then override any field before the step is applied."""

    regime: str
    drift_per_s: float  # log drift per event second
    vol: float  # annualised spot vol (trading time)
    jumps_per_session: float
    jump_sd: float
    shock: float = 0.0  # one-off log return added this step (scripted gap, sweep, squeeze)
    iv_mult: float = 1.0
    front_iv_premium: float = 0.0
    spread_mult: float = 1.0
    depth_mult: float = 1.0
    activity: float = 1.0
    call_oi_flow: float = 0.0  # extra call OI per OI update, as a fraction (+ writing, - unwinding)
    put_oi_flow: float = 0.0
    oi_focus: float | None = None  # strike the scripted OI flow concentrates on (None = spread out)
    put_oi_focus: float | None = None  # a separate strike for the put flow (None = oi_focus)
    oi_focus_strikes: float = 1.5  # how many strikes either side the focused flow spreads over (1 sd)
    oi_interval_s: float | None = None  # a script may make exchange OI arrive faster than every ~3 min
    market: MarketView | None = None  # what a script may read this step (filled by the simulator)


@dataclass(frozen=True, slots=True)
class MarketView:
    """Read-only view of one symbol's market for a scenario script: the front expiry's OI by strike.

    `script_start` is when the script began (the simulation start or a session open); `memo` is a
    per-symbol scratch dict the script may keep its pinned levels in, so scenario objects stay
    stateless and every run of the simulator replays the same script from the start.
    """

    symbol: str
    ts: float
    script_start: float
    spot: float
    step: float
    strikes: np.ndarray  # ascending
    call_oi: np.ndarray  # units, per strike
    put_oi: np.ndarray
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return self.ts - self.script_start


class Scenario(Protocol):
    """A script that steers the simulated market. `fixed_regime` None lets regimes switch.

    `adjust` may read `state.market` (a MarketView of this symbol) to play against live levels.
    """

    @property
    def name(self) -> str: ...

    @property
    def fixed_regime(self) -> str | None: ...

    def adjust(self, symbol: str, ts: float, spot: float, state: StepState) -> None:
        """Override fields of `state` for this step (called after the regime has filled it)."""


@dataclass(frozen=True, slots=True)
class RegimeScenario:
    """No script: the market stays in one regime, or switches (fixed_regime None)."""

    name: str
    fixed_regime: str | None

    def adjust(self, symbol: str, ts: float, spot: float, state: StepState) -> None:
        return None


class RegimeChain:
    """Markov regime switching in event time, with a random trend direction per trending spell."""

    def __init__(self, rng: np.random.Generator, start: str, fixed: bool) -> None:
        self.rng = rng
        self.current = start
        self.fixed = fixed
        self.trend_sign = 1.0 if rng.random() < 0.5 else -1.0

    def step(self, dt: float) -> Regime:
        regime = REGIMES[self.current]
        if not self.fixed and self.rng.random() < dt / regime.mean_dwell_s:
            exits = REGIME_EXITS[self.current]
            names = list(exits)
            self.current = names[int(self.rng.choice(len(names), p=list(exits.values())))]
            regime = REGIMES[self.current]
            if self.current == "trending":
                self.trend_sign = 1.0 if self.rng.random() < 0.5 else -1.0
        return regime

    def fill(self, regime: Regime) -> StepState:
        return StepState(
            regime=regime.name,
            drift_per_s=self.trend_sign * regime.session_drift / SESSION_SECONDS,
            vol=regime.vol,
            jumps_per_session=regime.jumps_per_session,
            jump_sd=regime.jump_sd,
            iv_mult=regime.iv_mult,
            front_iv_premium=regime.front_iv_premium,
            spread_mult=regime.spread_mult,
            depth_mult=regime.depth_mult,
            activity=regime.activity,
        )


def spot_log_return(rng: np.random.Generator, state: StepState, dt: float) -> float:
    """One GBM step in trading time plus Poisson jumps and any scripted shock."""
    sigma = state.vol * np.sqrt(dt / TRADING_YEAR_S)
    ret = (state.drift_per_s * dt) - 0.5 * sigma * sigma + sigma * rng.standard_normal()
    if rng.random() < state.jumps_per_session * dt / SESSION_SECONDS:
        ret += state.jump_sd * rng.standard_normal()
    return float(ret + state.shock)


def black76(
    is_call: np.ndarray,
    F: np.ndarray | float,
    K: np.ndarray,
    T: np.ndarray | float,
    r: float,
    sigma: np.ndarray,
) -> np.ndarray:
    """Black-76 option price in rupees. F forward, K strike (rupees), T years, r and sigma annualised."""
    sd = sigma * np.sqrt(T)
    d1 = (np.log(F / K) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    disc = np.exp(-r * T)
    call = disc * (F * ndtr(d1) - K * ndtr(d2))
    put = disc * (K * ndtr(-d2) - F * ndtr(-d1))
    price: np.ndarray = np.where(is_call, call, put)
    return price


def atm_iv(level: float, T: float, state: StepState) -> float:
    """ATM IV of one expiry: the symbol's level times the regime, with a front-end term premium."""
    days = T * 365.0
    iv: float = level * state.iv_mult * (1.0 + state.front_iv_premium * np.exp(-days / 7.0))
    return iv


def smile(K: np.ndarray, F: float, T: float, atm: float) -> np.ndarray:
    """IV per strike: skewed (puts richer) and convex in standardised log-moneyness."""
    x = (np.log(K / F) / (atm * np.sqrt(T))).clip(-4.0, 4.0)
    iv: np.ndarray = (atm * (1.0 - 0.07 * x + 0.025 * x * x)).clip(0.03, 2.0)
    return iv


def roundness(K: np.ndarray, step: float) -> np.ndarray:
    """Traders crowd round strikes: 10-step multiples most, 2-step multiples a little."""
    n = np.rint(K / step).astype(np.int64)
    weight: np.ndarray = 1.0 + 1.4 * (n % 10 == 0) + 0.5 * (n % 2 == 0)
    return weight


def oi_profile(K: np.ndarray, spot: float, step: float, is_call: np.ndarray) -> np.ndarray:
    """Relative OI per leg (peak about 1): calls massed above spot, puts below, peaks at round strikes."""
    d = (K - spot) / step
    # Writers sell OTM: the bulk sits a few strikes out-of-the-money, a thin tail in-the-money.
    otm = np.where(is_call, d, -d)
    # The in-the-money tail falls faster but joins the out-of-the-money side at the money: a step
    # there would swing the ATM strike's OI by a third each time spot crossed it.
    itm_scale = np.exp(-0.5 * (3.0 / 9.0) ** 2) / np.exp(-0.5 * (3.0 / 3.0) ** 2)
    core = np.where(
        otm >= 0,
        np.exp(-0.5 * ((otm - 3.0) / 9.0) ** 2),
        itm_scale * np.exp(-0.5 * ((otm - 3.0) / 3.0) ** 2),
    )
    profile: np.ndarray = core * roundness(K, step) / 2.9
    return profile


def liquidity(K: np.ndarray, spot: float, step: float) -> np.ndarray:
    """Trading interest by distance from spot in strikes (1 at the money)."""
    d = (K - spot) / step
    return np.exp(-0.5 * (d / 7.0) ** 2) + 0.02


def quote(
    price: np.ndarray, K: np.ndarray, spot: float, step: float, state: StepState
) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask on the tick grid: relative spread widens out-of-the-money and with the regime."""
    dist = np.abs(K - spot) / step
    rel = 0.0015 * (1.0 + (dist / 5.0) ** 1.5) * state.spread_mult
    half = np.maximum(TICK_SIZE, price * rel)
    bid = np.maximum(TICK_SIZE, np.floor((price - half) / TICK_SIZE) * TICK_SIZE)
    ask = np.maximum(bid + TICK_SIZE, np.ceil((price + half) / TICK_SIZE) * TICK_SIZE)
    return bid.round(2), ask.round(2)


def depth_lots(rng: np.random.Generator, liq: np.ndarray, state: StepState) -> np.ndarray:
    """Lots resting at the best price: deeper near the money, thinner when the regime is stressed."""
    return 1 + rng.poisson(40.0 * liq * state.depth_mult)


def to_tick(values: np.ndarray) -> np.ndarray:
    """Round prices to the exchange tick (and to 2 decimals so floats print cleanly)."""
    return np.round(np.maximum(TICK_SIZE, np.round(values / TICK_SIZE) * TICK_SIZE), 2)
