"""Immutable messages that flow one way: Tick -> ChainSnapshot -> LiveMetrics -> Signal.

Conventions used by every field below:
- times are epoch seconds (UTC, float) of *event* time; `recv_ts` is local receive time;
- prices in rupees; OI and volume in units (contracts x lot size);
- IV as a decimal (0.125 = 12.5 %); option right is "CE" or "PE".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Literal, TypeGuard, final

import numpy as np

from core.clock import to_datetime
from core.errors import DataError

Right = Literal["CE", "PE"]
Direction = Literal["UP", "DOWN", "NONE"]
LegKey = tuple[date, float, str]  # (expiry, strike, right)
Severity = Literal["low", "medium", "high", "critical"]


def is_right(value: object) -> TypeGuard[Right]:
    """True for "CE" and "PE", the two option rights."""
    return value == "CE" or value == "PE"


EMPTY: Mapping[str, Any] = MappingProxyType({})
# "NEUTRAL is a state, not a signal": these report an engine's state, not a view on the market. The
# engines no longer emit them; legacy databases still hold such rows, and history, exports, counts
# and hit rates leave them out.
NO_VIEW_SIGNALS: tuple[str, ...] = ("NEUTRAL", "GAMMA_NEUTRAL")


# The feed items are final so that `type(item) is Tick` (the decoders' fast check) narrows FeedItem.
@final
@dataclass(frozen=True, slots=True)
class Tick:
    """One normalised update for an underlying (expiry/strike/right None) or an option leg."""

    symbol: str
    ts: float
    ltp: float
    recv_ts: float = 0.0
    expiry: date | None = None
    strike: float | None = None
    right: Right | None = None
    oi: float | None = None
    volume: float | None = None
    bid: float | None = None
    ask: float | None = None
    bid_qty: float | None = None
    ask_qty: float | None = None
    prev_close: float | None = None
    prev_oi: float | None = None
    iv: float | None = None
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None

    @property
    def is_underlying(self) -> bool:
        return self.right is None

    @property
    def key(self) -> LegKey:
        """A leg's (expiry, strike, right); every decoder rejects a leg without all three."""
        if self.expiry is None or self.strike is None or self.right is None:
            raise DataError("missing_field", f"{self.symbol}: a leg needs expiry, strike and right")
        return (self.expiry, self.strike, self.right)

    @property
    def mid(self) -> float:
        """Quote mid when both sides are present and positive, else LTP."""
        if self.bid and self.ask and self.bid > 0 and self.ask > 0:
            return (self.bid + self.ask) / 2.0
        return self.ltp


@final
@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    """Optional feed metadata for a symbol (protocol v1 `instrument`)."""

    symbol: str
    lot_size: int | None = None
    strike_step: float | None = None
    expiries: tuple[date, ...] = ()


@final
@dataclass(frozen=True, slots=True)
class MarketStatus:
    """Exchange segment state announced by the feed: OPEN, PREOPEN or CLOSED."""

    market: str
    ts: float


FeedItem = Tick | InstrumentInfo | MarketStatus

FeedState = Literal["connecting", "connected", "stale", "disconnected", "stopped"]


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """A change in the feed connection's state, with the reason in words."""

    state: FeedState
    reason: str = ""
    ts: float = 0.0


@dataclass(frozen=True, slots=True)
class ChainSnapshot:
    """Everything known about one symbol at one moment. Published whole, never mutated.

    `legs` maps (expiry, strike, right) to the latest Tick of that leg; it is a read-only view.
    """

    symbol: str
    ts: float
    spot: float | None
    spot_prev_close: float | None
    atm_strike: float | None
    lot_size: int
    strike_step: float
    expiries: tuple[date, ...]
    legs: Mapping[LegKey, Tick]
    tick_count: int = 0
    market: str = "OPEN"

    def legs_for(self, expiry: date) -> list[Tick]:
        return [t for (e, _, _), t in self.legs.items() if e == expiry]


@dataclass(frozen=True, slots=True)
class Alert:
    """A structural alert (not a signal): GAMMA_FLIP_BREAK, FLOW_IMBALANCE_SPIKE, ..."""

    kind: str
    severity: Severity
    message: str
    ts: float


def frozen_array(values: Any, dtype: Any = float) -> np.ndarray:
    """A read-only numpy array, so frozen dataclasses stay immutable in practice."""
    arr = np.array(values, dtype=dtype)
    arr.flags.writeable = False
    return arr


_EMPTY_ARRAY = frozen_array([])


