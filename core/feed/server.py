"""Serve protocol v1 over WebSocket from any Feed (or batch iterator) to any number of clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from core.domain import FeedItem, FeedStatus, InstrumentInfo, LegKey, MarketStatus, Tick
from core.feed.base import Feed
from core.feed.encode import dumps, encode_heartbeat, encode_item

log = logging.getLogger(__name__)

ALL_SYMBOLS: frozenset[str] = frozenset({"*"})
_MARKET_WIDE = ""  # items without a symbol (MarketStatus) go to every subscriber


@dataclass
class _SymbolState:
    instrument: str | None = None
    underlying: str | None = None
    legs: dict[LegKey, str] = field(default_factory=dict)


class LatestState:
    """The newest encoded object per symbol (instrument, underlying, every leg) plus market status,
    so a client that joins late receives a full chain in its first frame."""

    def __init__(self) -> None:
        self._symbols: dict[str, _SymbolState] = {}
        self._status: str | None = None

    def apply(self, item: FeedItem, text: str) -> None:
        if type(item) is MarketStatus:
            self._status = text
            return
        state = self._symbols.get(item.symbol)
        if state is None:
            state = self._symbols[item.symbol] = _SymbolState()
        if type(item) is Tick:
            if item.right is None:
                state.underlying = text
            else:
                state.legs[item.key] = text
        elif type(item) is InstrumentInfo:
            state.instrument = text
            if item.expiries:
                # Legs of expiries the source no longer lists are gone from the market.
                live = set(item.expiries)
                state.legs = {k: v for k, v in state.legs.items() if k[0] in live}

    def snapshot(self, symbols: frozenset[str], held: frozenset[str] = frozenset()) -> list[str]:
        """Encoded objects for `symbols`, skipping those the client `held` already (and the market
        status, which a client that held anything has already been sent)."""
        out = [self._status] if self._status and not held else []
        for symbol, state in self._symbols.items():
            if symbol not in held and (symbols is ALL_SYMBOLS or symbol in symbols):
                out.extend(s for s in (state.instrument, state.underlying) if s)
                out.extend(state.legs.values())
        return out


@dataclass(eq=False)
class _Client:
    ws: ServerConnection
    queue: asyncio.Queue[str]
    symbols: frozenset[str] | None = None  # None until the client subscribes
    last_sent: float = 0.0


def _frame(texts: Sequence[str]) -> str:
    return "[" + ",".join(texts) + "]"


class _BroadcastSink:
    """FeedSink adapter: whatever the source feed delivers is published to the clients."""

    def __init__(self, server: FeedServer) -> None:
        self._server = server

    def on_items(self, items: Sequence[FeedItem]) -> None:
        self._server.publish(items)

    def on_status(self, status: FeedStatus) -> None:
        log.info("feed server source: %s %s", status.state, status.reason)


class FeedServer:
    """A protocol-v1 WebSocket server on a background asyncio thread.

    `source` is a Feed (run in its own thread through a sink adapter), an iterable of batches, or
    None (the caller calls `publish`). Each client subscribes to symbols, then gets one frame with the
    latest full state of those symbols followed by every batch filtered to them. A client whose queue
    stays full for `slow_client_timeout_s` is disconnected rather than allowed to stall the others;
    until then a full queue holds the source back (so an as-fast-as-possible source is paced by its
    clients instead of buffering without bound).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        source: Feed | Iterable[Sequence[FeedItem]] | None = None,
        *,
        queue_frames: int = 256,
        slow_client_timeout_s: float = 10.0,
        heartbeat_s: float = 1.0,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._source = source
        self._queue_frames = queue_frames
        self._slow_timeout_s = slow_client_timeout_s
        self._heartbeat_s = heartbeat_s
        self._state = LatestState()
        self._clients: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._source_stop = threading.Event()
        self.source_done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start_error: BaseException | None = None
        self._port = 0
        self._last_event_ts = 0.0
        self._subscribers = 0
        self._subscribed = threading.Condition()
        self.stats: dict[str, int] = {"batches": 0, "frames_sent": 0, "clients_dropped": 0, "connections": 0}

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when constructed with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self._port}"

    @property
    def client_count(self) -> int:
        return len(self._clients)

    @property
    def subscriber_count(self) -> int:
        return self._subscribers

    def wait_for_subscribers(self, count: int, timeout: float) -> bool:
        """Block until at least `count` clients have subscribed (a barrier for tests and tools)."""
        with self._subscribed:
            return self._subscribed.wait_for(lambda: self._subscribers >= count, timeout)

    def start(self) -> FeedServer:
        """Bind and start serving; raises OSError when the address cannot be bound."""
        if self._threads:
            return self
        loop_thread = threading.Thread(target=self._serve, name="feed-server", daemon=True)
        self._threads.append(loop_thread)
        loop_thread.start()
        self._ready.wait()
        if self._start_error is not None:
            raise self._start_error
        if self._source is not None:
            src = threading.Thread(target=self._run_source, name="feed-server-source", daemon=True)
            self._threads.append(src)
            src.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the source, close every client connection and the listener, join the threads."""
        self._stopping.set()
        self._source_stop.set()
        if self._loop is not None and self._shutdown is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._shutdown.set)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def publish(self, items: Sequence[FeedItem]) -> bool:
        """Broadcast one batch (thread-safe; blocks while a client queue is full). False if stopped."""
        if not items or self._loop is None or self._stopping.is_set():
            return False
        fut = asyncio.run_coroutine_threadsafe(self._publish(list(items)), self._loop)
        while True:
            try:
                fut.result(timeout=0.25)
                return True
            except concurrent.futures.TimeoutError:
                if self._stopping.is_set():
                    fut.cancel()
                    return False

    def drop_clients(self) -> int:
        """Close every client connection (operations and tests); clients are expected to reconnect."""
        if self._loop is None:
            return 0
        fut = asyncio.run_coroutine_threadsafe(self._drop_all(), self._loop)
        return fut.result(timeout=5.0)

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # surfaced to start(); the thread itself must not die noisily
            self._start_error = self._start_error or exc
            log.exception("feed server loop failed")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()
        try:
            # Deflate is off: frames are small and latency matters more than bandwidth on a LAN.
            server: Server = await serve(
                self._handler,
                self.host,
                self._requested_port,
                compression=None,
                max_size=2**16,
                close_timeout=1.0,  # a client that ignores the close handshake must not hold up stop()
            )
        except OSError as exc:
            self._start_error = exc
            return
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        heartbeats = asyncio.create_task(self._heartbeats())
        await self._shutdown.wait()
        heartbeats.cancel()
        server.close()
        await server.wait_closed()

    def _run_source(self) -> None:
        source = self._source
        try:
            if source is None:  # never: the source thread only starts with a source
                return
            if hasattr(source, "run"):
                source.run(_BroadcastSink(self), self._source_stop)
            else:
                for batch in source:
                    if self._source_stop.is_set() or (batch and not self.publish(batch)):
                        break
        except Exception:  # a broken source ends the stream; connected clients keep the last state
            log.exception("feed server source failed")
        finally:
            self.source_done.set()

    async def _publish(self, items: list[FeedItem]) -> None:
        encoded: list[tuple[str, str]] = []
        for item in items:
            text = dumps(encode_item(item))
            self._state.apply(item, text)
            encoded.append((getattr(item, "symbol", _MARKET_WIDE), text))
            ts = getattr(item, "ts", 0.0)
            if ts > self._last_event_ts:
                self._last_event_ts = ts
        self.stats["batches"] += 1
        # Targets are fixed now, together with the state update: a client subscribing while we wait
        # below already has this batch in its snapshot and must not get it twice.
        targets = [(c, c.symbols) for c in self._clients if c.symbols]
        frames: dict[frozenset[str], str | None] = {}
        for client, symbols in targets:
            if symbols not in frames:
                texts = [t for s, t in encoded if symbols is ALL_SYMBOLS or s in symbols or s == _MARKET_WIDE]
                frames[symbols] = _frame(texts) if texts else None
            frame = frames[symbols]
            if frame is not None:
                await self._enqueue(client, frame)

    async def _enqueue(self, client: _Client, frame: str) -> None:
        try:
            client.queue.put_nowait(frame)
            return
        except asyncio.QueueFull:
            pass
        try:
            await asyncio.wait_for(client.queue.put(frame), self._slow_timeout_s)
        except TimeoutError:
            self._drop(client, 1013, "client too slow")

    def _drop(self, client: _Client, code: int, reason: str) -> None:
        if client in self._clients:
            self._clients.discard(client)
            self._count_subscribers()
            self.stats["clients_dropped"] += 1
            asyncio.get_running_loop().create_task(client.ws.close(code, reason))

    async def _drop_all(self) -> int:
        clients = list(self._clients)
        for client in clients:
            self._drop(client, 1012, "server dropped the connection")
        return len(clients)

    async def _handler(self, ws: ServerConnection) -> None:
        client = _Client(ws, asyncio.Queue(maxsize=self._queue_frames))
        self._clients.add(client)
        self.stats["connections"] += 1
        writer = asyncio.create_task(self._writer(client))
        try:
            async for message in ws:
                self._on_request(client, message)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            writer.cancel()
            self._count_subscribers()

    async def _writer(self, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await client.queue.get()
                await client.ws.send(frame)
                client.last_sent = loop.time()
                self.stats["frames_sent"] += 1
        except ConnectionClosed:
            pass

    def _on_request(self, client: _Client, message: str | bytes) -> None:
        request = _parse_request(message)
        if request is None:
            log.info("feed server ignored a client message: %.100r", message)
            return
        op, symbols = request
        old = client.symbols or frozenset()
        if op == "unsubscribe":
            if old is ALL_SYMBOLS and symbols is not ALL_SYMBOLS:
                return  # "all but X" is not expressible; the client keeps everything
            remaining = frozenset() if symbols is ALL_SYMBOLS else frozenset(old - symbols)
            client.symbols = remaining or None
            self._count_subscribers()
            return
        new = ALL_SYMBOLS if (symbols is ALL_SYMBOLS or old is ALL_SYMBOLS) else frozenset(old | symbols)
        added = new if new is ALL_SYMBOLS and old is not ALL_SYMBOLS else frozenset(new - old)
        snapshot = self._state.snapshot(added, held=old) if added else []
        client.symbols = new
        self._count_subscribers()
        if snapshot:
            try:
                client.queue.put_nowait(_frame(snapshot))
            except asyncio.QueueFull:
                self._drop(client, 1013, "client too slow")

    def _count_subscribers(self) -> None:
        with self._subscribed:
            self._subscribers = sum(1 for c in self._clients if c.symbols)
            self._subscribed.notify_all()

    async def _heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._heartbeat_s)
            frame = encode_heartbeat(self._last_event_ts or None)
            now = loop.time()
            for client in list(self._clients):
                if client.symbols and client.queue.empty() and now - client.last_sent >= self._heartbeat_s:
                    client.queue.put_nowait(frame)


def _parse_request(message: str | bytes) -> tuple[str, frozenset[str]] | None:
    """(op, symbols) of a subscribe/unsubscribe request; an empty symbol list means all symbols."""
    try:
        req: Any = json.loads(message)
    except (ValueError, TypeError, RecursionError):
        return None
    if type(req) is not dict or req.get("op") not in ("subscribe", "unsubscribe"):
        return None
    symbols = req.get("symbols") or []
    if type(symbols) is not list or not all(type(s) is str for s in symbols):
        return None
    if not symbols or "*" in symbols:
        return req["op"], ALL_SYMBOLS
    return req["op"], frozenset(symbols)
