"""StrikeIQ feed protocol v1 (SPEC §3.1): JSON text frames to feed items (core/feed/encode.py
turns feed items back into JSON).

Wire conventions: `ts` arrives as ISO 8601 with an offset or as integer epoch milliseconds and is
encoded as integer epoch milliseconds, so the protocol's time resolution is 1 ms (a ts decoded from
the wire survives encode -> decode unchanged). `expiry` is "YYYY-MM-DD". Unknown object fields are
ignored, which is how recordings carry their extra `frame` and `recv_ts` fields.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import orjson

from core.domain import FeedItem, InstrumentInfo, MarketStatus, Right, Tick
from core.errors import DataError
from core.feed.base import FeedStats

PROTOCOL_VERSION = 1
MARKETS = ("OPEN", "PREOPEN", "CLOSED")
GREEKS = ("delta", "gamma", "theta", "vega")

# Every reason decode_frame can count in FeedStats.rejected.
REJECT_REASONS = (
    "invalid_json",  # the frame is not JSON
    "not_object",  # a frame or batch element that is not a JSON object
    "missing_field",  # a required field is absent or null (type, symbol, ts, ltp, leg fields)
    "bad_symbol",  # symbol is not a non-empty string
    "bad_ts",  # ts is not ISO-with-offset or epoch ms, or lies outside 2000..2100
    "bad_number",  # a numeric field holds a string, bool, list...
    "non_finite",  # NaN or infinity in a numeric field
    "negative_price",  # ltp, bid, ask or prev_close below zero
    "negative_oi",  # oi or prev_oi below zero
    "negative_quantity",  # volume, bid_qty or ask_qty below zero
    "crossed_quote",  # bid > ask with both sides present
    "unknown_right",  # right is not CE or PE
    "bad_expiry",  # expiry is not YYYY-MM-DD
    "bad_strike",  # strike is not positive
    "bad_iv",  # iv below zero
    "bad_greeks",  # greeks is not an object of numbers
    "bad_instrument",  # lot_size / strike_step / expiries of an instrument object are invalid
    "unknown_market",  # status.market is not OPEN, PREOPEN or CLOSED
    "malformed",  # anything else that made an object undecodable
)

# A plausible event-time window: outside it a ts is a unit mistake (seconds sent as ms) or garbage.
_TS_MIN = 946_684_800.0  # 2000-01-01
_TS_MAX = 4_102_444_800.0  # 2100-01-01
_SAMPLE_CHARS = 200

_isfinite = math.isfinite
_loads = json.loads


def ts_to_ms(ts: float) -> int:
    """Epoch seconds to the wire's integer epoch milliseconds."""
    return round(ts * 1000.0)


def _number(obj: Mapping[str, Any], key: str, negative_reason: str | None) -> float | None:
    """An optional numeric field as float; None when absent or null."""
    v = obj.get(key)
    if v is None:
        return None
    t = type(v)
    if t is not float and t is not int:  # bool is excluded on purpose: true is not a price
        raise DataError("bad_number", key)
    if not _isfinite(v):
        raise DataError("non_finite", key)
    if negative_reason is not None and v < 0:
        raise DataError(negative_reason, key)
    return float(v)


def _symbol(obj: Mapping[str, Any]) -> str:
    symbol = obj.get("symbol")
    if symbol is None:
        raise DataError("missing_field", "symbol")
    if type(symbol) is not str or not symbol:
        raise DataError("bad_symbol", "symbol")
    return symbol


def _ts(obj: Mapping[str, Any]) -> float:
    v = obj.get("ts")
    if v is None:
        raise DataError("missing_field", "ts")
    t = type(v)
    if t is int or t is float:
        if not _isfinite(v):
            raise DataError("bad_ts", "non-finite")
        ts: float = v / 1000.0
    elif t is str:
        # Only ISO-sized text is cached, so hostile multi-kilobyte strings cannot fill the cache.
        ts = _iso_ts(v) if len(v) <= 40 else _iso_ts.__wrapped__(v)
    else:
        raise DataError("bad_ts", "not a string or number")
    if not _TS_MIN <= ts <= _TS_MAX:
        raise DataError("bad_ts", "outside 2000..2100 (seconds sent as ms?)")
    return ts


