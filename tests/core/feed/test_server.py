"""FeedServer: subscriptions, symbol filtering, late-joiner snapshots, any Feed as a source."""

from __future__ import annotations

import json
import threading
from datetime import date

import pytest
import websocket

from core.config import FeedConfig
from core.domain import InstrumentInfo, MarketStatus, Tick
from core.feed.encode import encode_item
from core.feed.server import FeedServer
from core.feed.websocket import WebSocketFeed
from tests.core.feed.test_websocket import FeedThread, RecordingSink

TS = 1_764_560_100.0
EXP = date(2026, 12, 1)


def leg(symbol: str, strike: float, right: str = "CE", ts: float = TS, ltp: float = 100.0) -> Tick:
    return Tick(
        symbol, ts, ltp, expiry=EXP, strike=strike, right=right, oi=65000.0, bid=ltp - 0.5, ask=ltp + 0.5
    )


def spot(symbol: str, ts: float = TS, ltp: float = 25000.0) -> Tick:
    return Tick(symbol, ts, ltp, prev_close=ltp - 50)


class Client:
    """A bare protocol client (websocket-client), to see frames exactly as sent."""

    def __init__(self, server: FeedServer, symbols: list[str], wait_subscribed: int = 0) -> None:
        self.ws = websocket.create_connection(server.url, timeout=5)
        self.ws.send(json.dumps({"op": "subscribe", "symbols": symbols}))
        if wait_subscribed:
            assert server.wait_for_subscribers(wait_subscribed, 5)

    def frame(self) -> list[dict]:
        while True:
            objs = json.loads(self.ws.recv())
            if not (isinstance(objs, dict) and objs.get("type") == "heartbeat"):
                return objs

    def close(self) -> None:
        self.ws.close()


