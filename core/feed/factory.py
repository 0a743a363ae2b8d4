"""Build the configured feed: sim, ws://, replay:FILE, upstox or kite."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.config import Config
from core.errors import ConfigError
from core.feed.base import Feed

if TYPE_CHECKING:  # each feed's modules are imported only when that feed is built
    from core.broker.tokens import TokenSource


def build_feed(config: Config) -> Feed:
    """The Feed named by `config.feed.kind`; broker feeds need credentials and an instrument file."""
    fc = config.feed
    if fc.kind == "sim":
        from core.feed.simulator import Simulator

        return Simulator(fc)
    if fc.kind == "ws":
        from core.feed.websocket import WebSocketFeed

        return WebSocketFeed(fc)
    if fc.kind == "replay":
        from core.feed.replay import ReplayFeed

        if not Path(fc.url).is_file():
            raise ConfigError(
                f"replay file {fc.url!r} does not exist: record one with `python -m core record`"
            )
        return ReplayFeed(fc.url, fc.speed)
    if fc.kind == "upstox":
        return _upstox(config)
    if fc.kind == "kite":
        return _kite(config)
    raise ConfigError(f"unknown feed kind {fc.kind!r}: use sim, ws://HOST:PORT, replay:FILE, upstox or kite")


def _token_source(config: Config, broker: str, env_token: str, can_log_in: bool) -> TokenSource:
    """The environment's token wins; else the token store, read on every connection attempt."""
    from core.broker.tokens import TokenSource, TokenStore

    store = TokenStore(config.data_dir)
    if not (env_token or can_log_in or store.get(broker)):
        env_name = "UPSTOX_ACCESS_TOKEN" if broker == "upstox" else "KITE_ACCESS_TOKEN"
        login = (
            "UPSTOX_API_KEY, UPSTOX_API_SECRET and UPSTOX_REDIRECT_URI" if broker == "upstox"
            else "KITE_API_KEY and KITE_API_SECRET"
        )  # fmt: skip
        raise ConfigError(
            f"--feed {broker} needs a broker session: set {env_name}, or set {login} and log in on the "
            f"System page (or `python -m core login {broker} ...`)"
        )
    return TokenSource(broker, store, env_token)


def _upstox(config: Config) -> Feed:
    from core.broker.login import upstox_hosts, upstox_ready
    from core.broker.master import ensure_master
    from core.feed.instruments import load_upstox_instruments
    from core.feed.upstox import AUTHORIZE_URL, UpstoxFeed

    s = config.secrets
    token = _token_source(config, "upstox", s.upstox_access_token, upstox_ready(s))
    master = load_upstox_instruments(ensure_master(config, "upstox"))
    url = config.feed.url
    if not url and s.upstox_base_url:
        url = upstox_hosts(s.upstox_base_url).api + AUTHORIZE_URL.split("api.upstox.com", 1)[1]
    return UpstoxFeed(config.feed, token, master, **({"authorize_url": url} if url else {}))


def _kite(config: Config) -> Feed:
    from core.broker.login import kite_ready
    from core.broker.master import ensure_master
    from core.feed.instruments import load_kite_instruments
    from core.feed.kite import KiteFeed

    s = config.secrets
    if not s.kite_api_key:
        raise ConfigError(
            "--feed kite needs KITE_API_KEY (and KITE_ACCESS_TOKEN, or KITE_API_SECRET to log in) in "
            "the environment or .streamlit/secrets.toml"
        )
    token = _token_source(config, "kite", s.kite_access_token, kite_ready(s))
    master = load_kite_instruments(ensure_master(config, "kite", token()))
    kwargs = {"url": config.feed.url} if config.feed.url else {}
    return KiteFeed(config.feed, s.kite_api_key, token, master, **kwargs)
