"""The protocol-v1 WebSocket client feed: connect, subscribe, decode, reconnect with backoff."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Sequence

import websocket

from core.config import FeedConfig, mask_url
from core.domain import FeedItem, FeedState, FeedStatus
from core.errors import FeedError
from core.feed.base import FeedSink, FeedStats, backoff_delay
from core.feed.encode import subscribe_message
from core.feed.protocol import decode_frame

log = logging.getLogger(__name__)

_DATA_OPCODES = (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY)


def _describe_url(url: str) -> str:
    # Query strings of third-party feeds often carry tokens; never show them.
    masked = mask_url(url)
    return masked.split("?", 1)[0] + ("?***" if "?" in masked else "")


def _close(ws: websocket.WebSocket) -> None:
    """Close handshake if still open, then always release the socket: after answering the server's
    close frame websocket-client counts itself closed and `close()` alone would leave the TCP
    connection open, making the server wait for its close timeout."""
    with contextlib.suppress(websocket.WebSocketException, OSError, ValueError):
        ws.close(timeout=0.5)
    ws.shutdown()


class WebSocketFeed:
    """A LIVE feed from any protocol-v1 WebSocket server (SPEC §3.1).

    One thread (the caller of `run`) owns the socket. Reads use a short timeout so the same loop
    notices `stop`, sends keep-alive pings, detects a missing pong and reports `stale` when the
    server is silent for `stale_after_s` (except while the feed says the market is CLOSED).
    """

    mode = "LIVE"

    def __init__(
        self,
        config: FeedConfig,
        *,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        ping_interval_s: float = 10.0,
        ping_timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        poll_s: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if not config.url.startswith(("ws://", "wss://")):
            raise ValueError(f"WebSocketFeed needs a ws:// or wss:// URL, got {config.url!r}")
        self.config = config
        self.stats = FeedStats()
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._poll_s = poll_s
        self._rng = rng or random.Random()
        self._market = ""

    def describe(self) -> str:
        return f"protocol v1 WebSocket {_describe_url(self.config.url)} [{','.join(self.config.symbols)}]"

    def run(self, sink: FeedSink, stop: threading.Event) -> None:
        """Connect and deliver until `stop` is set (or the server closes, when reconnect is off)."""
        attempt = 0
        while not stop.is_set():
            self._status(sink, "connecting", self.config.url and _describe_url(self.config.url))
            reason, was_connected = self._session(sink, stop)
            if stop.is_set():
                break
            self.stats.last_error = reason
            self._status(sink, "disconnected", reason)
            if not self.config.reconnect:
                break
            # A session that got as far as subscribing resets the backoff: the server is back.
            attempt = 0 if was_connected else attempt + 1
            delay = backoff_delay(attempt, self._rng, *self._backoff)
            self.stats.reconnects += 1
            if stop.wait(delay):
                break
        self._status(sink, "stopped", "stop requested" if stop.is_set() else "server closed")

    def _session(self, sink: FeedSink, stop: threading.Event) -> tuple[str, bool]:
        """One connection's life; returns (why it ended, whether it was established)."""
        ws: websocket.WebSocket | None = None
        connected = False
        try:
            # websocket-client validates UTF-8 in pure Python (~1 ms per 10 kB frame); json.loads
            # validates it anyway and an invalid frame is rejected as invalid_json.
            ws = websocket.create_connection(
                self.config.url,
                timeout=self._connect_timeout_s,
                enable_multithread=False,
                skip_utf8_validation=True,
            )
            ws.settimeout(self._poll_s)
            ws.send(subscribe_message(self.config.symbols))
            connected = True
            self._status(sink, "connected", "subscribed " + ",".join(self.config.symbols))
            return self._pump(ws, sink, stop), True
        except websocket.WebSocketConnectionClosedException:
            return "server closed the connection", connected
        except (websocket.WebSocketException, OSError, FeedError) as exc:
            return f"{type(exc).__name__}: {exc}", connected
        except Exception as exc:  # the feed thread must survive any surprise and reconnect
            log.exception("unexpected error in WebSocket feed")
            return f"internal error {type(exc).__name__}: {exc}", connected
        finally:
            if ws is not None:
                _close(ws)

    def _pump(self, ws: websocket.WebSocket, sink: FeedSink, stop: threading.Event) -> str:
        """Read frames until the connection ends or `stop` is set; returns why it ended."""
        now = time.monotonic()
        last_msg = last_ping = now
        ping_sent_at: float | None = None
        while not stop.is_set():
            try:
                opcode, frame = ws.recv_data_frame(control_frame=True)
            except websocket.WebSocketTimeoutException:
                opcode, frame = None, None
            now = time.monotonic()
            if opcode in _DATA_OPCODES:
                last_msg = now
                self._deliver(frame.data, sink)
            elif opcode == websocket.ABNF.OPCODE_PONG:
                ping_sent_at = None
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                return "server closed the connection"
            if ping_sent_at is not None and now - ping_sent_at > self._ping_timeout_s:
                raise FeedError(f"no pong within {self._ping_timeout_s:g} s")
            if ping_sent_at is None and now - last_ping >= self._ping_interval_s:
                ws.ping()
                ping_sent_at = last_ping = now
            self._check_stale(sink, now - last_msg)
        return "stop requested"

    def _deliver(self, data: bytes | str, sink: FeedSink) -> None:
        if self.stats.state == "stale":
            self._status(sink, "connected", "data resumed")
        items = decode_frame(data, self.stats, time.time())
        for item in items:
            market = getattr(item, "market", None)
            if market is not None:
                self._market = market
        if items:
            self._on_items(sink, items)

    def _check_stale(self, sink: FeedSink, silent_s: float) -> None:
        if (
            self.stats.state == "connected"
            and silent_s > self.config.stale_after_s
            and self._market != "CLOSED"
        ):
            self._status(sink, "stale", f"no message for {silent_s:.1f} s")

    def _on_items(self, sink: FeedSink, items: Sequence[FeedItem]) -> None:
        try:
            sink.on_items(items)
        except Exception as exc:  # a sink bug must not take the connection down
            self.stats.last_error = f"sink error {type(exc).__name__}: {exc}"
            log.exception("feed sink raised; items of one frame dropped")

    def _status(self, sink: FeedSink, state: FeedState, reason: str = "") -> None:
        self.stats.state = state
        try:
            sink.on_status(FeedStatus(state, reason, time.time()))
        except Exception:
            log.exception("feed sink raised in on_status")