class ManualFeed:
    """A tiny Feed: delivers the batches it is handed, then finishes when told to."""

    mode = "SIMULATED"

    def __init__(self) -> None:
        self.batches: list[list] = []
        self.ready = threading.Semaphore(0)
        self.stats = None

    def push(self, batch: list) -> None:
        self.batches.append(batch)
        self.ready.release()

    def run(self, sink, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.ready.acquire(timeout=0.05):
                batch = self.batches.pop(0)
                if batch is None:
                    return
                sink.on_items(batch)

    def describe(self) -> str:
        return "manual"


@pytest.fixture
def server():
    srv = FeedServer("127.0.0.1", 0, heartbeat_s=30.0).start()
    yield srv
    srv.stop()


def test_binds_an_ephemeral_port_and_refuses_a_taken_one(server):
    assert server.port > 0 and server.url == f"ws://127.0.0.1:{server.port}"
    with pytest.raises(OSError):
        FeedServer("127.0.0.1", server.port).start()


def test_batches_are_filtered_to_the_client_symbols(server):
    nifty = Client(server, ["NIFTY"], wait_subscribed=1)
    both = Client(server, ["NIFTY", "BANKNIFTY"], wait_subscribed=2)
    batch = [spot("NIFTY"), spot("BANKNIFTY", ltp=55000.0), MarketStatus("OPEN", TS), leg("NIFTY", 25000.0)]
    assert server.publish(batch)
    assert nifty.frame() == [encode_item(batch[i]) for i in (0, 2, 3)]
    assert both.frame() == [encode_item(i) for i in batch]
    server.publish([spot("BANKNIFTY", ts=TS + 1)])
    server.publish([spot("NIFTY", ts=TS + 2)])
    assert nifty.frame() == [encode_item(spot("NIFTY", ts=TS + 2))], "BANKNIFTY-only batch leaked"
    nifty.close()
    both.close()


def test_late_joiner_first_gets_the_full_latest_state(server):
    info = InstrumentInfo("NIFTY", 65, 50.0, (EXP,))
    server.publish([info, spot("NIFTY"), leg("NIFTY", 25000.0), leg("NIFTY", 25000.0, "PE")])
    server.publish([leg("NIFTY", 25050.0), spot("BANKNIFTY")])
    newest = leg("NIFTY", 25000.0, ts=TS + 5, ltp=101.0)
    server.publish([newest, spot("NIFTY", ts=TS + 5, ltp=25010.0)])
    client = Client(server, ["NIFTY"])
    snapshot = client.frame()
    assert snapshot[0] == encode_item(info)
    assert snapshot[1] == encode_item(spot("NIFTY", ts=TS + 5, ltp=25010.0))
    legs = {(o["strike"], o["right"]): o for o in snapshot[2:]}
    assert len(legs) == 3 and legs[(25000.0, "CE")] == encode_item(newest)
    client.close()


def test_expiries_dropped_by_instrument_info_leave_the_snapshot(server):
    later = date(2026, 12, 29)
    server.publish(
        [leg("NIFTY", 25000.0), Tick("NIFTY", TS, 150.0, expiry=later, strike=25000.0, right="CE")]
    )
    server.publish([InstrumentInfo("NIFTY", 65, 50.0, (later,))])
    client = Client(server, ["NIFTY"])
    snapshot = client.frame()
    client.close()
    assert [o.get("expiry") for o in snapshot if o["type"] == "tick"] == ["2026-12-29"]


def test_empty_symbol_list_subscribes_to_everything(server):
    client = Client(server, [], wait_subscribed=1)
    server.publish([spot("FINNIFTY"), spot("MIDCPNIFTY")])
    assert [o["symbol"] for o in client.frame()] == ["FINNIFTY", "MIDCPNIFTY"]
    client.close()


def test_garbage_from_a_client_is_ignored(server):
    client = Client(server, ["NIFTY"], wait_subscribed=1)
    client.ws.send("not json")
    client.ws.send(json.dumps({"op": "subscribe", "symbols": "NIFTY"}))
    server.publish([spot("NIFTY")])
    assert client.frame() == [encode_item(spot("NIFTY"))]
    client.close()


def test_idle_server_sends_heartbeats_with_the_latest_event_time():
    srv = FeedServer(heartbeat_s=0.05).start()
    try:
        srv.publish([spot("NIFTY")])
        client = Client(srv, ["NIFTY"])
        assert client.frame()[0]["symbol"] == "NIFTY"  # the snapshot
        assert json.loads(client.ws.recv()) == {"type": "heartbeat", "ts": int(TS * 1000)}
        client.close()
    finally:
        srv.stop()


def test_serves_any_feed_to_websocket_feed_clients_in_order():
    source = ManualFeed()
    srv = FeedServer(source=source, heartbeat_s=30.0).start()
    sinks = [RecordingSink(), RecordingSink()]
    config = FeedConfig(kind="ws", url=srv.url, symbols=("NIFTY",))
    try:
        with FeedThread(WebSocketFeed(config), sinks[0]), FeedThread(WebSocketFeed(config), sinks[1]):
            assert srv.wait_for_subscribers(2, 5)
            for i in range(200):
                source.push(
                    [
                        spot("NIFTY", ts=TS + i * 0.001),
                        leg("NIFTY", 25000.0 + 50 * (i % 5), ts=TS + i * 0.001),
                    ]
                )
            for sink in sinks:
                assert sink.wait_for(lambda s=sink: len(s.items) == 400)
        for sink in sinks:
            assert [len(b) for b in sink.batches] == [2] * 200
            assert [t.ts for t in sink.items[::2]] == [TS + i * 0.001 for i in range(200)]
    finally:
        source.push(None)
        srv.stop()
    assert srv.source_done.is_set()


def test_batch_iterator_source_and_snapshot_after_it_ends():
    batches = [[spot("NIFTY", ts=TS + i), leg("NIFTY", 25000.0 + 50 * i, ts=TS + i)] for i in range(10)]
    srv = FeedServer(source=iter(batches)).start()
    try:
        assert srv.source_done.wait(5)
        client = Client(srv, ["NIFTY"])
        snapshot = client.frame()
        client.close()
        assert snapshot[0] == encode_item(batches[-1][0])
        assert sorted(o["strike"] for o in snapshot[1:]) == [25000.0 + 50 * i for i in range(10)]
    finally:
        srv.stop()


def test_dropped_clients_reconnect_and_get_a_snapshot(server):
    sink = RecordingSink()
    config = FeedConfig(kind="ws", url=server.url, symbols=("NIFTY",))
    server.publish([spot("NIFTY"), leg("NIFTY", 25000.0)])
    feed = WebSocketFeed(config)
    with FeedThread(feed, sink):
        assert sink.wait_for(lambda: len(sink.items) == 2)
        assert server.drop_clients() == 1
        assert sink.wait_for(lambda: len(sink.items) == 4)
    assert sink.states().count("connected") == 2 and feed.stats.reconnects == 1
    assert [len(b) for b in sink.batches] == [2, 2]


def test_a_client_that_stops_reading_is_dropped_and_does_not_stall_others():
    srv = FeedServer(queue_frames=2, slow_client_timeout_s=0.3, heartbeat_s=30.0).start()
    try:
        stuck = Client(srv, ["NIFTY"], wait_subscribed=1)  # subscribes, then never reads
        reader = Client(srv, ["NIFTY"], wait_subscribed=2)
        big = [leg("NIFTY", 20000.0 + 50 * i) for i in range(300)]  # ~60 kB per frame
        for _ in range(200):
            assert srv.publish(big)
            assert len(reader.frame()) == 300
            if srv.stats["clients_dropped"]:
                break
        assert srv.stats["clients_dropped"] == 1 and srv.client_count == 1
        reader.close()
        stuck.ws.shutdown()
    finally:
        srv.stop()


def test_stop_ends_connected_clients_sessions():
    srv = FeedServer().start()
    sink = RecordingSink()
    feed = WebSocketFeed(FeedConfig(kind="ws", url=srv.url, symbols=("NIFTY",), reconnect=False))
    thread = threading.Thread(target=feed.run, args=(sink, threading.Event()), daemon=True)
    thread.start()
    assert srv.wait_for_subscribers(1, 5)
    srv.stop()
    thread.join(5)
    assert not thread.is_alive() and sink.states()[-2:] == ["disconnected", "stopped"]


def test_widening_a_subscription_sends_only_the_newly_added_state(server):
    server.publish([MarketStatus("OPEN", TS), spot("NIFTY"), spot("BANKNIFTY", ltp=55000.0)])
    client = Client(server, ["NIFTY"])
    assert [o.get("symbol") for o in client.frame()] == [None, "NIFTY"]  # status, then NIFTY
    client.ws.send(json.dumps({"op": "subscribe", "symbols": ["*"]}))
    assert client.frame() == [encode_item(spot("BANKNIFTY", ltp=55000.0))]
    client.ws.send(json.dumps({"op": "unsubscribe", "symbols": []}))
    client.ws.send(json.dumps({"op": "subscribe", "symbols": ["NIFTY"]}))
    # After unsubscribing from everything the client holds nothing, so the snapshot is whole again.
    assert [o.get("symbol") for o in client.frame()] == [None, "NIFTY"]
    client.close()
