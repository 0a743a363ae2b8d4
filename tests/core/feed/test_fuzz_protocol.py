"""Hostile input: 100 000 mutated frames and hypothesis-built structures never crash decode_frame,
and every object is accounted for (decoded, rejected by reason, ignored, or a heartbeat)."""

from __future__ import annotations

import json
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import InstrumentInfo, MarketStatus, Tick
from core.feed import protocol
from core.feed.base import FeedStats
from core.feed.protocol import MARKETS, decode_frame

TS_MS = 1_764_560_100_250

VALID = [
    {"type": "tick", "symbol": "NIFTY", "expiry": "2026-12-01", "strike": 25000, "right": "CE", "ts": TS_MS,
     "ltp": 123.4, "oi": 1234500, "volume": 456000, "bid": 123.3, "ask": 123.6, "bid_qty": 650,
     "ask_qty": 1300, "prev_close": 110.0, "prev_oi": 1200000, "iv": 0.125,
     "greeks": {"delta": 0.52, "gamma": 0.001, "theta": -12.0, "vega": 9.5}},
    {"type": "tick", "symbol": "BANKNIFTY", "ts": "2026-12-01T09:15:00.250+05:30", "ltp": 55012.5,
     "prev_close": 54950.0},
    {"type": "instrument", "symbol": "NIFTY", "lot_size": 65, "strike_step": 50,
     "expiries": ["2026-12-01", "2026-12-29"]},
    {"type": "status", "market": "OPEN", "ts": TS_MS},
    {"type": "heartbeat", "ts": TS_MS},
    {"type": "depth", "symbol": "NIFTY", "levels": [[1, 2]]},
]  # fmt: skip
KEYS = sorted({k for obj in VALID for k in obj} | {"greeks", "market"})
HOSTILE = [
    None, "", "x" * 5000, [], {}, -1, 0, -0.0, 1e308, math.nan, math.inf, -math.inf, 10**30, 10**400,
    True, False, "NaN", "2026-13-45", "2026-12-01T09:15:00", {"delta": "up"}, [[[[[]]]]], "\u0000",
    "\ud800", "CE ", "ce", 1_764_560_100, -TS_MS, "OPEN\n", [TS_MS], {"$ne": 1}, 3.5e-324,
]  # fmt: skip
NOISE = ["{", "}", "[", "]", ",", ":", '"', "\\", "NaN", "-", "1e999", "null", "\u2028", "\x00"]


def mutate_object(rng: random.Random, obj: dict):
    obj = json.loads(json.dumps(obj))  # a private deep copy
    for _ in range(rng.randint(0, 3)):
        roll = rng.random()
        if roll < 0.3 and obj:
            del obj[rng.choice(list(obj))]
        elif roll < 0.75:
            obj[rng.choice(KEYS)] = rng.choice(HOSTILE)
        elif roll < 0.85 and len(obj) > 1:
            a, b = rng.sample(list(obj), 2)
            obj[a], obj[b] = obj[b], obj[a]
        elif roll < 0.95:
            obj["type"] = rng.choice(["tick", "instrument", "status", "heartbeat", "TICK", "", "quote"])
        else:
            return rng.choice(HOSTILE)
    return obj


