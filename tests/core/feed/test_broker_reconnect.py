"""Both broker adapters (Kite, Upstox) against their local fake servers: a rejected token is
reported and retried until it becomes valid, and a connection dropped every second is re-opened
and resubscribed without a tick delivered twice. One test per behaviour, parametrised by broker;
what differs between the brokers is in `BrokerCase`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from core.config import FeedConfig
from core.domain import Tick
from core.feed.instruments import InstrumentMaster, load_kite_instruments, load_upstox_instruments
from core.feed.kite import KiteFeed
from core.feed.subscription import TOKEN_INVALID
from core.feed.upstox import UpstoxFeed
from tests.core.feed.broker_servers import (
    KITE_FILE,
    UPSTOX_FILE,
    KiteServer,
    RecordingSink,
    UpstoxServer,
    session_clock,
)


def _kite_feed(server: KiteServer, master: InstrumentMaster, token: str, **kw: Any) -> KiteFeed:
    config = FeedConfig(kind="kite", symbols=("NIFTY", "BANKNIFTY"))
    return KiteFeed(config, server.api_key, token, master, url=server.url, clock=server.clock, **kw)


def _upstox_feed(server: UpstoxServer, master: InstrumentMaster, token: str, **kw: Any) -> UpstoxFeed:
    config = FeedConfig(kind="upstox", symbols=("NIFTY", "BANKNIFTY"), stale_after_s=5.0)
    return UpstoxFeed(config, token, master, authorize_url=server.authorize_url, clock=server.clock, **kw)


def _kite_subscribed(conn: Any) -> set[str]:
    assert set(conn.modes.values()) == {"full"}
    return {str(t) for r in conn.requests if r["a"] == "subscribe" for t in r["v"]}


def _upstox_subscribed(conn: Any) -> set[str]:
    return {k for r in conn.requests for k in r["data"]["instrumentKeys"]}


@dataclass(frozen=True)
class BrokerCase:
    name: str
    load_master: Callable[[], InstrumentMaster]
    server: Callable[..., Any]
    make_feed: Callable[..., Any]
    subscribed: Callable[[Any], set[str]]  # every key a connection subscribed (checks its mode)
    token: str
    rejected_status: str  # the HTTP status the broker answers a bad token with
    authorizes_per_connection: bool  # Upstox: a one-time URL per connection


CASES = {
    "kite": BrokerCase(
        "kite", lambda: load_kite_instruments(KITE_FILE), KiteServer, _kite_feed, _kite_subscribed,
        "kite-token", "403", False,
    ),
    "upstox": BrokerCase(
        "upstox", lambda: load_upstox_instruments(UPSTOX_FILE), UpstoxServer, _upstox_feed,
        _upstox_subscribed, "good-token", "401", True,
    ),
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(CASES))
def broker(request) -> tuple[BrokerCase, InstrumentMaster]:
    case = CASES[request.param]
    return case, case.load_master()


def start(feed: Any) -> tuple[RecordingSink, threading.Event, threading.Thread]:
    sink, stop = RecordingSink(), threading.Event()
    thread = threading.Thread(target=feed.run, args=(sink, stop), name="broker-feed", daemon=True)
    thread.start()
    return sink, stop, thread


def options(sink: RecordingSink) -> list[Tick]:
    return [t for t in sink.ticks() if not t.is_underlying]


def test_rejected_token_is_reported_and_retried_until_valid(broker):
    case, master = broker
    with case.server(master, tokens=(), clock=session_clock()) as server:
        feed = case.make_feed(server, master, "stale-token", auth_retry_s=0.05)
        sink, stop, thread = start(feed)
        assert sink.wait_for(lambda s: sum(x.reason == TOKEN_INVALID for x in s.statuses) >= 2)
        assert feed.stats.last_error.startswith(TOKEN_INVALID)
        assert case.rejected_status in feed.stats.last_error
        assert server.connections == []
        server.tokens.add("stale-token")  # the user pasted a fresh token into the same name
        assert sink.wait_for(lambda s: len(options(s)) > 0)
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def run_with_drops(case: BrokerCase, master: InstrumentMaster, drops: int, interval_s: float) -> None:
    with case.server(master, clock=session_clock()) as server:
        feed = case.make_feed(server, master, case.token, backoff_initial_s=0.05, backoff_max_s=0.2)
        sink, stop, thread = start(feed)
        pause = threading.Event()
        for n in range(1, drops + 1):
            assert server.wait_connections(n), f"no subscribed connection #{n}"
            pause.wait(interval_s)  # the scenario's timeline: stream for a while, then cut
            assert server.drop() == 1
            assert thread.is_alive()
        assert server.wait_connections(drops + 1)
        seq_after_last_drop = server.seq
        assert sink.wait_for(lambda s: any(t.volume > seq_after_last_drop for t in options(s)))
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert feed.stats.reconnects == drops == len(server.connections) - 1
    if case.authorizes_per_connection:
        assert server.authorize_calls == drops + 1
    expected = {str(k) for k in (*feed.window.keys(), *feed.window.index_keys())}
    for conn in server.connections[1:]:  # each new connection resubscribed everything
        assert case.subscribed(conn) == expected
    seqs = [(t.symbol, t.expiry, t.strike, t.right, t.volume) for t in options(sink)]
    assert len(seqs) == len(set(seqs)), "a tick was delivered twice"
    assert {s.state for s in sink.statuses} >= {"connecting", "connected", "disconnected", "stopped"}
    assert feed.stats.rejected == {}


def test_reconnects_and_resubscribes_when_dropped_every_second(broker):
    run_with_drops(*broker, drops=10, interval_s=1.0)


@pytest.mark.slow
def test_reconnects_through_sixty_drops_in_a_row(broker):
    """The long run's sixty reconnections on a compressed timeline (a drop 0.2 s after each
    resubscription): it ran a full minute of the every-second storm, almost all of it waiting."""
    run_with_drops(*broker, drops=60, interval_s=0.2)
