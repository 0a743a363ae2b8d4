"""Protocol v1 decoding, rejection by reason, and encode -> decode round trips."""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import InstrumentInfo, MarketStatus, Tick
from core.feed.base import FeedStats
from core.feed.encode import encode_frame, encode_heartbeat, encode_item, subscribe_message
from core.feed.protocol import REJECT_REASONS, decode_frame, ts_to_ms

RECV = 1_800_000_000.0
TS_MS = 1_764_560_100_250  # 2025-12-01T03:35:00.250Z
TS = TS_MS / 1000.0


def leg_obj(**overrides) -> dict:
    obj = {
        "type": "tick",
        "symbol": "NIFTY",
        "expiry": "2026-12-01",
        "strike": 25000,
        "right": "CE",
        "ts": TS_MS,
        "ltp": 123.4,
        "oi": 1234500,
        "volume": 456000,
        "bid": 123.3,
        "ask": 123.6,
        "bid_qty": 650,
        "ask_qty": 1300,
        "prev_close": 110.0,
        "prev_oi": 1200000,
        "iv": 0.125,
    }
    obj.update(overrides)
    return {k: v for k, v in obj.items() if v is not _DROP}


_DROP = object()


def decode(obj, stats: FeedStats | None = None) -> list:
    return decode_frame(json.dumps(obj), stats if stats is not None else FeedStats(), RECV)


def test_leg_tick_decodes_every_field():
    obj = leg_obj(greeks={"delta": 0.52, "gamma": 0.0011, "theta": -12.5, "vega": 9.8})
    [tick] = decode(obj)
    assert tick == Tick(
        symbol="NIFTY",
        ts=TS,
        ltp=123.4,
        recv_ts=RECV,
        expiry=date(2026, 12, 1),
        strike=25000.0,
        right="CE",
        oi=1234500.0,
        volume=456000.0,
        bid=123.3,
        ask=123.6,
        bid_qty=650.0,
        ask_qty=1300.0,
        prev_close=110.0,
        prev_oi=1200000.0,
        iv=0.125,
        delta=0.52,
        gamma=0.0011,
        theta=-12.5,
        vega=9.8,
    )


def test_underlying_tick_with_iso_timestamp_and_offset():
    obj = {"type": "tick", "symbol": "NIFTY", "ts": "2026-12-01T09:15:00.250+05:30", "ltp": 25012.5}
    [tick] = decode({**obj, "prev_close": 24950.0})
    expected = datetime(2026, 12, 1, 3, 45, 0, 250000, tzinfo=UTC).timestamp()
    assert tick.ts == expected
    assert tick.is_underlying and tick.prev_close == 24950.0 and tick.oi is None


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (TS_MS, TS),
        ("2025-12-01T03:35:00.250Z", TS),
        ("2025-12-01T09:05:00.250+05:30", TS),
        (1_764_560_100_250.0, TS),
    ],
)
def test_timestamp_forms_agree(ts, expected):
    [tick] = decode(leg_obj(ts=ts))
    assert tick.ts == expected


def test_instrument_status_and_heartbeat():
    stats = FeedStats()
    frame = [
        {"type": "instrument", "symbol": "NIFTY", "lot_size": 65, "strike_step": 50,
         "expiries": ["2026-12-29", "2026-12-01"]},
        {"type": "status", "market": "OPEN", "ts": TS_MS},
        {"type": "heartbeat", "ts": TS_MS + 1000},
    ]  # fmt: skip
    items = decode(frame, stats)
    assert items == [
        InstrumentInfo("NIFTY", 65, 50.0, (date(2026, 12, 1), date(2026, 12, 29))),
        MarketStatus("OPEN", TS),
    ]
    assert stats.frames == 1 and stats.items == 2
    assert not stats.rejected and stats.ignored == 0
    assert stats.last_recv_ts == RECV and stats.last_event_ts == TS


def test_unknown_type_is_ignored_and_counted_not_rejected():
    stats = FeedStats()
    assert decode([{"type": "depth", "symbol": "NIFTY"}, leg_obj()], stats)[0].ltp == 123.4
    assert stats.ignored == 1 and not stats.rejected


def test_batch_keeps_good_objects_and_order_around_bad_ones():
    stats = FeedStats()
    frame = [leg_obj(strike=24900), leg_obj(ltp=-1), leg_obj(strike=25000), "junk", leg_obj(strike=25100)]
    items = decode(frame, stats)
    assert [t.strike for t in items] == [24900.0, 25000.0, 25100.0]
    assert stats.rejected == {"negative_price": 1, "not_object": 1}
    assert stats.items == 3


