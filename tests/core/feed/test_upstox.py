"""Upstox V3: protobuf frames decode field by field; the live adapter streams and follows ATM
(token rejection and reconnects, shared with Kite: test_broker_reconnect.py)."""

from __future__ import annotations

import json
import math
import random
import threading
from datetime import date

import pytest
import websocket

from core.config import FeedConfig
from core.domain import InstrumentInfo, MarketStatus, Tick
from core.feed.base import FeedStats
from core.feed.instruments import InstrumentMaster, load_upstox_instruments
from core.feed.proto import MarketDataFeedV3_pb2 as pb
from core.feed.upstox import UpstoxFeed, decode_upstox, subscribe_request
from tests.core.feed.broker_servers import (
    SESSION_TS,
    UPSTOX_FILE,
    RecordingSink,
    UpstoxServer,
    check_ticks,
    mutate_frame,
    session_clock,
    upstox_frame,
    upstox_greeks_feed,
    upstox_index_full_feed,
    upstox_ltpc,
    upstox_market_full_feed,
    upstox_market_info_frame,
)

MS = int(SESSION_TS * 1000)
RECV = SESSION_TS + 0.05
EXP = date(2026, 12, 1)


@pytest.fixture(scope="module")
def master() -> InstrumentMaster:
    return load_upstox_instruments(UPSTOX_FILE)


@pytest.fixture(scope="module")
def ce(master):
    return master.find("NIFTY", EXP, 26000, "CE")


def decode(master, payload: bytes) -> tuple[list, FeedStats]:
    stats = FeedStats()
    return decode_upstox(payload, master, stats, RECV), stats


def test_index_ltpc(master):
    frame = upstox_frame(
        {"NSE_INDEX|Nifty 50": pb.Feed(ltpc=upstox_ltpc(26012.35, MS - 400, cp=25950.1))}, MS
    )
    (tick,), stats = decode(master, frame)
    assert tick == Tick("NIFTY", ts=SESSION_TS, ltp=26012.35, recv_ts=RECV, prev_close=25950.1)
    assert tick.is_underlying
    assert (stats.frames, stats.items, stats.last_event_ts) == (1, 1, SESSION_TS)


def test_index_full_feed(master):
    frame = upstox_frame(
        {"NSE_INDEX|Nifty Bank": upstox_index_full_feed(upstox_ltpc(59040.5, MS, cp=58990))}, MS
    )
    (tick,), _ = decode(master, frame)
    assert (tick.symbol, tick.ltp, tick.prev_close, tick.right) == ("BANKNIFTY", 59040.5, 58990.0, None)


def test_option_greeks_mode_every_field(master, ce):
    ltpc = upstox_ltpc(123.45, MS - 2000, cp=110.0, ltq=65)
    feed = upstox_greeks_feed(
        ltpc,
        (650, 123.4),
        (1300, 123.6),
        vtt=456_000,
        oi=1_234_500.0,
        iv=0.1253,
        greeks=(0.52, 0.00041, -14.2, 12.9),
    )
    (tick,), stats = decode(master, upstox_frame({ce.key: feed}, MS))
    assert tick == Tick(
        "NIFTY",
        ts=SESSION_TS,
        ltp=123.45,
        recv_ts=RECV,
        expiry=EXP,
        strike=26000.0,
        right="CE",
        oi=1_234_500.0,
        volume=456_000.0,
        bid=123.4,
        ask=123.6,
        bid_qty=650.0,
        ask_qty=1300.0,
        prev_close=110.0,
        iv=0.1253,
        delta=0.52,
        gamma=0.00041,
        theta=-14.2,
        vega=12.9,
    )
    assert stats.rejected == {}


def test_full_mode_best_level_is_the_quote(master, ce):
    levels = [(650, 123.4, 1300, 123.6), (1950, 123.35, 2600, 123.65), (3250, 123.3, 3900, 123.7)]
    feed = upstox_market_full_feed(
        upstox_ltpc(123.5, MS, cp=110.0), levels, 987_000, 2_000_000.0, 0.131, (0.5, 0.0004, -12.0, 13.0)
    )
    (tick,), _ = decode(master, upstox_frame({ce.key: feed}, MS))
    assert (tick.bid, tick.ask, tick.bid_qty, tick.ask_qty) == (123.4, 123.6, 650.0, 1300.0)
    assert (tick.volume, tick.oi, tick.iv, tick.delta, tick.vega) == (
        987_000.0,
        2_000_000.0,
        0.131,
        0.5,
        13.0,
    )


