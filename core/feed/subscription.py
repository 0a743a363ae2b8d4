"""Broker subscriptions: the ATM strike window, chunking within broker limits, and the session loop.

The session loop (`BrokerSession`) is what both broker adapters share: connect, subscribe, pump
frames into the sink, follow the ATM window, and reconnect with backoff and resubscribe when the
connection drops. Each adapter supplies the wire format through a few small hooks.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import websocket

from core.clock import IST
from core.config import FeedConfig
from core.domain import FeedItem, FeedState, FeedStatus, InstrumentInfo, MarketStatus, Tick
from core.errors import ConfigError, FeedError
from core.feed.base import FeedSink, FeedStats
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
TOKEN_INVALID = "token expired or invalid"
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


class AuthError(FeedError):
    """The broker refused the credentials (HTTP 401/403): retried slowly, reported as such."""


class BrokerSession:
    """The reconnecting feed loop shared by broker adapters. Subclasses supply the wire hooks.

    Hooks: `_connect()` returns a connected websocket-client socket; `_subscribe(ws, keys)` and
    `_unsubscribe(ws, keys)` send requests; `_decode(data, recv_ts)` turns one frame into items.
    """

    mode = "LIVE"

    def __init__(
        self,
        config: FeedConfig,
        master: InstrumentMaster,
        window: AtmWindow,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        auth_retry_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.master = master
        self.window = window
        self.stats = FeedStats()
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._auth_retry = auth_retry_s
        self._jitter = random.Random()
        # Receive time is local wall time; injectable so tests can place a session on any date.
        self._clock = clock
        self._recv_timeout = min(0.25, config.stale_after_s)
        self._market = ""  # the last segment status the broker announced, if it announces any

    def _connect(self) -> websocket.WebSocket:
        raise NotImplementedError

    def _subscribe(self, ws: websocket.WebSocket, keys: Sequence[str]) -> None:
        raise NotImplementedError

    def _unsubscribe(self, ws: websocket.WebSocket, keys: Sequence[str]) -> None:
        raise NotImplementedError

    def _decode(self, data: bytes | str, recv_ts: float) -> list[FeedItem]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def run(self, sink: FeedSink, stop: threading.Event) -> None:
        """Connect, stream and reconnect until `stop` is set. Never raises into the caller."""
        backoff = self._backoff_initial
        attempt = 0
        while not stop.is_set():
            if attempt:
                self.stats.reconnects += 1
            attempt += 1
            self._status(sink, "connecting", self.describe())
            delay = self._session(sink, stop)
            if delay is None:
                backoff = self._backoff_initial
                delay = backoff * (0.5 + self._jitter.random())
            elif delay == 0.0:
                delay = backoff * (0.5 + self._jitter.random())
                backoff = min(backoff * 2.0, self._backoff_max)
            stop.wait(delay)
        self._status(sink, "stopped", "stop requested")

    def _session(self, sink: FeedSink, stop: threading.Event) -> float | None:
        """One connection's life. Returns None after a session that streamed, 0.0 when nothing
        streamed (exponential backoff), or the fixed wait after an authentication failure."""
        try:
            ws = self._connect()
        except AuthError as exc:
            self.stats.last_error = f"{TOKEN_INVALID}: {exc}"
            self._status(sink, "disconnected", TOKEN_INVALID)
            return self._auth_retry
        except Exception as exc:  # noqa: BLE001 - any connect failure means: back off and retry
            self.stats.last_error = f"connect failed: {exc}"
            self._status(sink, "disconnected", f"connect failed: {exc}")
            return 0.0
        frames_before = self.stats.frames
        try:
            self._status(sink, "connected", "")
            keys = list(self.window.index_keys()) + sorted(self.window.keys())
            self._subscribe(ws, keys)
            self._pump(ws, sink, stop)
        except Exception as exc:  # noqa: BLE001 - the loop must outlive any failure of one session
            self.stats.last_error = f"connection lost: {exc}"
            if not stop.is_set():
                self._status(sink, "disconnected", f"connection lost: {exc}")
        finally:
            with contextlib.suppress(Exception):
                ws.close(timeout=0.2)
        # A server that accepts and then drops at once must not be hammered: back off as for a
        # failed connect unless the session delivered data.
        return None if self.stats.frames > frames_before else 0.0

    def _pump(self, ws: websocket.WebSocket, sink: FeedSink, stop: threading.Event) -> None:
        ws.settimeout(self._recv_timeout)
        last_frame = time.monotonic()
        stale = False
        while not stop.is_set():
            try:
                opcode, data = ws.recv_data()
            except websocket.WebSocketTimeoutException:
                silent = time.monotonic() - last_frame >= self.config.stale_after_s
                # After the close the exchange is quiet by design; that silence is not staleness.
                if silent and not stale and self._market != "CLOSED":
                    stale = True
                    self._status(sink, "stale", f"no data for {self.config.stale_after_s:g} s")
                continue
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise FeedError("server closed the connection")
            last_frame = time.monotonic()
            if stale:
                stale = False
                self._status(sink, "connected", "data resumed")
            if opcode == websocket.ABNF.OPCODE_TEXT:
                data = data.decode("utf-8", errors="replace")
            items = self._decode(data, self._clock())
            for item in items:
                if isinstance(item, MarketStatus):
                    self._market = item.market
            if items:
                self._deliver(sink, items)
                self._follow_atm(ws, sink, items)

    def _deliver(self, sink: FeedSink, items: Sequence[FeedItem]) -> None:
        try:
            sink.on_items(items)
        except Exception as exc:  # noqa: BLE001 - a failing sink must not kill the feed thread
            self.stats.last_error = f"sink.on_items failed: {exc}"

    def _follow_atm(self, ws: websocket.WebSocket, sink: FeedSink, items: Sequence[FeedItem]) -> None:
        for item in items:
            if not (isinstance(item, Tick) and item.is_underlying):
                continue
            before = self.window.expiries(item.symbol)
            diff = self.window.update(item.symbol, item.ltp, datetime.fromtimestamp(item.ts, IST).date())
            if diff.remove:
                self._unsubscribe(ws, list(diff.remove))
            if diff.add:
                self._subscribe(ws, list(diff.add))
            expiries = self.window.expiries(item.symbol)
            if expiries != before:
                self._deliver(sink, [self._instrument_info(item.symbol, expiries)])

    def _instrument_info(self, symbol: str, expiries: tuple[date, ...]) -> InstrumentInfo:
        step = self.master.strike_step(symbol, expiries[0]) if expiries else None
        return InstrumentInfo(symbol, self.master.lot_size(symbol), step, expiries)

    def _status(self, sink: FeedSink, state: FeedState, reason: str) -> None:
        self.stats.state = state
        try:
            sink.on_status(FeedStatus(state, reason, self._clock()))
        except Exception as exc:  # noqa: BLE001 - a failing sink must not kill the feed thread
            self.stats.last_error = f"sink.on_status failed: {exc}"