def test_zero_side_is_no_quote_not_a_crossed_quote():
    [tick] = decode(leg_obj(bid=0, ask=120.0))
    assert tick.bid == 0.0 and tick.ask == 120.0


REJECTS = [
    ("missing_field", leg_obj(type=_DROP)),
    ("missing_field", leg_obj(symbol=_DROP)),
    ("missing_field", leg_obj(ts=_DROP)),
    ("missing_field", leg_obj(ltp=_DROP)),
    ("missing_field", leg_obj(ltp=None)),
    ("missing_field", leg_obj(expiry=_DROP)),
    ("missing_field", leg_obj(right=_DROP)),
    ("missing_field", {"type": "status", "ts": TS_MS}),
    ("bad_symbol", leg_obj(symbol="")),
    ("bad_symbol", leg_obj(symbol=25)),
    ("bad_ts", leg_obj(ts="2026-12-01T09:15:00")),
    ("bad_ts", leg_obj(ts="yesterday")),
    ("bad_ts", leg_obj(ts=1_764_560_100)),
    ("bad_ts", leg_obj(ts=True)),
    ("bad_ts", leg_obj(ts=math.nan)),
    ("bad_ts", leg_obj(ts=[TS_MS])),
    ("bad_number", leg_obj(ltp="123.4")),
    ("bad_number", leg_obj(ltp=True)),
    ("bad_number", leg_obj(oi={"v": 1})),
    ("non_finite", leg_obj(ltp=math.inf)),
    ("non_finite", leg_obj(bid=math.nan)),
    ("non_finite", leg_obj(strike=-math.inf)),
    ("negative_price", leg_obj(ltp=-0.05)),
    ("negative_price", leg_obj(ask=-1)),
    ("negative_price", leg_obj(prev_close=-110)),
    ("negative_oi", leg_obj(oi=-1)),
    ("negative_oi", leg_obj(prev_oi=-5)),
    ("negative_quantity", leg_obj(volume=-1)),
    ("negative_quantity", leg_obj(bid_qty=-650)),
    ("crossed_quote", leg_obj(bid=124.0, ask=123.6)),
    ("unknown_right", leg_obj(right="CALL")),
    ("unknown_right", leg_obj(right=["CE"])),
    ("bad_expiry", leg_obj(expiry="01-12-2026")),
    ("bad_expiry", leg_obj(expiry="2026-13-01")),
    ("bad_expiry", leg_obj(expiry=20261201)),
    ("bad_strike", leg_obj(strike=0)),
    ("bad_strike", leg_obj(strike=-25000)),
    ("bad_iv", leg_obj(iv=-0.1)),
    ("bad_greeks", leg_obj(greeks=[0.5, 0.001])),
    ("bad_greeks", leg_obj(greeks={"delta": "0.5"})),
    ("bad_greeks", leg_obj(greeks={"gamma": math.nan})),
    ("bad_instrument", {"type": "instrument", "symbol": "NIFTY", "lot_size": 0}),
    ("bad_instrument", {"type": "instrument", "symbol": "NIFTY", "lot_size": 65.5}),
    ("bad_instrument", {"type": "instrument", "symbol": "NIFTY", "strike_step": -50}),
    ("bad_instrument", {"type": "instrument", "symbol": "NIFTY", "strike_step": 0}),
    ("bad_instrument", {"type": "instrument", "symbol": "NIFTY", "expiries": "2026-12-01"}),
    ("bad_instrument", {"type": "instrument", "symbol": "NIFTY", "expiries": ["soon"]}),
    ("unknown_market", {"type": "status", "market": "HALTED", "ts": TS_MS}),
    ("unknown_market", {"type": "status", "market": ["OPEN"], "ts": TS_MS}),
    ("malformed", leg_obj(ltp=10**400)),
    ("not_object", 42),
    ("not_object", [leg_obj(), None]),
]


@pytest.mark.parametrize(("reason", "obj"), REJECTS)
def test_each_bad_object_is_rejected_with_its_reason(reason, obj):
    stats = FeedStats()
    items = decode(obj, stats)
    assert reason in REJECT_REASONS
    assert stats.rejected == {reason: 1}
    assert stats.last_rejects[-1][0] == reason
    assert len(items) == (1 if isinstance(obj, list) else 0)


def test_every_documented_reason_is_exercised():
    exercised = {reason for reason, _ in REJECTS} | {"invalid_json"}
    assert exercised == set(REJECT_REASONS)