@dataclass(frozen=True, slots=True)
class LiveMetrics:
    """Structural metrics for one symbol and one expiry at event time `ts`.

    A metric that cannot be computed is None and `unavailable[name]` says why.
    Per-strike arrays are aligned with `strikes` (ascending). GEX is rupees per 1 % move of spot,
    calls positive and puts negative (dealers long calls, short puts: `gex_convention`).
    """

    symbol: str
    expiry: date | None
    ts: float
    spot: float | None
    prev_close: float | None = None
    forward: float | None = None
    forward_source: str = ""  # "parity" | "spot_carry"
    atm_strike: float | None = None
    strike_step: float = 50.0
    lot_size: int = 1
    time_to_expiry_years: float | None = None
    rate: float = 0.055
    # volatility
    atm_iv: float | None = None
    iv_source: str = ""  # "solved" | "feed" | "mixed"
    volatility_regime: str | None = None  # low | normal | elevated | extreme
    iv_percentile: float | None = None
    # open interest
    pcr_oi: float | None = None
    pcr_volume: float | None = None
    pcr_oi_change: float | None = None
    total_call_oi: float | None = None
    total_put_oi: float | None = None
    total_call_volume: float | None = None
    total_put_volume: float | None = None
    max_pain: float | None = None
    support: float | None = None
    resistance: float | None = None
    support_walls: tuple[tuple[float, float], ...] = ()  # (strike, put OI units), largest first
    resistance_walls: tuple[tuple[float, float], ...] = ()  # (strike, call OI units)
    # dealer gamma
    net_gex: float | None = None
    gross_gex: float | None = None  # sum of |GEX| over legs
    gex_ratio: float | None = None  # g = net_gex / gross_gex, -1..1
    dealer_gamma: str | None = None  # long | short | neutral: g beyond the gamma band (one definition)
    call_wall: float | None = None
    put_wall: float | None = None
    gamma_flip: float | None = None
    flip_state: str = ""  # "crossing" | "all positive" | "all negative"
    distance_from_flip_pts: float | None = None
    distance_from_flip_pct: float | None = None
    gex_convention: str = "dealers long calls, short puts"
    # expected move: 1 sigma in trading time (core.analytics.expected_move, the one definition)
    expected_move: float | None = None  # points, from ts to the expiry close
    atm_straddle: float | None = None
    atm_straddle_theta: float | None = None  # ATM call + put, rupees per calendar day per unit
    atm_straddle_vega: float | None = None  # ATM call + put, rupees per vol point per unit
    em_bands: tuple[float, float, float, float] | None = None  # (-2s, -1s, +1s, +2s) levels
    breach_probability: float | None = None
    # flow (issue 3)
    call_oi_velocity: float | None = None  # units per minute, ATM +-5 strikes
    put_oi_velocity: float | None = None
    flow_imbalance: float | None = None
    flow_direction: str | None = None
    buildup_counts: Mapping[str, int] = field(default_factory=lambda: EMPTY)
    call_buildup: tuple[str, ...] = ()  # per strike: LONG_BUILDUP, SHORT_BUILDUP, ... or ""
    put_buildup: tuple[str, ...] = ()
    # microstructure near ATM (issue 3)
    spread_rel: float | None = None
    depth: float | None = None
    spread_ratio: float | None = None
    depth_ratio: float | None = None
    # spot features (issue 3)
    ret_1m: float | None = None
    ret_5m: float | None = None
    range_5m: float | None = None
    realized_vol_30m: float | None = None
    vol_spike_ratio: float | None = None
    # regime and alerts (issue 3)
    regime: str | None = None  # range | trend | breakout | pin_risk
    regime_confidence: float | None = None
    alerts: tuple[Alert, ...] = ()
    # per strike (aligned with strikes)
    strikes: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_oi: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    put_oi: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_oi_change: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    put_oi_change: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_volume: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    put_volume: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_ltp: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    put_ltp: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_ts: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)  # each leg's last tick (event s)
    put_ts: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_iv: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    put_iv: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_bid: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)  # the leg's quote as fed
    put_bid: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_ask: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    put_ask: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_delta: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    put_delta: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_gamma: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)  # per rupee squared
    put_gamma: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_theta: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)  # rupees per calendar day
    put_theta: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_vega: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)  # rupees per 1.00 of sigma
    put_vega: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    call_gex: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    put_gex: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    gex_by_strike: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    # net GEX as a function of hypothetical spot (the flip grid)
    gex_profile_spot: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    gex_profile: np.ndarray = field(default_factory=lambda: _EMPTY_ARRAY)
    unavailable: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class Signal:
    """One engine verdict worth telling a trader. `id` is the idempotency key in storage."""

    ts: float
    symbol: str
    engine: str
    signal: str
    direction: Direction
    confidence: float
    raw_score: float
    strength: float
    spot_price: float | None
    expiry: date | None = None
    reasons: tuple[str, ...] = ()
    features: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    confidence_source: str = "raw"  # "raw" | "calibrated"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def timestamp(self) -> datetime:
        return to_datetime(self.ts)
