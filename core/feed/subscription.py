"""Broker subscriptions: the ATM strike window and chunking within broker limits.

The reconnecting session loop both adapters share is core.feed.broker_session.BrokerSession.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from core.errors import ConfigError
from core.feed.instruments import InstrumentMaster

# Upstox Market Data Feed V3 "individual" limits per connection (keys per mode), from its v3 docs.
UPSTOX_MODE_LIMITS = {"ltpc": 5000, "option_greeks": 3000, "full": 2000}
# Upstox's combined limit when ltpc and another mode are mixed on one connection is lower.
UPSTOX_COMBINED_LIMIT = 1500
# Upstox documented 100 instrument keys per socket request for the feed; we keep requests that small.
UPSTOX_KEYS_PER_REQUEST = 100
# Kite ticker: up to 3000 instruments per WebSocket connection (Kite Connect docs / forum answer).
KITE_MAX_TOKENS = 3000
# Kite documents no per-message cap; 500 keeps each JSON request small.
KITE_TOKENS_PER_REQUEST = 500
# What the feed status says when the broker refuses the token (or there is none): the pages show
# it with the login link (app/broker_panel.py).
TOKEN_INVALID = "broker session expired — log in again"
# An event time this far from the receive clock is corruption; accepting it would drag event time
# (which never goes backwards) a day or a century ahead.
MAX_CLOCK_SKEW_S = 86_400.0


def chunked(keys: Sequence[Any], size: int) -> list[list[Any]]:
    """`keys` in order, split into requests of at most `size`."""
    if size <= 0:
        raise ValueError("chunk size must be positive")
    return [list(keys[i : i + size]) for i in range(0, len(keys), size)]


@dataclass(frozen=True, slots=True)
class SubscriptionDiff:
    """What to change on the broker connection: keys to subscribe and keys to drop."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


@dataclass
class _SymbolWindow:
    centre: float
    expiries: tuple[date, ...]
    keys: frozenset[str] = field(default_factory=frozenset)


class AtmWindow:
    """Per symbol: +-N listed strikes around ATM, both rights, the nearest `expiries_count` expiries.

    The window re-centres only when ATM has moved by `recentre_strikes` strike steps or the chosen
    expiries change, so a spot oscillating around a strike does not churn subscriptions.
    """

    def __init__(
        self,
        master: InstrumentMaster,
        symbols: Sequence[str],
        strikes_each_side: int = 15,
        expiries_count: int = 2,
        recentre_strikes: int = 2,
        max_keys: int | None = None,
    ) -> None:
        self.master = master
        self.symbols = tuple(symbols)
        self.strikes_each_side = strikes_each_side
        self.expiries_count = expiries_count
        self.recentre_strikes = recentre_strikes
        self._windows: dict[str, _SymbolWindow] = {}
        worst = len(self.symbols) * (expiries_count * (2 * strikes_each_side + 1) * 2 + 1)
        if max_keys is not None and worst > max_keys:
            raise ConfigError(
                f"ATM window needs up to {worst} instruments but the broker allows {max_keys}: "
                "lower strikes_each_side or the number of symbols"
            )

    def index_keys(self) -> tuple[str, ...]:
        return tuple(i.key for s in self.symbols if (i := self.master.index(s)) is not None)

    def keys(self) -> frozenset[str]:
        """Every option key currently in some symbol's window."""
        return frozenset().union(*(w.keys for w in self._windows.values()))

    def expiries(self, symbol: str) -> tuple[date, ...]:
        w = self._windows.get(symbol)
        return w.expiries if w else ()

    def update(self, symbol: str, spot: float, today: date) -> SubscriptionDiff:
        """Re-centre `symbol` on `spot` if needed; the returned diff is empty when nothing changes."""
        expiries = tuple(e for e in self.master.expiries(symbol) if e >= today)[: self.expiries_count]
        if not expiries or not spot > 0:
            return SubscriptionDiff()
        step = self.master.strike_step(symbol, expiries[0]) or 0.0
        centre = _nearest(self.master.strikes(symbol, expiries[0]), spot)
        old = self._windows.get(symbol)
        # Tolerance because strikes are floats; a move of exactly 2 steps must count.
        moved = old is None or abs(centre - old.centre) >= self.recentre_strikes * step - 1e-9
        if old is not None and old.expiries == expiries and not moved:
            return SubscriptionDiff()
        keys = frozenset(k for e in expiries for k in self._expiry_keys(symbol, e, centre))
        self._windows[symbol] = _SymbolWindow(centre, expiries, keys)
        before = old.keys if old else frozenset()
        return SubscriptionDiff(tuple(sorted(keys - before)), tuple(sorted(before - keys)))

    def _expiry_keys(self, symbol: str, expiry: date, spot: float) -> list[str]:
        strikes = self.master.strikes(symbol, expiry)
        if not strikes:
            return []
        atm = strikes.index(_nearest(strikes, spot))
        n = self.strikes_each_side
        out = []
        for strike in strikes[max(0, atm - n) : atm + n + 1]:
            for right in ("CE", "PE"):
                inst = self.master.find(symbol, expiry, strike, right)
                if inst is not None:
                    out.append(inst.key)
        return out


def _nearest(strikes: Sequence[float], spot: float) -> float:
    i = bisect_left(strikes, spot)
    candidates = strikes[max(0, i - 1) : i + 1]
    return min(candidates, key=lambda k: (abs(k - spot), k))