@pytest.mark.parametrize(
    "frame", ['{"type":"tick",', "", "NaN-ish", b"\xff\xfe\x00garbage", "[" * 100_000 + "]" * 100_000]
)
def test_invalid_json_frame_is_one_reject(frame):
    stats = FeedStats()
    assert decode_frame(frame, stats, RECV) == []
    assert stats.rejected == {"invalid_json": 1} and stats.frames == 1


def test_reject_sample_names_the_field_and_is_bounded():
    stats = FeedStats()
    decode(leg_obj(oi=-1, symbol="N" * 1000), stats)
    reason, sample = stats.last_rejects[-1]
    assert reason == "negative_oi" and sample.startswith("oi: ") and len(sample) <= 210


def test_bytes_frame_decodes_like_text():
    [tick] = decode_frame(json.dumps(leg_obj()).encode(), FeedStats(), RECV)
    assert tick.strike == 25000.0


def test_encode_item_shapes():
    tick = decode(leg_obj(greeks={"delta": 0.5}))[0]
    obj = encode_item(tick)
    assert obj["type"] == "tick" and obj["ts"] == TS_MS and obj["expiry"] == "2026-12-01"
    assert obj["greeks"] == {"delta": 0.5} and "recv_ts" not in obj and "gamma" not in obj
    assert encode_item(Tick("NIFTY", TS, 25000.0)) == {
        "type": "tick",
        "symbol": "NIFTY",
        "ts": TS_MS,
        "ltp": 25000.0,
    }
    assert encode_item(MarketStatus("CLOSED", TS)) == {"type": "status", "market": "CLOSED", "ts": TS_MS}
    assert json.loads(subscribe_message(["NIFTY"])) == {"op": "subscribe", "symbols": ["NIFTY"]}
    assert json.loads(encode_heartbeat(TS)) == {"type": "heartbeat", "ts": TS_MS}


def test_non_finite_optional_values_are_sent_as_absent():
    tick = Tick("NIFTY", TS, 100.0, expiry=date(2026, 12, 1), strike=25000.0, right="PE", iv=math.nan,
                delta=math.nan)  # fmt: skip
    obj = encode_item(tick)
    assert "iv" not in obj and "greeks" not in obj
    [back] = decode_frame(encode_frame([tick]), FeedStats(), 0.0)
    assert back.iv is None


def test_frame_round_trip_is_exact():
    stats = FeedStats()
    frame = [
        {
            "type": "instrument",
            "symbol": "NIFTY",
            "lot_size": 65,
            "strike_step": 50,
            "expiries": ["2026-12-01"],
        },
        {"type": "status", "market": "PREOPEN", "ts": TS_MS - 60_000},
        {"type": "tick", "symbol": "NIFTY", "ts": "2025-12-01T09:05:00.250+05:30", "ltp": 25012.5},
        leg_obj(greeks={"delta": 0.5, "gamma": 0.001, "theta": -10.0, "vega": 8.0}),
        leg_obj(right="PE", bid=_DROP, ask=_DROP, iv=_DROP),
    ]
    items = decode(frame, stats)
    again = decode_frame(encode_frame(items), FeedStats(), RECV)
    assert again == items and len(items) == 5


ms = st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000)
price = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)
opt_price = st.none() | price
greek = st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def ticks(draw) -> Tick:
    leg = draw(st.booleans())
    bid, ask = sorted([draw(price), draw(price)]) if draw(st.booleans()) else (None, None)
    return Tick(
        symbol=draw(st.sampled_from(["NIFTY", "BANKNIFTY", "FINNIFTY"])),
        ts=draw(ms) / 1000.0,
        ltp=draw(price),
        recv_ts=RECV,
        expiry=draw(st.dates(date(2020, 1, 1), date(2099, 12, 31))) if leg else None,
        strike=draw(st.floats(min_value=0.05, max_value=1e6)) if leg else None,
        right=draw(st.sampled_from(["CE", "PE"])) if leg else None,
        oi=draw(opt_price),
        volume=draw(opt_price),
        bid=bid,
        ask=ask,
        bid_qty=draw(opt_price),
        prev_close=draw(opt_price),
        iv=draw(opt_price),
        delta=draw(greek),
        theta=draw(greek),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(ticks(), min_size=1, max_size=8))
def test_any_valid_tick_round_trips_exactly(items):
    stats = FeedStats()
    assert decode_frame(encode_frame(items), stats, RECV) == items
    assert not stats.rejected


@given(ms)
def test_millisecond_timestamps_survive_encoding(value):
    assert ts_to_ms(value / 1000.0) == value


def test_gzip_bytes_are_not_json():
    stats = FeedStats()
    assert decode_frame(gzip.compress(b"[]"), stats, RECV) == []
    assert stats.rejected == {"invalid_json": 1}
