"""A broker feed with the token store: it waits for a login instead of spinning on a dead token,
and a new login reaches the running feed without a restart."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from core.broker.tokens import TokenRecord, TokenSource, TokenStore
from core.clock import IST
from core.config import FeedConfig, load_config
from core.errors import ConfigError
from core.feed.factory import build_feed
from core.feed.instruments import load_kite_instruments, load_upstox_instruments
from core.feed.kite import KiteFeed
from core.feed.subscription import TOKEN_INVALID
from core.feed.upstox import UpstoxFeed
from tests.core.broker.conftest import broker_env
from tests.core.feed.broker_servers import (
    KITE_FILE,
    UPSTOX_FILE,
    KiteServer,
    RecordingSink,
    UpstoxServer,
    session_clock,
)


class CountingSource:
    """Wraps a TokenSource and counts how often the feed asks it (each poll while it waits)."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source
        self.calls = 0
        self._cond = threading.Condition()

    def __call__(self) -> str:
        with self._cond:
            self.calls += 1
            self._cond.notify_all()
        return self.source()

    def wait_calls(self, n: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.calls >= n, timeout)


def login(store: TokenStore, broker: str, token: str) -> None:
    store.save(TokenRecord.obtained(broker, token, datetime.now(IST)))


def run(feed) -> tuple[RecordingSink, threading.Event, threading.Thread]:
    sink, stop = RecordingSink(), threading.Event()
    thread = threading.Thread(target=feed.run, args=(sink, stop), daemon=True)
    thread.start()
    return sink, stop, thread


def options(sink: RecordingSink) -> list:
    return [t for t in sink.ticks() if not t.is_underlying]


def expired(sink: RecordingSink) -> bool:
    return any(s.state == "disconnected" and s.reason == TOKEN_INVALID for s in sink.statuses)


SESSION = {"token_poll_s": 0.01, "auth_retry_s": 3600.0, "backoff_initial_s": 0.05, "backoff_max_s": 0.2}


@pytest.fixture(scope="module")
def upstox_master():
    return load_upstox_instruments(UPSTOX_FILE)


@pytest.fixture(scope="module")
def kite_master():
    return load_kite_instruments(KITE_FILE)


def test_no_session_waits_without_calling_the_broker_then_a_login_streams(tmp_path, upstox_master):
    store = TokenStore(tmp_path)
    source = CountingSource(TokenSource("upstox", store))
    config = FeedConfig(kind="upstox", symbols=("NIFTY", "BANKNIFTY"))
    with UpstoxServer(upstox_master, tokens=("fresh-token",), clock=session_clock()) as server:
        feed = UpstoxFeed(config, source, upstox_master, authorize_url=server.authorize_url,
                          clock=server.clock, **SESSION)  # fmt: skip
        sink, stop, thread = run(feed)
        assert sink.wait_for(expired)
        assert source.wait_calls(20)  # it has looked at the store again and again ...
        assert server.authorize_calls == 0  # ... without one call to the broker
        login(store, "upstox", "fresh-token")
        assert sink.wait_for(lambda s: len(options(s)) > 0)
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert server.authorize_calls == 1


def test_a_rejected_token_is_not_retried_until_a_new_login(tmp_path, upstox_master):
    store = TokenStore(tmp_path)
    login(store, "upstox", "revoked-token")  # unexpired by the clock, refused by the broker
    source = CountingSource(TokenSource("upstox", store))
    config = FeedConfig(kind="upstox", symbols=("NIFTY", "BANKNIFTY"))
    with UpstoxServer(upstox_master, tokens=("new-token",), clock=session_clock()) as server:
        feed = UpstoxFeed(config, source, upstox_master, authorize_url=server.authorize_url,
                          clock=server.clock, **SESSION)  # fmt: skip
        sink, stop, thread = run(feed)
        assert sink.wait_for(expired)
        assert "HTTP 401" in feed.stats.last_error
        seen = source.calls
        assert source.wait_calls(seen + 20)
        assert server.authorize_calls == 1  # the dead token was tried once, not in a loop
        assert feed.stats.reconnects == 0
        login(store, "upstox", "new-token")
        assert sink.wait_for(lambda s: len(options(s)) > 0)
        assert sink.statuses[-1].state == "connected"
        stop.set()
        thread.join(5)
    assert server.authorize_calls == 2