def test_ltpc_only_option_has_no_book_or_greeks(master, ce):
    (tick,), _ = decode(master, upstox_frame({ce.key: pb.Feed(ltpc=upstox_ltpc(80.0, MS, cp=75.0))}, MS))
    assert (tick.ltp, tick.prev_close, tick.right, tick.strike) == (80.0, 75.0, "CE", 26000.0)
    assert tick.bid is tick.oi is tick.iv is tick.delta is tick.volume is None


def test_empty_side_of_the_book_is_none(master, ce):
    feed = upstox_greeks_feed(upstox_ltpc(0.05, MS), (0, 0.0), (5200, 0.1), vtt=0, oi=0.0, iv=0.0)
    (tick,), _ = decode(master, upstox_frame({ce.key: feed}, MS))
    assert (tick.bid, tick.bid_qty, tick.ask, tick.ask_qty) == (None, None, 0.1, 5200.0)
    assert tick.iv is None and tick.oi == 0.0 and tick.volume == 0.0


def test_iv_in_percent_is_normalised_to_decimal(master, ce):
    feed = upstox_greeks_feed(upstox_ltpc(100.0, MS), (650, 99.9), (650, 100.1), vtt=1, oi=1.0, iv=14.25)
    (tick,), _ = decode(master, upstox_frame({ce.key: feed}, MS))
    assert tick.iv == pytest.approx(0.1425)


def test_event_time_falls_back_to_last_trade_time(master, ce):
    (tick,), _ = decode(master, upstox_frame({ce.key: pb.Feed(ltpc=upstox_ltpc(80.0, MS - 1500))}, 0))
    assert tick.ts == SESSION_TS - 1.5


def test_multi_key_frame_yields_one_tick_per_known_key(master, ce):
    pe = master.find("NIFTY", EXP, 26000, "PE")
    feeds = {
        "NSE_INDEX|Nifty 50": pb.Feed(ltpc=upstox_ltpc(26000.0, MS)),
        ce.key: pb.Feed(ltpc=upstox_ltpc(120.0, MS)),
        pe.key: pb.Feed(ltpc=upstox_ltpc(115.0, MS)),
        "NSE_FO|999999": pb.Feed(ltpc=upstox_ltpc(1.0, MS)),  # not in our master
    }
    items, stats = decode(master, upstox_frame(feeds, MS, kind=pb.initial_feed))
    assert sorted((t.right or "", t.ltp) for t in items) == [("", 26000.0), ("CE", 120.0), ("PE", 115.0)]
    assert (stats.items, stats.ignored) == (3, 1)


@pytest.mark.parametrize(
    ("status", "market"),
    [
        (pb.PRE_OPEN_START, "PREOPEN"),
        (pb.PRE_OPEN_END, "PREOPEN"),
        (pb.NORMAL_OPEN, "OPEN"),
        (pb.NORMAL_CLOSE, "CLOSED"),
        (pb.CLOSING_START, "CLOSED"),
        (pb.CLOSING_END, "CLOSED"),
    ],
)
def test_market_info_segment_status(master, status, market):
    frame = upstox_market_info_frame({"NSE_EQ": pb.NORMAL_OPEN, "NSE_FO": status}, MS)
    assert decode(master, frame)[0] == [MarketStatus(market, SESSION_TS)]


def test_market_info_without_our_segment_is_ignored(master):
    items, stats = decode(master, upstox_market_info_frame({"MCX_FO": pb.NORMAL_OPEN}, MS))
    assert items == [] and stats.ignored == 1


@pytest.mark.parametrize(
    ("feed", "reason"),
    [
        (pb.Feed(ltpc=upstox_ltpc(math.nan, MS)), "bad_price"),
        (pb.Feed(ltpc=upstox_ltpc(-1.0, MS)), "bad_price"),
        (
            upstox_greeks_feed(upstox_ltpc(100.0, MS), (650, 101.0), (650, 100.0), 1, 1.0, 0.1),
            "crossed_quote",
        ),
        (upstox_greeks_feed(upstox_ltpc(100.0, MS), (650, 99.0), (650, 100.0), 1, -5.0, 0.1), "bad_oi"),
        (
            upstox_greeks_feed(upstox_ltpc(100.0, MS), (650, 99.0), (650, 100.0), -3, 5.0, 0.1),
            "negative_volume",
        ),
        (upstox_greeks_feed(upstox_ltpc(100.0, MS), (650, 99.0), (650, 100.0), 1, 5.0, math.inf), "bad_iv"),
        (pb.Feed(ltpc=upstox_ltpc(100.0, 0)), "missing_timestamp"),
    ],
)
def test_bad_legs_are_rejected_and_counted(master, ce, feed, reason):
    current = MS if reason != "missing_timestamp" else 0
    items, stats = decode(master, upstox_frame({ce.key: feed}, current))
    assert items == []
    assert stats.rejected == {reason: 1}
    assert stats.last_rejects[0][0] == reason


