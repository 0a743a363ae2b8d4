"""Kite ticker: binary packets decode field by field; the live adapter streams and masks secrets
(token rejection and reconnects, shared with Upstox: test_broker_reconnect.py)."""

from __future__ import annotations

import json
import random
import struct
import threading
from datetime import date

import pytest

from core.config import FeedConfig
from core.domain import Tick
from core.feed.base import FeedStats
from core.feed.instruments import InstrumentMaster, load_kite_instruments
from core.feed.kite import KiteFeed, decode_kite, decode_kite_text
from tests.core.feed.broker_servers import (
    KITE_FILE,
    SESSION_TS,
    KiteFull,
    KiteServer,
    RecordingSink,
    check_ticks,
    kite_frame,
    kite_index_packet,
    kite_ltp_packet,
    kite_quote_packet,
    mutate_frame,
    session_clock,
)

TS = int(SESSION_TS)
RECV = SESSION_TS + 0.05
EXP = date(2026, 12, 1)
NIFTY_TOKEN, BANK_TOKEN = 256265, 260105


@pytest.fixture(scope="module")
def master() -> InstrumentMaster:
    return load_kite_instruments(KITE_FILE)


@pytest.fixture(scope="module")
def ce(master) -> int:
    return int(master.find("NIFTY", EXP, 26000, "CE").key)


def decode(master, frame: bytes) -> tuple[list, FeedStats]:
    stats = FeedStats()
    return decode_kite(frame, master, stats, RECV), stats


def full_packet(token: int, **overrides) -> KiteFull:
    fields = dict(
        token=token,
        ltp=12_345,
        volume=456_000,
        close=11_000,
        oi=1_234_500,
        last_trade_time=TS - 2,
        exchange_ts=TS,
        bids=[(650, 12_340, 3), (1300, 12_335, 5)] + [(0, 0, 0)] * 3,
        asks=[(1300, 12_360, 4), (1950, 12_365, 6)] + [(0, 0, 0)] * 3,
        oi_high=1_300_000,
        oi_low=1_200_000,
    )
    fields.update(overrides)
    return KiteFull(**fields)


def test_packet_sizes_are_the_documented_ones(ce):
    assert len(kite_ltp_packet(ce, 1)) == 8
    assert len(kite_index_packet(NIFTY_TOKEN, 1, 1, 1, 1, 1)) == 28
    assert len(kite_index_packet(NIFTY_TOKEN, 1, 1, 1, 1, 1, exch_ts=TS)) == 32
    assert len(kite_quote_packet(ce, 1, 1, 1)) == 44
    assert len(full_packet(ce).pack()) == 184


def test_full_option_packet_every_field(master, ce):
    (tick,), stats = decode(master, kite_frame([full_packet(ce).pack()]))
    assert tick == Tick(
        "NIFTY",
        ts=float(TS),
        ltp=123.45,
        recv_ts=RECV,
        expiry=EXP,
        strike=26000.0,
        right="CE",
        oi=1_234_500.0,
        volume=456_000.0,
        bid=123.40,
        ask=123.60,
        bid_qty=650.0,
        ask_qty=1300.0,
        prev_close=110.0,
    )
    assert (stats.frames, stats.items, stats.rejected, stats.last_event_ts) == (1, 1, {}, float(TS))


def test_full_packet_byte_layout_is_big_endian_at_documented_offsets(master, ce):
    raw = full_packet(ce).pack()
    assert struct.unpack_from(">I", raw, 0)[0] == ce
    assert struct.unpack_from(">I", raw, 4)[0] == 12_345  # ltp, paise
    assert struct.unpack_from(">I", raw, 48)[0] == 1_234_500  # OI
    assert struct.unpack_from(">I", raw, 60)[0] == TS  # exchange timestamp
    assert struct.unpack_from(">IIH", raw, 64) == (650, 12_340, 3)  # best bid
    assert struct.unpack_from(">IIH", raw, 64 + 5 * 12) == (1300, 12_360, 4)  # best ask


def test_exchange_time_falls_back_to_last_trade_time(master, ce):
    (tick,), _ = decode(master, kite_frame([full_packet(ce, exchange_ts=0).pack()]))
    assert tick.ts == TS - 2


def test_empty_depth_side_is_none(master, ce):
    packet = full_packet(ce, bids=[(0, 0, 0)] * 5).pack()
    (tick,), _ = decode(master, kite_frame([packet]))
    assert (tick.bid, tick.bid_qty, tick.ask, tick.ask_qty) == (None, None, 123.6, 1300.0)


