"""The reconnecting session loop both broker adapters share (Upstox v3, Kite).

Connect, subscribe, pump frames into the sink, follow the ATM window, and reconnect with backoff and
resubscribe when the connection drops. Each adapter supplies the wire format through a few hooks.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import date, datetime

import websocket

from core.clock import IST
from core.config import FeedConfig
from core.domain import FeedItem, FeedState, FeedStatus, InstrumentInfo, MarketStatus, Tick
from core.errors import FeedError
from core.feed.base import FeedSink, FeedStats, backoff_delay
from core.feed.instruments import InstrumentMaster
from core.feed.subscription import TOKEN_INVALID, AtmWindow


class AuthError(FeedError):
    """The broker refused the credentials (HTTP 401/403): retried slowly, reported as such."""


class BrokerSession(ABC):
    """The reconnecting feed loop shared by broker adapters. Subclasses supply the wire hooks.

    Hooks: `_connect()` returns a connected websocket-client socket; `_subscribe(ws, keys)` and
    `_unsubscribe(ws, keys)` send requests; `_decode(data, recv_ts)` turns one frame into items;
    `_credential()` is the token the next connection uses ("" = none: the session is expired).
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
        token_poll_s: float = 1.0,
    ) -> None:
        self.config = config
        self.master = master
        self.window = window
        self.stats = FeedStats()
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._auth_retry = auth_retry_s
        self._rng = random.Random()
        # Receive time is local wall time; injectable so tests can place a session on any date.
        self._clock = clock
        self._recv_timeout = min(0.25, config.stale_after_s)
        self._market = ""  # the last segment status the broker announced, if it announces any
        # After a refused token the loop waits for a different one (a new login) instead of
        # spinning; it looks every `token_poll_s` and retries the old one after `auth_retry_s`.
        self._token_poll = token_poll_s
        self._dead_token: str | None = None

    @abstractmethod
    def _connect(self) -> websocket.WebSocket:
        """Open and return a connected socket (raise AuthError when credentials are refused)."""

    @abstractmethod
    def _subscribe(self, ws: websocket.WebSocket, keys: Sequence[str]) -> None:
        """Send the broker's subscribe request(s) for `keys`, chunked within its limits."""

    @abstractmethod
    def _unsubscribe(self, ws: websocket.WebSocket, keys: Sequence[str]) -> None:
        """Send the broker's unsubscribe request(s) for `keys`."""

    @abstractmethod
    def _decode(self, data: bytes | str, recv_ts: float) -> list[FeedItem]:
        """One frame to items; malformed input is counted in `self.stats`, never raised."""

    @abstractmethod
    def describe(self) -> str:
        """What the System page shows, credentials masked."""

    @abstractmethod
    def _credential(self) -> str:
        """The access token the next connection will use, read afresh each time (a login made while
        the feed runs is picked up without a restart). Empty when there is none."""

    def run(self, sink: FeedSink, stop: threading.Event) -> None:
        """Connect, stream and reconnect until `stop` is set. Never raises into the caller."""
        attempt = 0
        failures = 0  # connections in a row that streamed nothing
        while not stop.is_set():
            if attempt:
                self.stats.reconnects += 1
            attempt += 1
            self._status(sink, "connecting", self.describe())
            delay = self._session(sink, stop)
            if self._dead_token is not None and delay is not None:
                self._await_login(stop, delay)
                continue
            # A session that streamed resets the backoff: the broker is back.
            failures = 0 if delay is None else failures + 1
            stop.wait(backoff_delay(failures, self._rng, self._backoff_initial, self._backoff_max))
        self._status(sink, "stopped", "stop requested")

    def _session(self, sink: FeedSink, stop: threading.Event) -> float | None:
        """One connection's life. Returns None after a session that streamed, 0.0 when nothing
        streamed (exponential backoff), or the fixed wait after an authentication failure."""
        token = self._credential()
        if not token:
            return self._session_expired(
                sink, token, "no access token (log in, or set it in the environment)"
            )
        try:
            ws = self._connect()
        except AuthError as exc:
            return self._session_expired(sink, token, str(exc))
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

    def _session_expired(self, sink: FeedSink, token: str, detail: str) -> float:
        self.stats.last_error = f"{TOKEN_INVALID}: {detail}"
        self._status(sink, "disconnected", TOKEN_INVALID)
        self._dead_token = token
        return self._auth_retry

    def _await_login(self, stop: threading.Event, delay: float) -> None:
        """Sleep until the token changes (a new login), `delay` passes, or `stop` is set."""
        dead, self._dead_token = self._dead_token, None
        deadline = time.monotonic() + delay
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(self._token_poll, left))
            if self._credential() not in (dead, ""):
                return

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