def test_frame_stamped_far_from_receive_time_is_rejected(master, ce):
    items, stats = decode(
        master, upstox_frame({ce.key: pb.Feed(ltpc=upstox_ltpc(1.0, 0))}, MS + 3 * 86_400_000)
    )
    assert items == [] and stats.rejected == {"implausible_timestamp": 1}


def test_malformed_protobuf_is_rejected(master):
    items, stats = decode(master, b"\x12\xff\xff\xff\xff\x0f garbage")
    assert items == [] and stats.rejected == {"bad_protobuf": 1} and stats.frames == 1


def test_empty_and_text_frames_are_ignored(master):
    stats = FeedStats()
    assert decode_upstox(b"", master, stats, RECV) == []
    assert decode_upstox("hello", master, stats, RECV) == []  # type: ignore[arg-type]
    assert (stats.frames, stats.ignored, dict(stats.rejected)) == (2, 2, {})


def test_subscribe_request_is_the_v3_json():
    req = json.loads(subscribe_request("sub", ["NSE_FO|1", "NSE_FO|2"], "option_greeks"))
    assert set(req) == {"guid", "method", "data"}
    assert req["method"] == "sub"
    assert req["data"] == {"mode": "option_greeks", "instrumentKeys": ["NSE_FO|1", "NSE_FO|2"]}
    assert json.loads(subscribe_request("unsub", ["NSE_FO|1"]))["data"] == {"instrumentKeys": ["NSE_FO|1"]}


def valid_frames(master: InstrumentMaster) -> list[bytes]:
    keys = [master.find("NIFTY", EXP, k, r).key for k in (25950, 26000, 26050) for r in ("CE", "PE")]
    greeks = {
        k: upstox_greeks_feed(
            upstox_ltpc(100.0 + i, MS, 95.0), (650, 99.5 + i), (650, 100.5 + i), 10 * i, 1e6, 0.14
        )
        for i, k in enumerate(keys)
    }
    full = {
        keys[0]: upstox_market_full_feed(
            upstox_ltpc(100.0, MS), [(650, 99.0, 650, 101.0)] * 5, 5, 1e6, 0.14, (0.5, 0.001, -10.0, 12.0)
        )
    }
    index = {"NSE_INDEX|Nifty 50": pb.Feed(ltpc=upstox_ltpc(26000.0, MS, 25900.0))}
    return [
        upstox_frame(greeks, MS),
        upstox_frame(full, MS),
        upstox_frame(index, MS),
        upstox_market_info_frame({"NSE_FO": pb.NORMAL_OPEN}, MS),
    ]


def test_fuzzed_frames_never_raise_and_are_all_counted(master):
    rng = random.Random(20261201)
    frames = valid_frames(master)
    stats = FeedStats()
    n = 100_000
    for _ in range(n):
        before = (stats.items, stats.ignored, sum(stats.rejected.values()))
        items = decode_upstox(mutate_frame(rng, rng.choice(frames)), master, stats, RECV)
        check_ticks(items, RECV)
        assert (stats.items, stats.ignored, sum(stats.rejected.values())) != before  # every frame accounted
    assert stats.frames == n
    assert stats.rejected["bad_protobuf"] > 1000
    assert stats.items > 1000  # plenty of mutants are still valid frames


def start(feed: UpstoxFeed) -> tuple[RecordingSink, threading.Event, threading.Thread]:
    sink, stop = RecordingSink(), threading.Event()
    thread = threading.Thread(target=feed.run, args=(sink, stop), name="upstox-feed", daemon=True)
    thread.start()
    return sink, stop, thread


def options(sink: RecordingSink) -> list[Tick]:
    return [t for t in sink.ticks() if not t.is_underlying]


def make_feed(server: UpstoxServer, master, token="good-token", **kw) -> UpstoxFeed:
    config = FeedConfig(kind="upstox", symbols=("NIFTY", "BANKNIFTY"), stale_after_s=5.0)
    return UpstoxFeed(
        config,
        token,
        master,
        authorize_url=server.authorize_url,
        clock=server.clock,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        **kw,
    )