def test_quote_and_ltp_packets(master, ce):
    (quote,), _ = decode(master, kite_frame([kite_quote_packet(ce, 9_905, 77_000, 9_000)]))
    assert (quote.ltp, quote.volume, quote.prev_close, quote.ts) == (99.05, 77_000.0, 90.0, RECV)
    assert quote.oi is None and quote.bid is None
    (ltp,), _ = decode(master, kite_frame([kite_ltp_packet(ce, 5)]))
    assert (ltp.ltp, ltp.right, ltp.strike, ltp.ts) == (0.05, "CE", 26000.0, RECV)


def test_index_packets(master):
    full = kite_index_packet(NIFTY_TOKEN, 2_601_235, 2_610_000, 2_590_000, 2_600_000, 2_595_010, exch_ts=TS)
    quote = kite_index_packet(BANK_TOKEN, 5_904_050, 5_910_000, 5_890_000, 5_900_000, 5_899_000)
    (nifty, bank), stats = decode(master, kite_frame([full, quote]))
    assert nifty == Tick("NIFTY", ts=float(TS), ltp=26012.35, recv_ts=RECV, prev_close=25950.10)
    assert (bank.symbol, bank.ltp, bank.prev_close, bank.ts, bank.right) == (
        "BANKNIFTY",
        59040.5,
        58990.0,
        RECV,
        None,
    )
    assert stats.items == 2


def test_multi_packet_frame_mixed_kinds_and_unknown_token(master, ce):
    pe = int(master.find("NIFTY", EXP, 26000, "PE").key)
    frame = kite_frame(
        [
            kite_index_packet(NIFTY_TOKEN, 2_600_000, 1, 1, 1, 2_590_000, exch_ts=TS),
            full_packet(ce).pack(),
            full_packet(pe, ltp=11_000, bids=[(65, 10_990, 1)] * 5, asks=[(65, 11_010, 1)] * 5).pack(),
            kite_ltp_packet(738561, 150_000),  # RELIANCE: not in our master
            kite_quote_packet(ce, 12_350, 456_065, 11_000),
        ]
    )
    items, stats = decode(master, frame)
    assert [(t.right, t.ltp) for t in items] == [
        (None, 26000.0),
        ("CE", 123.45),
        ("PE", 110.0),
        ("CE", 123.5),
    ]
    assert (stats.items, stats.ignored, stats.rejected) == (4, 1, {})


def test_heartbeat_is_silent(master):
    items, stats = decode(master, b"\x00")
    assert items == [] and stats.frames == 1 and stats.rejected == {} and stats.ignored == 0


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", "short_frame"),
        (kite_frame([kite_ltp_packet(256265, 1)])[:-3], "truncated_frame"),
        (struct.pack(">HH", 2, 8) + kite_ltp_packet(256265, 1), "truncated_frame"),
        (kite_frame([kite_ltp_packet(256265, 1)]) + b"\x01\x02", "trailing_bytes"),
        (kite_frame([b"\x00\x03\xe9\x09" + bytes(8)]), "unknown_packet_length"),
        (kite_frame([kite_quote_packet(256265, 1, 1, 1)]), "packet_kind_mismatch"),
    ],
)
def test_malformed_frames_are_rejected_and_counted(master, frame, reason):
    items, stats = decode(master, frame)
    assert stats.rejected[reason] == 1
    assert stats.last_rejects[-1][0] == reason


def test_crossed_book_and_absurd_timestamp_are_rejected(master, ce):
    crossed = full_packet(ce, bids=[(650, 12_400, 1)] * 5, asks=[(650, 12_300, 1)] * 5).pack()
    future = full_packet(ce, exchange_ts=TS + 10 * 86_400).pack()
    items, stats = decode(master, kite_frame([crossed, future, full_packet(ce).pack()]))
    assert len(items) == 1
    assert stats.rejected == {"crossed_quote": 1, "implausible_timestamp": 1}


def test_index_packet_for_an_option_token_is_rejected(master, ce):
    items, stats = decode(master, kite_frame([kite_index_packet(ce, 1, 1, 1, 1, 1, exch_ts=TS)]))
    assert items == [] and stats.rejected == {"packet_kind_mismatch": 1}


def test_text_messages(master):
    stats = FeedStats()
    decode_kite_text(json.dumps({"type": "error", "data": "Invalid mode"}), stats)
    decode_kite_text(json.dumps({"type": "order", "data": {"order_id": "1"}}), stats)
    decode_kite_text("{oops", stats)
    assert stats.last_error == "kite: Invalid mode"
    assert (stats.frames, stats.ignored, dict(stats.rejected)) == (3, 2, {"bad_json": 1})


