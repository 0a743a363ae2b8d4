"""WebSocketFeed against real WebSocket servers on 127.0.0.1: subscribe, reconnect, stale, stop."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from core.config import FeedConfig
from core.domain import FeedStatus, MarketStatus, Tick
from core.feed.base import backoff_delay
from core.feed.encode import encode_frame
from core.feed.protocol import ts_to_ms
from core.feed.websocket import WebSocketFeed

BASE_MS = 1_764_560_100_000


class RecordingSink:
    """A FeedSink that keeps everything it is given and lets tests wait on a condition."""

    def __init__(self) -> None:
        self.batches: list[list] = []
        self.statuses: list[FeedStatus] = []
        self._cond = threading.Condition()

    def on_items(self, items) -> None:
        with self._cond:
            self.batches.append(list(items))
            self._cond.notify_all()

    def on_status(self, status: FeedStatus) -> None:
        with self._cond:
            self.statuses.append(status)
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    @property
    def items(self) -> list:
        return [item for batch in self.batches for item in batch]

    def states(self) -> list[str]:
        return [s.state for s in self.statuses]


def seq_tick(seq: int) -> Tick:
    """An underlying tick whose event time encodes a sequence number (ms after BASE_MS)."""
    return Tick("NIFTY", (BASE_MS + seq) / 1000.0, 25000.0 + seq * 0.05)


def seq_of(tick: Tick) -> int:
    return ts_to_ms(tick.ts) - BASE_MS


@dataclass(eq=False)
class _Conn:
    ws: ServerConnection
    messages: list = field(default_factory=list)
    sent: list = field(default_factory=list)
    dropped: str = ""  # "", "close" or "abort"


class ScriptedServer:
    """A real `websockets` server on an ephemeral port, driven from the test thread."""

    def __init__(self, close_after_subscribe: bool = False) -> None:
        self.close_after_subscribe = close_after_subscribe
        self.conns: list[_Conn] = []
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    def start(self) -> ScriptedServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0, compression=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._done.wait()

    async def _handler(self, ws: ServerConnection) -> None:
        conn = _Conn(ws)
        with self._cond:
            self.conns.append(conn)
            self._cond.notify_all()
        try:
            async for message in ws:
                with self._cond:
                    conn.messages.append(json.loads(message))
                    self._cond.notify_all()
                if self.close_after_subscribe:
                    await ws.close()
        except ConnectionClosed:
            pass

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(5)

    def subscribed(self) -> list[_Conn]:
        with self._cond:
            return [c for c in self.conns if c.messages and not c.dropped]

    def send(self, text: str, seqs: tuple[int, ...] = ()) -> int:
        """Send one frame to every subscribed connection; returns how many got it."""

        async def go() -> int:
            n = 0
            for conn in self.subscribed():
                try:
                    await conn.ws.send(text)
                except ConnectionClosed:
                    continue
                conn.sent.extend(seqs)
                n += 1
            return n

        return self._call(go())

    def drop_all(self, abort: bool) -> int:
        async def go() -> int:
            conns = self.subscribed()
            for conn in conns:
                conn.dropped = "abort" if abort else "close"
                if abort:
                    conn.ws.transport.abort()
                else:
                    await conn.ws.close(1012, "test drop")
            return len(conns)

        return self._call(go())

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._done.set)
        self._thread.join(5)


@pytest.fixture
def server():
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


class FeedThread:
    """Runs a feed in a thread the way the runtime does, with a stop event."""

    def __init__(self, feed, sink) -> None:
        self.feed, self.sink, self.stop = feed, sink, threading.Event()
        self.thread = threading.Thread(target=feed.run, args=(sink, self.stop), daemon=True)

    def __enter__(self) -> FeedThread:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive(), "feed thread did not stop"


def ws_config(url: str, **overrides) -> FeedConfig:
    return FeedConfig(kind="ws", url=url, symbols=("NIFTY", "BANKNIFTY"), **overrides)


def test_subscribes_and_delivers_each_frame_in_one_call(server):
    sink = RecordingSink()
    with FeedThread(WebSocketFeed(ws_config(server.url)), sink):
        assert server.wait_for(lambda: server.subscribed())
        assert server.conns[0].messages == [{"op": "subscribe", "symbols": ["NIFTY", "BANKNIFTY"]}]
        assert sink.wait_for(lambda: "connected" in sink.states())
        server.send(encode_frame([seq_tick(1), seq_tick(2), seq_tick(3)]))
        server.send(encode_frame([seq_tick(4)]))
        assert sink.wait_for(lambda: len(sink.batches) == 2)
    assert [[seq_of(t) for t in b] for b in sink.batches] == [[1, 2, 3], [4]]
    assert sink.states()[:2] == ["connecting", "connected"] and sink.states()[-1] == "stopped"


def test_bad_frames_over_the_wire_are_counted_and_the_connection_lives(server):
    sink = RecordingSink()
    feed = WebSocketFeed(ws_config(server.url))
    with FeedThread(feed, sink):
        assert server.wait_for(lambda: server.subscribed())
        server.send("{not json")
        server.send('[{"type":"tick","symbol":"NIFTY","ts":1764560100000,"ltp":-5}]')
        server.send('{"type":"heartbeat","ts":1764560100000}')
        server.send(encode_frame([seq_tick(7)]))
        assert sink.wait_for(lambda: len(sink.batches) == 1)
    assert seq_of(sink.items[0]) == 7
    assert dict(feed.stats.rejected) == {"invalid_json": 1, "negative_price": 1}
    assert feed.stats.frames == 4 and feed.stats.items == 1 and "disconnected" not in sink.states()


def _run_drop_storm(
    server: ScriptedServer, seconds: float, gap_s: tuple[float, float], **backoff: float
) -> tuple[int, RecordingSink, WebSocketFeed]:
    """Stream sequence-numbered ticks for `seconds`, dropping every connection a random `gap_s`
    after the last drop, once the client has resubscribed."""
    sink = RecordingSink()
    feed = WebSocketFeed(ws_config(server.url), rng=random.Random(3), **backoff)
    rng, pace = random.Random(11), threading.Event()
    drops, seq = 0, 0
    with FeedThread(feed, sink) as ft:
        start = time.monotonic()
        next_drop = start + rng.uniform(*gap_s)
        while time.monotonic() - start < seconds:
            batch = tuple(range(seq, seq + 5))
            seq += 5
            server.send(encode_frame([seq_tick(s) for s in batch]), batch)
            if time.monotonic() >= next_drop and server.subscribed():
                drops += server.drop_all(abort=drops % 2 == 1)
                next_drop = time.monotonic() + rng.uniform(*gap_s)
            pace.wait(0.005)  # producer pacing, not a wait for another thread
        # After the last drop the client must come back once more and still receive data.
        assert server.wait_for(lambda: len(server.subscribed()) == 1, 10)
        server.send(encode_frame([seq_tick(seq)]), (seq,))
        assert sink.wait_for(lambda: sink.items and seq_of(sink.items[-1]) == seq)
        assert ft.thread.is_alive()
    return drops, sink, feed


@pytest.mark.parametrize(
    ("seconds", "gap_s", "backoff", "min_drops"),
    [
        # Ten seconds at the default backoff (from 0.5 s): a drop 0.5-1 s after each reconnect (13).
        pytest.param(10, (0.5, 1.0), {}, 4, id="10s"),
        # The long run's count of drops on a compressed timeline: it ran a minute of the storm
        # above (80 drops), almost all of it waiting on the clock; this makes ~85 in 15 s.
        pytest.param(15, (0.1, 0.25), {"backoff_initial_s": 0.05, "backoff_max_s": 0.2}, 60,
                     id="60-drops", marks=pytest.mark.slow),
    ],
)  # fmt: skip
def test_reconnects_and_resubscribes_after_every_drop_without_duplicates(
    server, seconds, gap_s, backoff, min_drops
):
    drops, sink, feed = _run_drop_storm(server, seconds, gap_s, **backoff)
    assert drops >= min_drops
    assert len(server.conns) == drops + 1
    assert all(c.messages[0] == {"op": "subscribe", "symbols": ["NIFTY", "BANKNIFTY"]} for c in server.conns)
    received = [seq_of(t) for t in sink.items]
    assert received == sorted(set(received)), "a tick was delivered twice or out of order"
    sent = {s for c in server.conns for s in c.sent}
    assert set(received) <= sent
    # A graceful close flushes what was sent first, so nothing sent on those connections is lost.
    for conn in server.conns:
        if conn.dropped == "close":
            assert set(conn.sent) <= set(received)
    assert feed.stats.reconnects == drops
    assert sink.states().count("disconnected") == drops
    assert sink.states().count("connected") == drops + 1


def test_stale_when_server_is_silent_then_connected_when_data_resumes(server):
    sink = RecordingSink()
    with FeedThread(WebSocketFeed(ws_config(server.url, stale_after_s=0.3)), sink):
        assert server.wait_for(lambda: server.subscribed())
        assert sink.wait_for(lambda: "stale" in sink.states())
        server.send(encode_frame([seq_tick(1)]))
        assert sink.wait_for(lambda: sink.states()[-1] == "connected" and sink.batches)
    stale = [s for s in sink.statuses if s.state == "stale"]
    assert len(stale) == 1 and "no message" in stale[0].reason
    assert sink.states()[:4] == ["connecting", "connected", "stale", "connected"]
    assert sink.statuses[3].reason == "data resumed"


def test_no_stale_while_market_is_closed(server):
    sink = RecordingSink()
    feed = WebSocketFeed(ws_config(server.url, stale_after_s=0.2), ping_interval_s=0.1)
    with FeedThread(feed, sink):
        assert server.wait_for(lambda: server.subscribed())
        server.send(encode_frame([MarketStatus("CLOSED", BASE_MS / 1000.0)]))
        assert sink.wait_for(lambda: sink.batches)
        # Ten keep-alive round trips with no data: the connection is healthy and not stale.
        assert not sink.wait_for(lambda: "stale" in sink.states(), timeout=1.0)
    assert "disconnected" not in sink.states()


def test_without_reconnect_run_returns_when_the_server_closes():
    server = ScriptedServer(close_after_subscribe=True).start()
    sink = RecordingSink()
    feed = WebSocketFeed(ws_config(server.url, reconnect=False))
    thread = threading.Thread(target=feed.run, args=(sink, threading.Event()), daemon=True)
    thread.start()
    thread.join(5)
    server.stop()
    assert not thread.is_alive()
    assert sink.states() == ["connecting", "connected", "disconnected", "stopped"]
    assert sink.statuses[-1].reason == "server closed" and len(server.conns) == 1
    assert feed.stats.reconnects == 0


def test_unreachable_server_backs_off_and_stop_ends_the_wait_promptly():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = RecordingSink()
    feed = WebSocketFeed(ws_config(f"ws://127.0.0.1:{port}"), backoff_initial_s=30.0)
    with FeedThread(feed, sink) as ft:
        assert sink.wait_for(lambda: "disconnected" in sink.states())
        ft.stop.set()
        ft.thread.join(1.0)
        assert not ft.thread.is_alive(), "stop did not interrupt a 30 s backoff"
    assert "Connection refused" in feed.stats.last_error or "Errno" in feed.stats.last_error


def test_stop_while_connected_closes_promptly(server):
    sink = RecordingSink()
    with FeedThread(WebSocketFeed(ws_config(server.url)), sink) as ft:
        assert server.wait_for(lambda: server.subscribed())
        ft.stop.set()
        ft.thread.join(1.0)
        assert not ft.thread.is_alive()
    assert sink.statuses[-1] == FeedStatus("stopped", "stop requested", sink.statuses[-1].ts)


def test_a_raising_sink_does_not_break_the_connection(server):
    class Flaky(RecordingSink):
        def on_items(self, items):
            super().on_items(items)
            if len(self.batches) == 1:
                raise RuntimeError("downstream bug")

    sink = Flaky()
    feed = WebSocketFeed(ws_config(server.url))
    with FeedThread(feed, sink):
        assert server.wait_for(lambda: server.subscribed())
        server.send(encode_frame([seq_tick(1)]))
        server.send(encode_frame([seq_tick(2)]))
        assert sink.wait_for(lambda: len(sink.batches) == 2)
    assert "downstream bug" in feed.stats.last_error and len(server.conns) == 1


def _handshake_only_server(done: threading.Event) -> int:
    """Completes the WebSocket handshake, then never reads or answers again (a hung peer)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_one() -> None:
        conn, _ = listener.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        key = re.search(rb"Sec-WebSocket-Key: *(\S+)", request, re.IGNORECASE).group(1)
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        done.wait(10)
        conn.close()
        listener.close()

    threading.Thread(target=serve_one, daemon=True).start()
    return listener.getsockname()[1]