def test_live_feed_streams_ticks_of_the_atm_window(master):
    with UpstoxServer(master, clock=session_clock()) as server:
        feed = make_feed(server, master)
        sink, stop, thread = start(feed)
        assert sink.wait_for(lambda s: len(options(s)) >= 500)
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    conn = server.connections[0]
    first, *rest = conn.requests
    assert first["method"] == "sub" and first["data"]["mode"] == "ltpc"
    assert sorted(first["data"]["instrumentKeys"]) == ["NSE_INDEX|Nifty 50", "NSE_INDEX|Nifty Bank"]
    subscribed = {k for r in rest for k in r["data"]["instrumentKeys"]}
    assert {r["data"]["mode"] for r in rest} == {"option_greeks"}
    assert subscribed == set(feed.window.keys())
    assert len(subscribed) == 31 * 2 * 2 + 21 * 2  # NIFTY 26000 +-15 x 2 expiries; BANKNIFTY: all 21 listed
    ticks = options(sink)
    assert {t.symbol for t in ticks} == {"NIFTY", "BANKNIFTY"}
    assert all(t.iv == 0.1425 and t.oi == 1_300_000.0 and t.bid < t.ask for t in ticks)
    assert isinstance(sink.items[0], MarketStatus) and sink.items[0].market == "OPEN"
    infos = {i.symbol: i for i in sink.items if isinstance(i, InstrumentInfo)}
    assert infos["NIFTY"] == InstrumentInfo("NIFTY", 65, 50.0, (EXP, date(2026, 12, 8)))
    assert infos["BANKNIFTY"] == InstrumentInfo("BANKNIFTY", 30, 100.0, (date(2026, 12, 29),))
    assert [s.state for s in sink.statuses][:2] == ["connecting", "connected"]
    assert sink.statuses[-1].state == "stopped"
    assert feed.stats.rejected == {}
    assert "good-token" not in feed.describe()


def test_window_follows_atm_with_unsub_and_sub(master):
    with UpstoxServer(master, clock=session_clock()) as server:
        feed = make_feed(server, master)
        sink, stop, thread = start(feed)
        assert sink.wait_for(lambda s: len(options(s)) >= 100)
        server.spot["NIFTY"] = 26110.0  # ATM 26000 -> 26100
        conn = server.connections[0]
        assert sink.wait_for(lambda s: any(t.strike == 26850.0 for t in options(s)))
        stop.set()
        thread.join(5)
    unsub = [r for r in conn.requests if r["method"] == "unsub"]
    assert len(unsub) == 1
    removed = {(master.get(k).expiry, master.get(k).strike) for k in unsub[0]["data"]["instrumentKeys"]}
    assert removed == {(e, k) for e in (EXP, date(2026, 12, 8)) for k in (25250.0, 25300.0)}
    assert not any(k in conn.modes for k in unsub[0]["data"]["instrumentKeys"])


def test_each_connection_authorizes_again_because_the_url_is_one_time(master):
    with UpstoxServer(master, clock=session_clock()) as server:
        url = make_feed(server, master).authorize()
        websocket.create_connection(url, timeout=5).close()
        with pytest.raises(websocket.WebSocketBadStatusException) as reused:
            websocket.create_connection(url, timeout=5)
        assert reused.value.status_code == 403


@pytest.mark.parametrize(("segment", "goes_stale"), [(pb.NORMAL_OPEN, True), (pb.NORMAL_CLOSE, False)])
def test_silence_is_stale_only_while_the_market_is_open(master, segment, goes_stale):
    with UpstoxServer(master, clock=session_clock(), period_s=60.0) as server:
        server.segment_status = {"NSE_FO": segment}
        config = FeedConfig(kind="upstox", symbols=("NIFTY",), stale_after_s=0.2)
        feed = UpstoxFeed(
            config, "good-token", master, authorize_url=server.authorize_url, clock=server.clock
        )
        sink, stop, thread = start(feed)
        assert sink.wait_for(lambda s: any(isinstance(i, MarketStatus) for i in s.items))
        # several stale periods of silence, bounded by the wait's timeout
        stale = sink.wait_for(lambda s: any(x.state == "stale" for x in s.statuses), timeout=1.5)
        stop.set()
        thread.join(5)
    assert stale is goes_stale