def mutate_text(rng: random.Random, text: str) -> str | bytes:
    roll = rng.random()
    pos = rng.randrange(len(text) + 1)
    if roll < 0.3:
        return text[:pos]
    if roll < 0.6:
        return text[:pos] + rng.choice(NOISE) + text[pos:]
    if roll < 0.75:
        return text[:pos] + text[pos // 2 :]
    if roll < 0.9:
        return rng.choice([b"\xff\xfe", b"\xc3\x28", b"\x1f\x8b\x08"]) + text.encode()
    return text.replace(str(rng.randint(0, 9)), rng.choice(["-", "NaN", "Infinity", "e", ""]))


def make_frame(rng: random.Random) -> str | bytes:
    objs = [mutate_object(rng, rng.choice(VALID)) for _ in range(rng.randint(1, 4))]
    doc = objs[0] if len(objs) == 1 and rng.random() < 0.3 else objs
    text = json.dumps(doc)
    return mutate_text(rng, text) if rng.random() < 0.25 else text


def expected_objects(frame: str | bytes) -> tuple[int, int] | None:
    """(objects, heartbeats) in a frame per an independent parse, or None for invalid JSON."""
    try:
        doc = json.loads(frame)
    except (ValueError, RecursionError):
        return None
    objs = doc if isinstance(doc, list) else [doc]
    beats = sum(1 for o in objs if isinstance(o, dict) and o.get("type") == "heartbeat")
    return len(objs), beats


def assert_sane(item) -> None:
    """What downstream code may rely on for every decoded item."""
    if isinstance(item, Tick):
        for name in (
            "ltp",
            "bid",
            "ask",
            "oi",
            "volume",
            "bid_qty",
            "ask_qty",
            "prev_close",
            "prev_oi",
            "iv",
        ):
            v = getattr(item, name)
            assert v is None or (isinstance(v, float) and math.isfinite(v) and v >= 0), name
        assert not (item.bid and item.ask and item.bid > item.ask)
        assert (item.expiry is None) == (item.strike is None) == (item.right is None)
        assert item.right in (None, "CE", "PE") and (item.strike is None or item.strike > 0)
        assert 946_684_800 <= item.ts <= 4_102_444_800 and isinstance(item.symbol, str) and item.symbol
    elif isinstance(item, InstrumentInfo):
        assert item.lot_size is None or (type(item.lot_size) is int and item.lot_size > 0)
        assert item.strike_step is None or item.strike_step > 0
    else:
        assert isinstance(item, MarketStatus) and item.market in MARKETS


def check_accounting(frame: str | bytes) -> FeedStats:
    stats = FeedStats()
    items = decode_frame(frame, stats, 0.0)
    rejected = sum(stats.rejected.values())
    expected = expected_objects(frame)
    if expected is None:
        assert items == [] and dict(stats.rejected) == {"invalid_json": 1}
        return stats
    objects, beats = expected
    assert len(items) + rejected + stats.ignored + beats == objects, frame
    assert stats.items == len(items)
    for item in items:
        assert_sane(item)
    return stats


def test_100k_mutated_frames_never_raise_and_every_object_is_counted():
    rng = random.Random(20261201)
    totals = FeedStats()
    for _ in range(100_000):
        stats = check_accounting(make_frame(rng))
        totals.items += stats.items
        totals.ignored += stats.ignored
        totals.rejected.update(stats.rejected)
    # The mutator must actually reach the decoder's paths, or this test proves little.
    assert totals.items > 50_000 and totals.ignored > 1_000
    assert set(totals.rejected) >= {
        "invalid_json", "not_object", "missing_field", "bad_symbol", "bad_ts", "bad_number",
        "non_finite", "negative_price", "negative_oi", "negative_quantity", "unknown_right",
        "bad_expiry", "bad_strike", "bad_iv", "bad_greeks", "bad_instrument", "unknown_market",
        "malformed",
    }  # fmt: skip


json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(HOSTILE)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
protocol_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["tick", "instrument", "status", "heartbeat", "other"]) | json_values},
    optional={
        key: json_values | st.sampled_from([v for o in VALID for v in o.values()])
        for key in KEYS
        if key != "type"
    },
)
frames = protocol_like | st.lists(protocol_like | json_values, max_size=6) | json_values


@settings(max_examples=400, deadline=None)
@given(frames)
def test_hypothesis_structures_are_decoded_or_counted(doc):
    check_accounting(json.dumps(doc))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_arbitrary_text_and_bytes_never_raise(frame):
    check_accounting(frame)


def _decoded(frame: str | bytes) -> tuple[list, dict]:
    stats = FeedStats()
    items = decode_frame(frame, stats, 0.0)
    return items, {**stats.as_dict(), "last_rejects": list(stats.last_rejects)}


def test_the_orjson_fast_path_decodes_and_counts_exactly_as_the_stdlib_path(monkeypatch):
    """decode_frame takes orjson's parse when every object is an accepted tick; the same frames
    through the stdlib path alone give the same items, counts and reject samples."""
    rng = random.Random(20261126)
    mutated = [make_frame(rng) for _ in range(20_000)]
    clean = [json.dumps([rng.choice(VALID[:2]) for _ in range(rng.randint(1, 5))]) for _ in range(2_000)]
    huge = [json.dumps({**VALID[0], "oi": 10**30}), json.dumps({**VALID[0], "ts": 10**400})]
    frames = mutated + clean + huge
    taken = []
    fast_ticks = protocol._fast_ticks
    monkeypatch.setattr(protocol, "_fast_ticks", lambda *a: taken.append(r := fast_ticks(*a)) or r)
    fast = [_decoded(f) for f in frames]
    monkeypatch.setattr(protocol, "_fast_ticks", lambda *a: None)
    assert fast == [_decoded(f) for f in frames]
    # Every clean frame took the fast path, and so did some of the mutated ones.
    assert all(r is not None for r in taken[len(mutated) : -len(huge)])
    assert sum(r is not None for r in taken[: len(mutated)]) > 200
    assert fast[-2][0][0].oi == 1e30  # an integer beyond 64 bits reads as float(int) either way
