"""Decode one recorded protocol-v1 line quickly, with exactly the result of the stdlib path.

Replaying a recording is mostly parsing JSON lines, almost all of them ticks. orjson parses a line in
about half the time of the stdlib scanner and gives the same objects, with one difference: an
integer literal outside 64 bits becomes a float (the nearest one, as float(int) gives). For a tick,
that can only matter to a field the decoder would reject (an out-of-range ts, a huge number) or to
the `frame` number, so a tick is decoded from orjson's object only when the frame is an int and the
decoder accepts it. Every other line (instrument, status, heartbeat, anything rejected or refused by
orjson, such as NaN or a lone surrogate) is parsed again by the stdlib scanner and decoded by
decode_object, which counts it exactly as before. The parsed object itself is not handed out (an
accepted tick's may hold such a float): only the item and the frame number.
"""

from __future__ import annotations

import json
import json.scanner
from typing import Any

import orjson

from core.domain import FeedItem
from core.feed.base import FeedStats
from core.feed.protocol import accepted_tick, decode_object

# typeshed types the scanner's context argument as a scanner; the C scanner takes the decoder
_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
_loads = orjson.loads


def parse_exact(line: str) -> Any:
    """json.loads for one stripped line, minus its per-call overhead (the C scanner, called directly)."""
    obj, end = _scan(line, 0)
    if end != len(line):
        raise ValueError("extra data after the JSON value")
    return obj


def decode_line(line: str, stats: FeedStats, recv_ts: float) -> tuple[FeedItem | None, Any]:
    """(the feed item or None, the `frame` field or None) of one stripped line, as parse_exact and
    decode_object give them, rejects counted in `stats`. Raises ValueError, StopIteration or
    RecursionError when the line is not JSON (as parse_exact does)."""
    try:
        obj = _loads(line)
    except orjson.JSONDecodeError:
        pass  # the scanner decides, and may accept what orjson refuses (NaN, lone surrogates)
    else:
        frame = obj.get("frame") if type(obj) is dict else None
        if frame is None or type(frame) is int:
            tick = accepted_tick(obj, recv_ts)
            if tick is not None:
                return tick, frame
            # anything else (rejected included) is decided again below from the stdlib's parse
    obj = parse_exact(line)
    return decode_object(obj, stats, recv_ts), obj.get("frame") if type(obj) is dict else None