def valid_frames(master, ce) -> list[bytes]:
    pe = int(master.find("NIFTY", EXP, 26050, "PE").key)
    return [
        kite_frame(
            [
                kite_index_packet(NIFTY_TOKEN, 2_600_000, 1, 1, 1, 2_590_000, exch_ts=TS),
                full_packet(ce).pack(),
                full_packet(pe).pack(),
            ]
        ),
        kite_frame([kite_quote_packet(ce, 1_000, 5, 900), kite_ltp_packet(pe, 55)]),
        kite_frame([kite_index_packet(BANK_TOKEN, 5_900_000, 1, 1, 1, 5_800_000)]),
        b"\x00",
    ]


def test_fuzzed_frames_never_raise_and_are_all_counted(master, ce):
    rng = random.Random(184)
    frames = valid_frames(master, ce)
    stats = FeedStats()
    n = 100_000
    heartbeats = 0
    for _ in range(n):
        frame = mutate_frame(rng, rng.choice(frames))
        before = (stats.items, stats.ignored, sum(stats.rejected.values()))
        check_ticks(decode_kite(frame, master, stats, RECV), RECV)
        if len(frame) == 1:
            heartbeats += 1
        else:
            assert (stats.items, stats.ignored, sum(stats.rejected.values())) != before
    assert stats.frames == n
    assert stats.rejected["truncated_frame"] > 1000 and stats.items > 1000
    assert heartbeats > 0


def make_feed(server: KiteServer, master, token="kite-token", **kw) -> KiteFeed:
    config = FeedConfig(kind="kite", symbols=("NIFTY", "BANKNIFTY"))
    return KiteFeed(
        config,
        server.api_key,
        token,
        master,
        url=server.url,
        clock=server.clock,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        **kw,
    )


def start(feed: KiteFeed) -> tuple[RecordingSink, threading.Event, threading.Thread]:
    sink, stop = RecordingSink(), threading.Event()
    thread = threading.Thread(target=feed.run, args=(sink, stop), name="kite-feed", daemon=True)
    thread.start()
    return sink, stop, thread


def options(sink: RecordingSink) -> list[Tick]:
    return [t for t in sink.ticks() if not t.is_underlying]


def test_describe_masks_the_access_token(master):
    feed = KiteFeed(FeedConfig(kind="kite"), "abcdef123", "s3cret-access", master)
    text = feed.describe()
    assert "s3cret" not in text and "abcdef123" not in text
    assert text.startswith("Kite ticker wss://ws.kite.trade")
    assert feed.mode == "LIVE"


def test_live_feed_subscribes_full_mode_and_streams(master):
    with KiteServer(master, clock=session_clock()) as server:
        feed = make_feed(server, master)
        sink, stop, thread = start(feed)
        assert sink.wait_for(lambda s: len(options(s)) >= 500)
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    conn = server.connections[0]
    assert conn.requests[0] == {"a": "subscribe", "v": [NIFTY_TOKEN, BANK_TOKEN]}
    assert conn.requests[1] == {"a": "mode", "v": ["full", [NIFTY_TOKEN, BANK_TOKEN]]}
    tokens = {str(t) for r in conn.requests[2:] if r["a"] == "subscribe" for t in r["v"]}
    assert tokens == set(feed.window.keys())
    assert set(conn.modes.values()) == {"full"}
    ticks = options(sink)
    assert all(
        t.oi == 1_300_000.0 and t.bid_qty == 650.0 and t.ask - t.bid == pytest.approx(0.1) for t in ticks
    )
    assert feed.stats.rejected == {}
    assert feed.stats.frames > feed.stats.items / 200  # heartbeats counted as frames too


def test_silence_is_reported_stale(master):
    with KiteServer(master, clock=session_clock(), period_s=60.0) as server:
        feed = KiteFeed(
            FeedConfig(kind="kite", stale_after_s=0.3),
            server.api_key,
            "kite-token",
            master,
            url=server.url,
            clock=server.clock,
        )
        sink, stop, thread = start(feed)
        assert sink.wait_for(lambda s: any(x.state == "stale" for x in s.statuses))
        stop.set()
        thread.join(5)
    assert [s.state for s in sink.statuses][:3] == ["connecting", "connected", "stale"]
    assert feed.stats.reconnects == 0


class ExplodingSink(RecordingSink):
    def on_items(self, items) -> None:
        super().on_items(items)
        raise RuntimeError("downstream bug")


def test_a_failing_sink_does_not_kill_the_feed_thread(master):
    with KiteServer(master, clock=session_clock()) as server:
        feed = make_feed(server, master)
        sink, stop = ExplodingSink(), threading.Event()
        thread = threading.Thread(target=feed.run, args=(sink, stop), daemon=True)
        thread.start()
        assert sink.wait_for(lambda s: len(options(s)) >= 200)
        assert thread.is_alive()
        stop.set()
        thread.join(5)
    assert feed.stats.last_error == "sink.on_items failed: downstream bug"
    assert feed.stats.reconnects == 0