def test_missing_pong_drops_the_connection():
    done = threading.Event()
    port = _handshake_only_server(done)
    sink = RecordingSink()
    feed = WebSocketFeed(
        ws_config(f"ws://127.0.0.1:{port}", reconnect=False), ping_interval_s=0.1, ping_timeout_s=0.3
    )
    thread = threading.Thread(target=feed.run, args=(sink, threading.Event()), daemon=True)
    thread.start()
    thread.join(5)
    done.set()
    assert not thread.is_alive()
    assert sink.states() == ["connecting", "connected", "disconnected", "stopped"]
    assert "no pong" in sink.statuses[2].reason


def test_backoff_doubles_with_bounded_jitter_up_to_the_cap():
    rng = random.Random(5)
    delays = [backoff_delay(n, rng) for n in range(12)]
    for n, d in enumerate(delays):
        base = min(30.0, 0.5 * 2**n)
        assert base <= d <= min(30.0, base * 1.25)
    assert delays[0] < 0.63 and delays[-1] == 30.0
    assert len({round(d, 6) for d in delays[:6]}) == 6


def test_describe_masks_credentials():
    feed = WebSocketFeed(ws_config("wss://user:secret@feed.example:443/v1?token=abc"))
    text = feed.describe()
    assert "secret" not in text and "abc" not in text and "feed.example" in text


def test_rejects_a_non_websocket_url():
    with pytest.raises(ValueError):
        WebSocketFeed(FeedConfig(kind="ws", url="http://127.0.0.1:1"))
