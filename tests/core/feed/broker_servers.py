"""Loopback stand-ins for Upstox V3 and the Kite ticker that speak each wire format byte for byte.

Frames are built with the same schema the adapters decode (Upstox's generated protobuf module, Kite's
documented struct layout), carry a per-server sequence number in the volume field so a test can
prove no tick arrives twice, and both servers can drop every connection on command.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from core.clock import IST
from core.domain import FeedItem, FeedStatus, Tick
from core.feed.instruments import InstrumentMaster
from core.feed.proto import MarketDataFeedV3_pb2 as pb

DATA = Path(__file__).resolve().parents[2] / "data"
UPSTOX_FILE = DATA / "upstox_nse_instruments.json.gz"
KITE_FILE = DATA / "kite_instruments.csv"
# 2026-12-01 10:00 IST: a session day on which every expiry in the fixture files is still live.
SESSION_TS = datetime(2026, 12, 1, 10, 0, tzinfo=IST).timestamp()


def session_clock(start: float = SESSION_TS) -> Callable[[], float]:
    """A wall clock moved to `start`: it ticks in real time so live sockets and timeouts behave."""
    offset = start - time.time()
    return lambda: time.time() + offset


def kite_frame(packets: Iterable[bytes]) -> bytes:
    """uint16 packet count, then uint16 length + payload per packet (big-endian)."""
    packets = list(packets)
    out = [struct.pack(">H", len(packets))]
    out += [struct.pack(">H", len(p)) + p for p in packets]
    return b"".join(out)


def kite_ltp_packet(token: int, ltp: int) -> bytes:
    return struct.pack(">II", token, ltp)


def kite_index_packet(
    token: int, ltp: int, high: int, low: int, open_: int, close: int, exch_ts: int | None = None
) -> bytes:
    """28 bytes (quote mode) or 32 bytes with the exchange timestamp (full mode)."""
    body = struct.pack(">IIIIIIi", token, ltp, high, low, open_, close, ltp - close)
    return body if exch_ts is None else body + struct.pack(">I", exch_ts)


def kite_quote_packet(
    token: int, ltp: int, volume: int, close: int, last_qty: int = 65, avg: int = 0
) -> bytes:
    return struct.pack(
        ">IIIIIIIIIII", token, ltp, last_qty, avg or ltp, volume, 1300, 1950, ltp, ltp, ltp, close
    )


@dataclass(frozen=True)
class KiteFull:
    """Every field of a 184-byte full packet, prices in paise."""

    token: int
    ltp: int
    volume: int
    close: int
    oi: int
    last_trade_time: int
    exchange_ts: int
    bids: Sequence[tuple[int, int, int]] = ((650, 0, 1),) * 5  # (qty, price, orders)
    asks: Sequence[tuple[int, int, int]] = ((650, 0, 1),) * 5
    last_qty: int = 65
    avg: int = 0
    buy_qty: int = 13000
    sell_qty: int = 9750
    oi_high: int = 0
    oi_low: int = 0

    def pack(self) -> bytes:
        head = struct.pack(
            ">IIIIIIIIIIIIIIII",
            self.token,
            self.ltp,
            self.last_qty,
            self.avg or self.ltp,
            self.volume,
            self.buy_qty,
            self.sell_qty,
            self.ltp,
            self.ltp,
            self.ltp,
            self.close,
            self.last_trade_time,
            self.oi,
            self.oi_high or self.oi,
            self.oi_low or self.oi,
            self.exchange_ts,
        )
        depth = b"".join(struct.pack(">IIH2x", q, p, o) for q, p, o in (*self.bids, *self.asks))
        return head + depth


def upstox_ltpc(ltp: float, ltt_ms: int, cp: float = 0.0, ltq: int = 0) -> pb.LTPC:
    return pb.LTPC(ltp=ltp, ltt=ltt_ms, ltq=ltq, cp=cp)


def upstox_greeks_feed(
    ltpc: pb.LTPC,
    bid: tuple[int, float],
    ask: tuple[int, float],
    vtt: int,
    oi: float,
    iv: float,
    greeks: tuple[float, float, float, float] = (0.5, 0.0004, -12.0, 14.0),
) -> pb.Feed:
    """option_greeks mode: firstLevelWithGreeks (greeks are delta, gamma, theta, vega)."""
    delta, gamma, theta, vega = greeks
    first = pb.Quote(bidQ=bid[0], bidP=bid[1], askQ=ask[0], askP=ask[1])
    og = pb.OptionGreeks(delta=delta, gamma=gamma, theta=theta, vega=vega, rho=0.01)
    f = pb.FirstLevelWithGreeks(ltpc=ltpc, firstDepth=first, optionGreeks=og, vtt=vtt, oi=oi, iv=iv)
    return pb.Feed(firstLevelWithGreeks=f, requestMode=pb.option_greeks)


def upstox_market_full_feed(
    ltpc: pb.LTPC,
    levels: Sequence[tuple[int, float, int, float]],
    vtt: int,
    oi: float,
    iv: float,
    greeks: tuple[float, float, float, float],
) -> pb.Feed:
    """full mode for an option: marketFF with D5 levels (bidQ, bidP, askQ, askP)."""
    quotes = [pb.Quote(bidQ=a, bidP=b, askQ=c, askP=d) for a, b, c, d in levels]
    delta, gamma, theta, vega = greeks
    og = pb.OptionGreeks(delta=delta, gamma=gamma, theta=theta, vega=vega)
    m = pb.MarketFullFeed(
        ltpc=ltpc,
        marketLevel=pb.MarketLevel(bidAskQuote=quotes),
        optionGreeks=og,
        atp=ltpc.ltp,
        vtt=vtt,
        oi=oi,
        iv=iv,
        tbq=1000,
        tsq=900,
    )
    return pb.Feed(fullFeed=pb.FullFeed(marketFF=m), requestMode=pb.full_d5)


def upstox_index_full_feed(ltpc: pb.LTPC) -> pb.Feed:
    return pb.Feed(fullFeed=pb.FullFeed(indexFF=pb.IndexFullFeed(ltpc=ltpc)), requestMode=pb.full_d5)


def upstox_frame(feeds: dict[str, pb.Feed], current_ts_ms: int, kind: int = pb.live_feed) -> bytes:
    msg = pb.FeedResponse(type=kind, currentTs=current_ts_ms)
    for key, feed in feeds.items():
        msg.feeds[key].CopyFrom(feed)
    return msg.SerializeToString()


def upstox_market_info_frame(statuses: dict[str, int], current_ts_ms: int) -> bytes:
    msg = pb.FeedResponse(type=pb.market_info, currentTs=current_ts_ms)
    for segment, status in statuses.items():
        msg.marketInfo.segmentStatus[segment] = status
    return msg.SerializeToString()


def mutate_frame(rng: random.Random, frame: bytes) -> bytes:
    """One seeded hostile variant: flipped bytes, truncation, splices, random lengths or pure noise."""
    choice = rng.randrange(6)
    data = bytearray(frame)
    if choice == 0:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif choice == 1:
        data = data[: rng.randrange(len(data))]
    elif choice == 2:
        cut = rng.randrange(len(data))
        data = data[:cut] + rng.randbytes(rng.randint(1, 16)) + data[cut:]
    elif choice == 3:
        a, b = sorted(rng.randrange(len(data)) for _ in range(2))
        data = data[:a] + data[b:]
    elif choice == 4:
        data = bytearray(rng.randbytes(rng.randint(0, 300)))
    else:
        pos = rng.randrange(len(data))
        data[pos] = rng.choice((0x00, 0x7F, 0x80, 0xFF))  # varint / length bytes pushed to extremes
    return bytes(data)


def check_ticks(items: Sequence[FeedItem], recv_ts: float) -> None:
    """What a decoder may never emit, however hostile the input: bad prices, crossed books, far times."""
    for item in items:
        if isinstance(item, Tick):
            assert math.isfinite(item.ltp) and item.ltp >= 0
            assert abs(item.ts - recv_ts) <= 86_400
            if item.bid is not None and item.ask is not None:
                assert item.bid <= item.ask


class RecordingSink:
    """Keeps every item and status; tests wait on a predicate instead of sleeping."""

    def __init__(self) -> None:
        self.items: list[FeedItem] = []
        self.statuses: list[FeedStatus] = []
        self._cond = threading.Condition()

    def on_items(self, items: Sequence[FeedItem]) -> None:
        with self._cond:
            self.items.extend(items)
            self._cond.notify_all()

    def on_status(self, status: FeedStatus) -> None:
        with self._cond:
            self.statuses.append(status)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[RecordingSink], bool], timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def ticks(self) -> list[Tick]:
        with self._cond:
            return [i for i in self.items if isinstance(i, Tick)]


@dataclass
class ServerConn:
    """One client connection as the server saw it."""

    conn: ServerConnection
    requests: list = field(default_factory=list)
    modes: dict = field(default_factory=dict)  # key -> mode
    subscribed: threading.Event = field(default_factory=threading.Event)


class _BrokerServer:
    """A websockets (sync) server streaming one frame per `period_s` to every subscribed client."""

    def __init__(self, master: InstrumentMaster, clock: Callable[[], float], period_s: float) -> None:
        self.master = master
        self.clock = clock
        self.period_s = period_s
        self.spot = {"NIFTY": 26012.0, "BANKNIFTY": 59040.0}
        self.connections: list[ServerConn] = []
        self.connected = threading.Condition()
        self._seq = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ws = serve(self._handler, "127.0.0.1", 0, process_request=self._check, compression=None)
        self.port = self._ws.socket.getsockname()[1]
        self._threads = [threading.Thread(target=self._ws.serve_forever, daemon=True)]

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._ws.shutdown()
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    @property
    def seq(self) -> int:
        with self._lock:
            return self._seq

    def drop(self) -> int:
        """Cut every open connection at the TCP level, as a network failure would."""
        with self._lock:
            live = [c for c in self.connections if c.conn.state.name == "OPEN"]
        for c in live:
            with contextlib.suppress(OSError):
                c.conn.socket.shutdown(socket.SHUT_RDWR)
        return len(live)

    def wait_connections(self, n: int, subscribed: bool = True, timeout: float = 10.0) -> bool:
        """Block until `n` connections exist (and the n-th has subscribed)."""
        with self.connected:
            if not self.connected.wait_for(lambda: len(self.connections) >= n, timeout):
                return False
            conn = self.connections[n - 1]
        return conn.subscribed.wait(timeout) if subscribed else True

    def _check(self, conn, request):
        raise NotImplementedError

    def _on_message(self, state: ServerConn, message: bytes | str) -> None:
        raise NotImplementedError

    def _frame(self, state: ServerConn) -> bytes | None:
        raise NotImplementedError

    def _greeting(self, state: ServerConn) -> None:
        """Frames sent right after connect, before any subscription."""

    def _handler(self, conn: ServerConnection) -> None:
        state = ServerConn(conn)
        with self.connected:
            self.connections.append(state)
            self.connected.notify_all()
        next_send = time.monotonic()
        try:
            self._greeting(state)
            while not self._closing.is_set():
                try:
                    message = conn.recv(timeout=max(0.0, next_send - time.monotonic()))
                    self._on_message(state, message)
                    continue
                except TimeoutError:
                    pass
                next_send = time.monotonic() + self.period_s
                frame = self._frame(state)
                if frame is not None:
                    conn.send(frame)
        except (ConnectionClosed, OSError):
            return


class UpstoxServer(_BrokerServer):
    """HTTP authorize endpoint (one-time ws:// URLs) plus the V3 feed over protobuf frames."""

    def __init__(
        self,
        master: InstrumentMaster,
        tokens: Iterable[str] = ("good-token",),
        clock: Callable[[], float] = time.time,
        period_s: float = 0.02,
    ) -> None:
        super().__init__(master, clock, period_s)
        self.tokens = set(tokens)
        # announced in the market_info frame Upstox sends first on every connection
        self.segment_status = {"NSE_EQ": pb.NORMAL_OPEN, "NSE_FO": pb.NORMAL_OPEN}
        self._codes: set[str] = set()
        self.authorize_calls = 0
        outer = self

        class Authorize(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                outer.authorize_calls += 1
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Bearer ") or auth[7:] not in outer.tokens:
                    body = {
                        "status": "error",
                        "errors": [
                            {"errorCode": "UDAPI100050", "message": "Invalid token used to access API"}
                        ],
                    }
                    return self._reply(401, body)
                code = uuid.uuid4().hex
                outer._codes.add(code)
                uri = f"ws://127.0.0.1:{outer.port}/market-data-feeder/v3/feeds?requestId=r&code={code}"
                self._reply(
                    200,
                    {
                        "status": "success",
                        "data": {"authorized_redirect_uri": uri, "authorizedRedirectUri": uri},
                    },
                )

            def _reply(self, status: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args) -> None:
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Authorize)
        self._threads.append(threading.Thread(target=self._http.serve_forever, daemon=True))

    @property
    def authorize_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v3/feed/market-data-feed/authorize"

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        super().stop()

    def _check(self, conn, request):
        code = urllib.parse.parse_qs(urllib.parse.urlparse(request.path).query).get("code", [""])[0]
        if code not in self._codes:
            return conn.respond(403, "code unknown or already used\n")
        self._codes.discard(code)  # the URL is one-time, as Upstox's is
        return None

    def _greeting(self, state: ServerConn) -> None:
        state.conn.send(upstox_market_info_frame(self.segment_status, int(self.clock() * 1000)))

    def _on_message(self, state: ServerConn, message: bytes | str) -> None:
        if isinstance(message, str):
            state.requests.append({"error": "text frame; V3 wants binary"})
            return
        req = json.loads(message.decode())
        state.requests.append(req)
        keys = req["data"]["instrumentKeys"]
        if req["method"] == "unsub":
            for k in keys:
                state.modes.pop(k, None)
        else:
            state.modes.update(dict.fromkeys(keys, req["data"]["mode"]))
            state.subscribed.set()

    def _frame(self, state: ServerConn) -> bytes | None:
        if not state.modes:
            return None
        seq = self.next_seq()
        now_ms = int(self.clock() * 1000)
        feeds = {}
        for key, mode in list(state.modes.items()):
            inst = self.master.get(key)
            if inst is not None:
                feeds[key] = self._feed(inst.symbol if inst.is_index else None, mode, seq, now_ms)
        return upstox_frame(feeds, now_ms)

    def _feed(self, index: str | None, mode: str, seq: int, now_ms: int) -> pb.Feed:
        """What Upstox sends for one key in `mode`; option volume (vtt) carries the sequence number."""
        if index is not None:
            ltpc = upstox_ltpc(self.spot[index], now_ms, cp=self.spot[index] - 50)
            return pb.Feed(ltpc=ltpc) if mode == "ltpc" else upstox_index_full_feed(ltpc)
        ltpc = upstox_ltpc(100.0 + (seq % 100) * 0.05, now_ms, cp=95.0, ltq=65)
        if mode == "ltpc":
            return pb.Feed(ltpc=ltpc)
        bid, ask = round(ltpc.ltp - 0.05, 2), round(ltpc.ltp + 0.05, 2)
        if mode == "option_greeks":
            return upstox_greeks_feed(ltpc, (650, bid), (1300, ask), vtt=seq, oi=1_300_000.0, iv=0.1425)
        levels = [(650 * (i + 1), bid - i * 0.05, 1300 * (i + 1), ask + i * 0.05) for i in range(5)]
        return upstox_market_full_feed(ltpc, levels, seq, 1_300_000.0, 0.1425, (0.5, 0.0004, -12.0, 14.0))


class KiteServer(_BrokerServer):
    """The Kite ticker: text subscribe/mode requests in, multi-packet binary frames and heartbeats out."""

    def __init__(
        self,
        master: InstrumentMaster,
        api_key: str = "kite-key",
        tokens: Iterable[str] = ("kite-token",),
        clock: Callable[[], float] = time.time,
        period_s: float = 0.02,
    ) -> None:
        super().__init__(master, clock, period_s)
        self.api_key = api_key
        self.tokens = set(tokens)
        self.heartbeat_every = 5

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _check(self, conn, request):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(request.path).query)
        if query.get("api_key") != [self.api_key] or query.get("access_token", [""])[0] not in self.tokens:
            return conn.respond(403, "invalid api_key or access_token\n")
        return None

    def _on_message(self, state: ServerConn, message: bytes | str) -> None:
        req = json.loads(message)
        state.requests.append(req)
        if req["a"] == "subscribe":
            for token in req["v"]:
                state.modes.setdefault(str(token), "quote")  # Kite's default mode on subscribe
        elif req["a"] == "mode":
            mode, tokens = req["v"]
            state.modes.update({str(t): mode for t in tokens})
            state.subscribed.set()
        elif req["a"] == "unsubscribe":
            for token in req["v"]:
                state.modes.pop(str(token), None)

    def _frame(self, state: ServerConn) -> bytes | None:
        if not state.modes:
            return None
        seq = self.next_seq()
        if seq % self.heartbeat_every == 0:
            return b"\x00"
        now = int(self.clock())
        packets = []
        for key, mode in list(state.modes.items()):
            inst = self.master.get(key)
            if inst is None:
                continue
            token = int(key)
            if inst.is_index:
                spot = int(round(self.spot[inst.symbol] * 100))
                packets.append(
                    kite_index_packet(
                        token,
                        spot,
                        spot + 500,
                        spot - 500,
                        spot,
                        spot - 5000,
                        now if mode == "full" else None,
                    )
                )
                continue
            ltp = 10_000 + (seq % 100) * 5
            full = KiteFull(
                token,
                ltp,
                volume=seq,
                close=9_500,
                oi=1_300_000,
                last_trade_time=now - 1,
                exchange_ts=now,
                bids=((650, ltp - 5, 3),) * 5,
                asks=((1300, ltp + 5, 4),) * 5,
            )
            packets.append(full.pack() if mode == "full" else kite_quote_packet(token, ltp, seq, 9_500))
        return kite_frame(packets)
