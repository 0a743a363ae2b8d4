"""Upstox Market Data Feed V3 adapter: authorize, binary-JSON subscribe, protobuf frames -> Ticks.

The schema is Upstox's published `MarketDataFeedV3.proto` (core/feed/proto/). Its Python module was
generated with grpcio-tools 1.85.1 (protoc gencode 7.35.1, runs on the protobuf 7.x runtime):

    pip install --target /tmp/grpctools grpcio-tools==1.85.1 grpcio==1.85.3
    PYTHONPATH=/tmp/grpctools python -m grpc_tools.protoc -I core/feed/proto \
        --python_out=core/feed/proto core/feed/proto/MarketDataFeedV3.proto
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import websocket
from google.protobuf.message import DecodeError

from core.config import FeedConfig
from core.domain import FeedItem, MarketStatus, Tick
from core.errors import DataError, FeedError
from core.feed.base import FeedStats
from core.feed.broker_session import AuthError, BrokerSession
from core.feed.instruments import Instrument, InstrumentMaster
from core.feed.proto import MarketDataFeedV3_pb2 as pb
from core.feed.subscription import (
    MAX_CLOCK_SKEW_S,
    UPSTOX_COMBINED_LIMIT,
    UPSTOX_KEYS_PER_REQUEST,
    AtmWindow,
    chunked,
)

AUTHORIZE_URL = "https://api.upstox.com/v3/feed/market-data-feed/authorize"
# Segment status -> the market states StrikeIQ shows. Post-close sessions count as closed.
SEGMENT_STATUS = {
    pb.PRE_OPEN_START: "PREOPEN",
    pb.PRE_OPEN_END: "PREOPEN",
    pb.NORMAL_OPEN: "OPEN",
    pb.NORMAL_CLOSE: "CLOSED",
    pb.CLOSING_START: "CLOSED",
    pb.CLOSING_END: "CLOSED",
}
STATUS_SEGMENTS = ("NSE_FO", "NSE_INDEX")
# Upstox sends IV as a decimal in the feed; a value this large can only be a percentage
# (index option IV never reaches 300 %, and never falls below 3 %), so both spellings decode right.
IV_PERCENT_THRESHOLD = 3.0


def subscribe_request(method: str, keys: Sequence[str], mode: str | None = None) -> bytes:
    """One V3 request as Upstox wants it: JSON text sent in a binary WebSocket frame."""
    data: dict[str, Any] = {"instrumentKeys": list(keys)}
    if mode is not None:
        data["mode"] = mode
    return json.dumps({"guid": uuid.uuid4().hex, "method": method, "data": data}).encode()


def decode_upstox(
    payload: bytes | bytearray | str, master: InstrumentMaster, stats: FeedStats, recv_ts: float
) -> list[FeedItem]:
    """One FeedResponse frame -> Ticks / MarketStatus. Bad frames or legs are rejected and counted."""
    stats.frames += 1
    stats.last_recv_ts = recv_ts
    if not isinstance(payload, bytes | bytearray):
        stats.ignored += 1
        return []
    try:
        msg = pb.FeedResponse.FromString(bytes(payload))
    except (DecodeError, ValueError, RuntimeError, RecursionError) as exc:
        stats.reject("bad_protobuf", f"{exc}: {bytes(payload[:40]).hex()}")
        return []
    frame_ts = msg.currentTs / 1000.0 if msg.currentTs > 0 else 0.0
    items: list[FeedItem] = []
    if not msg.feeds and not msg.HasField("marketInfo"):
        stats.ignored += 1  # an empty message (protobuf parses b"" as one): nothing to say
        return items
    if msg.HasField("marketInfo"):
        _add_market_status(msg.marketInfo, frame_ts, recv_ts, stats, items)
    for key, feed in msg.feeds.items():
        inst = master.get(key)
        if inst is None:
            stats.ignored += 1
            continue
        try:
            tick = _tick(inst, feed, frame_ts, recv_ts)
        except DataError as exc:
            stats.reject(exc.reason, f"{key}: {exc.detail}")
            continue
        if tick is None:
            stats.ignored += 1
            continue
        items.append(tick)
        stats.last_event_ts = max(stats.last_event_ts, tick.ts)
    stats.items += len(items)
    return items


def _add_market_status(
    info: pb.MarketInfo, frame_ts: float, recv_ts: float, stats: FeedStats, items: list[FeedItem]
) -> None:
    # market_info is about the session, so a frame without its own stamp takes receive time.
    ts = frame_ts or recv_ts
    if abs(ts - recv_ts) > MAX_CLOCK_SKEW_S:
        stats.reject("implausible_timestamp", f"market_info at {ts} vs receive {recv_ts}")
        return
    status = _market_status(info, ts)
    if status is None:
        stats.ignored += 1  # segments we do not trade, or a status value we do not know
    else:
        items.append(status)


def _market_status(info: pb.MarketInfo, ts: float) -> MarketStatus | None:
    for segment in STATUS_SEGMENTS:
        if segment in info.segmentStatus:
            market = SEGMENT_STATUS.get(info.segmentStatus[segment])
            return MarketStatus(market, ts) if market else None
    return None


def _tick(inst: Instrument, feed: pb.Feed, frame_ts: float, recv_ts: float) -> Tick | None:
    kind = feed.WhichOneof("FeedUnion")
    if kind == "ltpc":
        return _build(inst, feed.ltpc, frame_ts, recv_ts)
    if kind == "firstLevelWithGreeks":
        f = feed.firstLevelWithGreeks
        greeks = f.optionGreeks if f.HasField("optionGreeks") else None
        quote = f.firstDepth if f.HasField("firstDepth") else None
        return _build(inst, f.ltpc, frame_ts, recv_ts, quote, greeks, f.vtt, f.oi, f.iv)
    if kind != "fullFeed":
        return None
    which = feed.fullFeed.WhichOneof("FullFeedUnion")
    if which == "indexFF":
        return _build(inst, feed.fullFeed.indexFF.ltpc, frame_ts, recv_ts)
    if which != "marketFF":
        return None
    m = feed.fullFeed.marketFF
    quote = m.marketLevel.bidAskQuote[0] if len(m.marketLevel.bidAskQuote) else None
    greeks = m.optionGreeks if m.HasField("optionGreeks") else None
    return _build(inst, m.ltpc, frame_ts, recv_ts, quote, greeks, m.vtt, m.oi, m.iv)


def _build(
    inst: Instrument,
    ltpc: pb.LTPC,
    frame_ts: float,
    recv_ts: float,
    quote: pb.Quote | None = None,
    greeks: pb.OptionGreeks | None = None,
    vtt: int | None = None,
    oi: float | None = None,
    iv: float | None = None,
) -> Tick:
    # currentTs stamps the frame at the exchange gateway; ltt only moves on trades, so quote and
    # OI updates for a quiet strike would look old if it were used first.
    ts = frame_ts or (ltpc.ltt / 1000.0 if ltpc.ltt > 0 else 0.0)
    if ts <= 0:
        raise DataError("missing_timestamp", "neither currentTs nor ltt")
    if abs(ts - recv_ts) > MAX_CLOCK_SKEW_S:
        raise DataError("implausible_timestamp", f"{ts} vs receive {recv_ts}")
    _check_price("bad_price", ltpc.ltp)
    fields: dict[str, Any] = {"prev_close": _positive(ltpc.cp)}
    if not inst.is_index:
        fields.update(_option_fields(quote, greeks, vtt, oi, iv))
    return Tick(
        symbol=inst.symbol,
        ts=ts,
        ltp=ltpc.ltp,
        recv_ts=recv_ts,
        expiry=inst.expiry,
        strike=inst.strike,
        right=inst.right,
        **fields,
    )


def _option_fields(
    quote: pb.Quote | None,
    greeks: pb.OptionGreeks | None,
    vtt: int | None,
    oi: float | None,
    iv: float | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if quote is not None:
        out.update(_quote(quote))
    if vtt is not None:
        if vtt < 0:
            raise DataError("negative_volume", str(vtt))
        out["volume"] = float(vtt)
    if oi is not None:
        _check_price("bad_oi", oi)
        out["oi"] = float(oi)
    if iv:
        _check_price("bad_iv", iv)
        out["iv"] = iv / 100.0 if iv > IV_PERCENT_THRESHOLD else iv
    if greeks is not None:
        values = (greeks.delta, greeks.gamma, greeks.theta, greeks.vega)
        if not all(math.isfinite(v) for v in values):
            raise DataError("bad_greeks", repr(values))
        out.update(zip(("delta", "gamma", "theta", "vega"), values, strict=True))
    return out


def _quote(q: pb.Quote) -> dict[str, Any]:
    _check_price("bad_price", q.bidP)
    _check_price("bad_price", q.askP)
    if q.bidQ < 0 or q.askQ < 0:
        raise DataError("negative_quantity", f"{q.bidQ}/{q.askQ}")
    bid, ask = _positive(q.bidP), _positive(q.askP)
    if bid is not None and ask is not None and bid > ask:
        raise DataError("crossed_quote", f"bid {bid} > ask {ask}")
    return {
        "bid": bid,
        "ask": ask,
        "bid_qty": float(q.bidQ) if bid is not None else None,
        "ask_qty": float(q.askQ) if ask is not None else None,
    }


def _check_price(reason: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise DataError(reason, repr(value))


def _positive(value: float) -> float | None:
    """Upstox leaves an empty side or unknown close at 0 (proto3 default)."""
    return value if value > 0 else None


class UpstoxFeed(BrokerSession):
    """The live Upstox V3 feed. `authorize_url` is overridable so tests can use a local server."""

    def __init__(
        self,
        config: FeedConfig,
        token: str | Callable[[], str],
        master: InstrumentMaster,
        authorize_url: str = AUTHORIZE_URL,
        option_mode: str = "option_greeks",
        index_mode: str = "ltpc",
        **session: Any,
    ) -> None:
        window = AtmWindow(master, config.symbols, config.strikes_each_side, max_keys=UPSTOX_COMBINED_LIMIT)
        super().__init__(config, master, window, **session)
        # A callable (core.broker.tokens.TokenSource) is asked on every connection: a new login
        # reaches the running feed.
        self._token = token if callable(token) else (lambda: token)
        self.authorize_url = authorize_url
        self.option_mode = option_mode
        self.index_mode = index_mode

    def describe(self) -> str:
        return f"Upstox Market Data Feed V3 via {self.authorize_url} (token {'set' if self._token() else 'unset'})"

    def _credential(self) -> str:
        return self._token()

    def authorize(self) -> str:
        """The one-time wss:// URL for the next connection. 401/403 raise AuthError."""
        request = urllib.request.Request(
            self.authorize_url,
            headers={"Authorization": f"Bearer {self._token()}", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                body = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403) or b"UDAPI100050" in (exc.read() if exc.fp else b""):
                raise AuthError(f"authorize returned HTTP {exc.code}") from None
            raise FeedError(f"authorize returned HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FeedError(f"authorize failed: {exc}") from None
        data = body.get("data") if isinstance(body, dict) else None
        # authorized_redirect_uri is current; the camelCase spelling is deprecated but still sent.
        url = (data or {}).get("authorized_redirect_uri") or (data or {}).get("authorizedRedirectUri")
        if not isinstance(url, str) or not url.startswith(("wss://", "ws://")):
            raise FeedError("authorize response has no WebSocket URL")
        return url

    def _connect(self) -> websocket.WebSocket:
        url = self.authorize()
        try:
            return websocket.create_connection(url, timeout=10, enable_multithread=True)
        except websocket.WebSocketBadStatusException as exc:
            if exc.status_code in (401, 403):
                raise AuthError(f"feed handshake returned HTTP {exc.status_code}") from None
            raise

    def _subscribe(self, ws: websocket.WebSocket, keys: Sequence[str]) -> None:
        index = [k for k in keys if (i := self.master.get(k)) is not None and i.is_index]
        index_set = set(index)
        options = [k for k in keys if k not in index_set]
        for mode, group in ((self.index_mode, index), (self.option_mode, options)):
            for chunk in chunked(group, UPSTOX_KEYS_PER_REQUEST):
                ws.send_binary(subscribe_request("sub", chunk, mode))

    def _unsubscribe(self, ws: websocket.WebSocket, keys: Sequence[str]) -> None:
        for chunk in chunked(list(keys), UPSTOX_KEYS_PER_REQUEST):
            ws.send_binary(subscribe_request("unsub", chunk))

    def _decode(self, data: bytes | str, recv_ts: float) -> list[FeedItem]:
        return decode_upstox(data, self.master, self.stats, recv_ts)
