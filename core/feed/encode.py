"""Feed items to protocol-v1 JSON (SPEC §3.1), the inverse of core/feed/protocol.py's decoder:
what the feed server sends and the recorder writes."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from core.domain import FeedItem, InstrumentInfo, MarketStatus, Tick
from core.feed.protocol import GREEKS, ts_to_ms

_isfinite = math.isfinite


def _encode_tick(t: Tick) -> dict[str, Any]:
    d: dict[str, Any] = {"type": "tick", "symbol": t.symbol, "ts": ts_to_ms(t.ts)}
    if t.right is not None:
        d["expiry"] = t.key[0].isoformat()
        d["strike"] = t.strike
        d["right"] = t.right
    d["ltp"] = t.ltp
    for name in ("oi", "volume", "bid", "ask", "bid_qty", "ask_qty", "prev_close", "prev_oi", "iv"):
        v = getattr(t, name)
        # Non-finite optional values mean "unknown"; on the wire unknown is absent.
        if v is not None and _isfinite(v):
            d[name] = v
    greeks = {g: v for g in GREEKS if (v := getattr(t, g)) is not None and _isfinite(v)}
    if greeks:
        d["greeks"] = greeks
    return d


def _encode_instrument(info: InstrumentInfo) -> dict[str, Any]:
    d: dict[str, Any] = {"type": "instrument", "symbol": info.symbol}
    if info.lot_size is not None:
        d["lot_size"] = info.lot_size
    if info.strike_step is not None:
        d["strike_step"] = info.strike_step
    if info.expiries:
        d["expiries"] = [e.isoformat() for e in info.expiries]
    return d


def _encode_status(status: MarketStatus) -> dict[str, Any]:
    return {"type": "status", "market": status.market, "ts": ts_to_ms(status.ts)}


_ENCODERS: dict[type, Callable[[Any], dict[str, Any]]] = {
    Tick: _encode_tick,
    InstrumentInfo: _encode_instrument,
    MarketStatus: _encode_status,
}


def encode_item(item: FeedItem) -> dict[str, Any]:
    """The protocol-v1 object for one feed item (`recv_ts` is local and is not sent)."""
    return _ENCODERS[type(item)](item)


# One reusable encoder: json.dumps with non-default separators builds a new encoder on every call.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode


def dumps(obj: Any) -> str:
    """Compact JSON, the one serialisation used on the wire and in recordings."""
    return _encode_json(obj)


def encode_frame(items: Iterable[FeedItem]) -> str:
    """One batch frame: a JSON array of protocol-v1 objects."""
    return dumps([encode_item(i) for i in items])


def encode_heartbeat(ts: float | None = None) -> str:
    """A heartbeat frame; `ts` is the sender's latest event time when it has one."""
    return dumps({"type": "heartbeat", "ts": ts_to_ms(ts)} if ts else {"type": "heartbeat"})


def subscribe_message(symbols: Iterable[str]) -> str:
    """The client's subscribe request."""
    return dumps({"op": "subscribe", "symbols": list(symbols)})