@lru_cache(maxsize=4096)
def _iso_ts(text: str) -> float:
    # Cached: every leg of a recorded snapshot carries the same ISO time (errors are not cached).
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise DataError("bad_ts", "not ISO 8601") from None
    if dt.tzinfo is None:
        raise DataError("bad_ts", "ISO ts without offset")
    return dt.timestamp()


@lru_cache(maxsize=1024)
def _parse_date(text: str) -> date:
    # Cached: a chain has a handful of expiries repeated on every leg tick.
    return date.fromisoformat(text)


def _expiry(v: Any) -> date:
    if type(v) is not str or len(v) != 10:
        raise DataError("bad_expiry", "expiry")
    try:
        return _parse_date(v)
    except ValueError:
        raise DataError("bad_expiry", "expiry") from None


def _greeks(obj: Mapping[str, Any]) -> tuple[float | None, ...]:
    g = obj.get("greeks")
    if g is None:
        return (None, None, None, None)
    if type(g) is not dict:
        raise DataError("bad_greeks", "greeks")
    try:
        return tuple(_number(g, name, None) for name in GREEKS)
    except DataError as exc:
        raise DataError("bad_greeks", exc.detail) from None


def _leg(obj: Mapping[str, Any]) -> tuple[date | None, float | None, Right | None]:
    """(expiry, strike, right) of an option leg, or three Nones for the underlying."""
    raw_expiry, raw_strike, right = obj.get("expiry"), obj.get("strike"), obj.get("right")
    if raw_expiry is None and raw_strike is None and right is None:
        return None, None, None
    if raw_expiry is None or raw_strike is None or right is None:
        raise DataError("missing_field", "a leg needs expiry, strike and right")
    if right != "CE" and right != "PE":
        raise DataError("unknown_right", "right")
    strike = _number(obj, "strike", "bad_strike")
    if not strike:
        raise DataError("bad_strike", "strike")
    return _expiry(raw_expiry), strike, right


def _decode_tick(obj: Mapping[str, Any], recv_ts: float) -> Tick:
    symbol = _symbol(obj)
    ts = _ts(obj)
    ltp = _number(obj, "ltp", "negative_price")
    if ltp is None:
        raise DataError("missing_field", "ltp")
    expiry, strike, right = _leg(obj)
    bid = _number(obj, "bid", "negative_price")
    ask = _number(obj, "ask", "negative_price")
    # A zero side means "no quote" on Indian feeds, so only two live sides can cross.
    if bid and ask and bid > ask:
        raise DataError("crossed_quote", f"bid {bid} > ask {ask}")
    iv = _number(obj, "iv", "bad_iv")
    delta, gamma, theta, vega = _greeks(obj)
    return Tick(
        symbol,
        ts,
        ltp,
        recv_ts,
        expiry,
        strike,
        right,
        _number(obj, "oi", "negative_oi"),
        _number(obj, "volume", "negative_quantity"),
        bid,
        ask,
        _number(obj, "bid_qty", "negative_quantity"),
        _number(obj, "ask_qty", "negative_quantity"),
        _number(obj, "prev_close", "negative_price"),
        _number(obj, "prev_oi", "negative_oi"),
        iv,
        delta,
        gamma,
        theta,
        vega,
    )


def _decode_instrument(obj: Mapping[str, Any], recv_ts: float) -> InstrumentInfo:
    symbol = _symbol(obj)
    lot_size = obj.get("lot_size")
    if lot_size is not None and (type(lot_size) is not int or lot_size <= 0):
        raise DataError("bad_instrument", "lot_size must be a positive integer")
    try:
        step = _number(obj, "strike_step", "bad_instrument")
    except DataError:
        raise DataError("bad_instrument", "strike_step must be a positive number") from None
    if step == 0:
        raise DataError("bad_instrument", "strike_step must be a positive number")
    raw = obj.get("expiries") or []
    if type(raw) is not list:
        raise DataError("bad_instrument", "expiries must be a list")
    try:
        expiries = tuple(sorted({_expiry(e) for e in raw}))
    except DataError:
        raise DataError("bad_instrument", "expiries must be YYYY-MM-DD strings") from None
    return InstrumentInfo(symbol, lot_size, step, expiries)


