"""Zerodha Kite ticker adapter: JSON text requests, big-endian binary packets -> Ticks.

Frame layout (Kite Connect WebSocket docs): uint16 packet count, then per packet a uint16 length and
the payload. The length says the packet kind. Prices are paise (NSE/NFO), OI and volume are units,
times are epoch seconds. A 1-byte binary frame is a heartbeat; text frames are JSON messages.
"""

from __future__ import annotations

import json
import struct
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import websocket

from core.config import FeedConfig
from core.domain import FeedItem, Tick
from core.errors import DataError
from core.feed.base import FeedStats
from core.feed.broker_session import AuthError, BrokerSession
from core.feed.instruments import Instrument, InstrumentMaster
from core.feed.subscription import (
    KITE_MAX_TOKENS,
    KITE_TOKENS_PER_REQUEST,
    MAX_CLOCK_SKEW_S,
    AtmWindow,
    chunked,
)

KITE_URL = "wss://ws.kite.trade"
PAISE = 100.0

_HEADER = struct.Struct(">H")
LTP = struct.Struct(">II")  # token, ltp
INDEX_QUOTE = struct.Struct(">IIIIIIi")  # token, ltp, high, low, open, close, change
INDEX_FULL = struct.Struct(">IIIIIIiI")  # ... + exchange timestamp
QUOTE = struct.Struct(">IIIIIIIIIII")  # token, ltp, last qty, avg, volume, buy qty, sell qty, o, h, l, c
# full = quote + last trade time, OI, OI day high, OI day low, exchange ts + 10 depth entries
# (5 bids then 5 asks), each qty, price, orders and 2 bytes of padding.
FULL = struct.Struct(">IIIIIIIIIIIIIIII" + "IIH2x" * 10)


def _ts(exchange_ts: int, fallback: int, recv_ts: float) -> float:
    ts = float(exchange_ts or fallback) or recv_ts
    if abs(ts - recv_ts) > MAX_CLOCK_SKEW_S:
        raise DataError("implausible_timestamp", f"{ts} vs receive {recv_ts}")
    return ts


def _ltp_tick(inst: Instrument, p: bytes, recv_ts: float) -> Tick:
    _, ltp = LTP.unpack(p)
    # LTP packets carry no time, so receive time is the best event time there is.
    return _tick(inst, recv_ts, recv_ts, ltp)


def _index_tick(inst: Instrument, p: bytes, recv_ts: float) -> Tick:
    if not inst.is_index:
        raise DataError("packet_kind_mismatch", f"index packet for option {inst.key}")
    if len(p) == INDEX_FULL.size:
        _, ltp, _, _, _, close, _, exch_ts = INDEX_FULL.unpack(p)
    else:
        _, ltp, _, _, _, close, _ = INDEX_QUOTE.unpack(p)
        exch_ts = 0
    return _tick(inst, _ts(exch_ts, 0, recv_ts), recv_ts, ltp, prev_close=_rupees(close))


def _quote_tick(inst: Instrument, p: bytes, recv_ts: float) -> Tick:
    if inst.is_index:
        raise DataError("packet_kind_mismatch", f"quote packet for index {inst.key}")
    f = QUOTE.unpack(p)
    return _tick(inst, recv_ts, recv_ts, f[1], volume=float(f[4]), prev_close=_rupees(f[10]))


def _full_tick(inst: Instrument, p: bytes, recv_ts: float) -> Tick:
    if inst.is_index:
        raise DataError("packet_kind_mismatch", f"full packet for index {inst.key}")
    f = FULL.unpack(p)
    bid_qty, bid, _, ask_qty, ask, _ = f[16], f[17], f[18], f[31], f[32], f[33]
    if bid and ask and bid > ask:
        raise DataError("crossed_quote", f"bid {bid} > ask {ask} paise")
    return _tick(
        inst,
        _ts(f[15], f[11], recv_ts),
        recv_ts,
        f[1],
        volume=float(f[4]),
        prev_close=_rupees(f[10]),
        oi=float(f[12]),
        bid=_rupees(bid),
        ask=_rupees(ask),
        bid_qty=float(bid_qty) if bid else None,
        ask_qty=float(ask_qty) if ask else None,
    )


def _rupees(paise: int) -> float | None:
    """Kite leaves an empty depth side or unknown close at 0."""
    return paise / PAISE if paise > 0 else None


def _tick(inst: Instrument, ts: float, recv_ts: float, ltp_paise: int, **fields: Any) -> Tick:
    return Tick(
        symbol=inst.symbol,
        ts=ts,
        ltp=ltp_paise / PAISE,
        recv_ts=recv_ts,
        expiry=inst.expiry,
        strike=inst.strike,
        right=inst.right,
        **fields,
    )


# The decoder table: packet length -> handler. A new packet kind is one line here.
PACKETS: dict[int, Callable[[Instrument, bytes, float], Tick]] = {
    LTP.size: _ltp_tick,
    INDEX_QUOTE.size: _index_tick,
    INDEX_FULL.size: _index_tick,
    QUOTE.size: _quote_tick,
    FULL.size: _full_tick,
}