def test_kite_refused_handshake_waits_for_a_new_login(tmp_path, kite_master):
    store = TokenStore(tmp_path)
    login(store, "kite", "stale-kite-token")
    source = CountingSource(TokenSource("kite", store))
    config = FeedConfig(kind="kite", symbols=("NIFTY", "BANKNIFTY"))
    with KiteServer(kite_master, tokens=("kite-token",), clock=session_clock()) as server:
        feed = KiteFeed(config, server.api_key, source, kite_master, url=server.url, clock=server.clock,
                        **SESSION)  # fmt: skip
        sink, stop, thread = run(feed)
        assert sink.wait_for(expired)
        assert "403" in feed.stats.last_error
        assert source.wait_calls(source.calls + 20)
        assert server.connections == []
        login(store, "kite", "kite-token")
        assert sink.wait_for(lambda s: len(options(s)) > 0)
        stop.set()
        thread.join(5)
    assert "stale-kite-token" not in feed.describe() and "kite-token" not in feed.describe()


def env_for(tmp_path, **extra) -> dict[str, str]:
    return {"STRIKEIQ_DATA_DIR": str(tmp_path), "STRIKEIQ_INSTRUMENTS": str(UPSTOX_FILE), **extra}


def test_factory_uses_the_store_and_the_base_url_when_the_environment_has_no_token(tmp_path):
    from tests.core.broker.loopback import BrokerLoopback

    with BrokerLoopback() as broker:
        env = {
            **broker_env(broker, tmp_path),
            "STRIKEIQ_FEED": "upstox",
            "STRIKEIQ_INSTRUMENTS": str(UPSTOX_FILE),
        }
        config = load_config(env=env, secrets_path=tmp_path / "none.toml")
    feed = build_feed(config)
    assert isinstance(feed, UpstoxFeed)
    assert feed.authorize_url == f"{broker.base_url}/v3/feed/market-data-feed/authorize"
    assert feed._credential() == ""  # not logged in yet: the feed will say so and wait
    login(TokenStore(tmp_path), "upstox", "stored-token")
    assert feed._credential() == "stored-token"
    with_env = load_config(
        env={**env, "UPSTOX_ACCESS_TOKEN": "env-token"}, secrets_path=tmp_path / "none.toml"
    )
    assert build_feed(with_env)._credential() == "env-token"  # the environment wins


def test_factory_without_any_session_or_login_says_what_to_set(tmp_path):
    config = load_config(env=env_for(tmp_path, STRIKEIQ_FEED="upstox"), secrets_path=tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="set UPSTOX_ACCESS_TOKEN, or set UPSTOX_API_KEY"):
        build_feed(config)
    login(TokenStore(tmp_path), "upstox", "from-an-earlier-login")
    assert build_feed(config)._credential() == "from-an-earlier-login"
    kite = load_config(env=env_for(tmp_path, STRIKEIQ_FEED="kite"), secrets_path=tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="KITE_API_KEY"):
        build_feed(kite)


def test_factory_downloads_the_master_when_none_is_cached_today(tmp_path):
    from core.broker.master import cache_path, trading_day
    from tests.core.broker.loopback import BrokerLoopback

    with BrokerLoopback() as broker:
        token = broker.new_access_token()
        env = {**broker_env(broker, tmp_path), "STRIKEIQ_FEED": "kite", "KITE_ACCESS_TOKEN": token}
        config = load_config(env=env, secrets_path=tmp_path / "none.toml")
        feed = build_feed(config)
        build_feed(config)  # a second start the same day reads the cache
        assert broker.downloads["kite"] == 1
        (get,) = broker.requests_to("/instruments")
        assert get.headers["authorization"] == f"token {broker.kite_api_key}:{token}"
    assert cache_path(tmp_path, "kite", trading_day()).is_file()
    assert feed.master.expiries("NIFTY") and feed.master.index("NIFTY").key == "256265"


def test_an_expired_kite_session_still_gets_the_public_master(tmp_path):
    from tests.core.broker.loopback import BrokerLoopback

    with BrokerLoopback() as broker:
        env = {
            **broker_env(broker, tmp_path),
            "STRIKEIQ_FEED": "kite",
            "KITE_ACCESS_TOKEN": "yesterdays-token",
        }
        feed = build_feed(load_config(env=env, secrets_path=tmp_path / "none.toml"))
        refused, anonymous = broker.requests_to("/instruments")
    assert "authorization" in refused.headers and "authorization" not in anonymous.headers
    assert feed.master.expiries("BANKNIFTY")