def _decode_status(obj: Mapping[str, Any], recv_ts: float) -> MarketStatus:
    market = obj.get("market")
    if market is None:
        raise DataError("missing_field", "market")
    if market not in MARKETS:  # MARKETS is a tuple, so an unhashable value cannot raise here
        raise DataError("unknown_market", "market")
    return MarketStatus(market, _ts(obj))


def _decode_heartbeat(obj: Mapping[str, Any], recv_ts: float) -> None:
    # A heartbeat carries no market data; receiving it is what keeps the feed from going stale.
    return None


# The decoder table: a new message type is one line here.
_DECODERS: dict[str, Callable[[Mapping[str, Any], float], FeedItem | None]] = {
    "tick": _decode_tick,
    "instrument": _decode_instrument,
    "status": _decode_status,
    "heartbeat": _decode_heartbeat,
}


def _sample(value: Any, detail: str = "") -> str:
    try:
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    if isinstance(text, bytes):
        text = text[:_SAMPLE_CHARS].decode("utf-8", "replace")
    text = text[:_SAMPLE_CHARS]
    return f"{detail}: {text}" if detail else text


def decode_object(obj: Any, stats: FeedStats, recv_ts: float) -> FeedItem | None:
    """One decoded protocol object, or None (heartbeat, ignored or rejected and counted)."""
    if type(obj) is not dict:
        stats.reject("not_object", _sample(obj))
        return None
    kind = obj.get("type")
    decoder = _DECODERS.get(kind) if type(kind) is str else None
    if decoder is None:
        if kind is None:
            stats.reject("missing_field", _sample(obj, "type"))
        else:
            stats.ignored += 1
        return None
    try:
        return decoder(obj, recv_ts)
    except DataError as exc:
        stats.reject(exc.reason, _sample(obj, exc.detail))
    except (TypeError, ValueError, OverflowError, AttributeError) as exc:
        stats.reject("malformed", _sample(obj, type(exc).__name__))
    return None


def decode_frame(text: str | bytes, stats: FeedStats, recv_ts: float) -> list[FeedItem]:
    """Decode one frame (an object or an array of objects). Never raises; bad objects are counted.

    Updates `stats.frames`, `items`, `last_recv_ts` and `last_event_ts` (for feed lag).
    """
    stats.frames += 1
    stats.last_recv_ts = recv_ts
    out = _fast_ticks(text, recv_ts)
    if out is None:
        try:
            doc = _loads(text)
        except (ValueError, TypeError, RecursionError):  # JSONDecodeError and bad UTF-8 are ValueErrors
            stats.reject("invalid_json", _sample(text))
            return []
        out = []
        for obj in doc if type(doc) is list else (doc,):
            item = decode_object(obj, stats, recv_ts)
            if item is not None:
                out.append(item)
    last_ts = 0.0
    for item in out:
        if type(item) is not InstrumentInfo and item.ts > last_ts:
            last_ts = item.ts
    stats.items += len(out)
    if last_ts > stats.last_event_ts:
        stats.last_event_ts = last_ts
    return out


def _fast_ticks(text: str | bytes, recv_ts: float) -> list[FeedItem] | None:
    """The frame's ticks when orjson parses it and every object in it is a tick the decoder accepts
    (almost every frame of a live chain), else None: the stdlib path decides and counts.

    orjson parses about twice as fast and gives the same objects, except that it refuses what the
    stdlib accepts (NaN, lone surrogates, non-UTF-8 bytes: None here) and reads an integer beyond
    64 bits as the float that `float(int)` gives, which is what `_number` makes of it anyway. A
    huge value the decoder would reject as an int is rejected as a float too (out-of-range ts,
    infinity), and a rejection sends the whole frame to the stdlib path, which counts it."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    out: list[FeedItem] = []
    for obj in doc if type(doc) is list else (doc,):
        tick = accepted_tick(obj, recv_ts)
        if tick is None:
            return None
        out.append(tick)
    return out


def accepted_tick(obj: Any, recv_ts: float) -> Tick | None:
    """The tick of a tick object the decoder accepts, else None, counting nothing: the fast paths
    (orjson's objects) hand anything else to the stdlib path, which decides and counts."""
    if type(obj) is not dict or obj.get("type") != "tick":
        return None
    try:
        return _decode_tick(obj, recv_ts)
    except (DataError, TypeError, ValueError, OverflowError, AttributeError):
        return None