def decode_kite(frame: bytes, master: InstrumentMaster, stats: FeedStats, recv_ts: float) -> list[FeedItem]:
    """One binary frame -> Ticks. Heartbeats yield nothing; bad packets are rejected and counted."""
    stats.frames += 1
    stats.last_recv_ts = recv_ts
    n = len(frame)
    if n == 1:
        return []  # heartbeat
    if n < _HEADER.size:
        stats.reject("short_frame", bytes(frame).hex())
        return []
    (count,) = _HEADER.unpack_from(frame, 0)
    pos = _HEADER.size
    if count == 0:
        stats.ignored += 1
    items: list[FeedItem] = []
    for _ in range(count):
        if pos + 2 > n:
            stats.reject("truncated_frame", f"packet header at {pos} of {n} bytes")
            break
        (length,) = _HEADER.unpack_from(frame, pos)
        pos += 2
        if pos + length > n:
            stats.reject("truncated_frame", f"packet of {length} bytes at {pos} of {n}")
            break
        packet = bytes(frame[pos : pos + length])
        pos += length
        tick = _packet(packet, master, stats, recv_ts)
        if tick is not None:
            items.append(tick)
    else:
        if pos != n:
            stats.reject("trailing_bytes", f"{n - pos} bytes after {count} packets")
    stats.items += len(items)
    return items


def _packet(packet: bytes, master: InstrumentMaster, stats: FeedStats, recv_ts: float) -> Tick | None:
    handler = PACKETS.get(len(packet))
    if handler is None:
        stats.reject("unknown_packet_length", f"{len(packet)} bytes: {packet[:16].hex()}")
        return None
    (token,) = struct.unpack_from(">I", packet, 0)
    inst = master.by_token(token)
    if inst is None:
        stats.ignored += 1
        return None
    try:
        tick = handler(inst, packet, recv_ts)
    except DataError as exc:
        stats.reject(exc.reason, f"{token}: {exc.detail}")
        return None
    stats.last_event_ts = max(stats.last_event_ts, tick.ts)
    return tick


def decode_kite_text(text: str, stats: FeedStats) -> None:
    """Text frames are JSON messages (order updates, errors): nothing for the chain, errors noted."""
    stats.frames += 1
    try:
        msg = json.loads(text)
    except ValueError:
        stats.reject("bad_json", text)
        return
    stats.ignored += 1
    if isinstance(msg, dict) and msg.get("type") == "error":
        stats.last_error = f"kite: {msg.get('data')}"


class KiteFeed(BrokerSession):
    """The live Kite ticker feed in full mode. `url` is overridable so tests can use a local server."""

    def __init__(
        self,
        config: FeedConfig,
        api_key: str,
        access_token: str | Callable[[], str],
        master: InstrumentMaster,
        url: str = KITE_URL,
        **session: Any,
    ) -> None:
        window = AtmWindow(master, config.symbols, config.strikes_each_side, max_keys=KITE_MAX_TOKENS)
        super().__init__(config, master, window, **session)
        self.url = url
        self._api_key = api_key
        # A callable (core.broker.tokens.TokenSource) is asked on every connection.
        self._access_token = access_token if callable(access_token) else (lambda: access_token)

    def describe(self) -> str:
        key = f"{self._api_key[:3]}***" if self._api_key else "unset"
        token = "***" if self._access_token() else "unset"
        return f"Kite ticker {self.url}?api_key={key}&access_token={token}"

    def _credential(self) -> str:
        return self._access_token()

    def _connect(self) -> websocket.WebSocket:
        query = urllib.parse.urlencode({"api_key": self._api_key, "access_token": self._access_token()})
        sep = "&" if "?" in self.url else "?"
        try:
            return websocket.create_connection(
                f"{self.url}{sep}{query}", timeout=10, header=["X-Kite-Version: 3"], enable_multithread=True
            )
        except websocket.WebSocketBadStatusException as exc:
            if exc.status_code in (401, 403):
                raise AuthError(f"ticker handshake returned HTTP {exc.status_code}") from None
            raise

    def _subscribe(self, ws: websocket.WebSocket, keys: Sequence[str]) -> None:
        for chunk in chunked([int(k) for k in keys], KITE_TOKENS_PER_REQUEST):
            ws.send(json.dumps({"a": "subscribe", "v": chunk}))
            ws.send(json.dumps({"a": "mode", "v": ["full", chunk]}))

    def _unsubscribe(self, ws: websocket.WebSocket, keys: Sequence[str]) -> None:
        for chunk in chunked([int(k) for k in keys], KITE_TOKENS_PER_REQUEST):
            ws.send(json.dumps({"a": "unsubscribe", "v": chunk}))

    def _decode(self, data: bytes | str, recv_ts: float) -> list[FeedItem]:
        if isinstance(data, str):
            decode_kite_text(data, self.stats)
            return []
        return decode_kite(data, self.master, self.stats, recv_ts)
