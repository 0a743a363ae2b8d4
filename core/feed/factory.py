"""Build the configured feed: sim, ws://, replay:FILE, upstox or kite."""

from __future__ import annotations

from pathlib import Path

from core.config import Config
from core.errors import ConfigError
from core.feed.base import Feed


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


def _instruments_file(config: Config, broker: str) -> Path:
    path = config.feed.instruments_file
    if not path:
        raise ConfigError(
            f"--feed {broker} needs the broker's instrument master: pass --instruments FILE "
            "or set STRIKEIQ_INSTRUMENTS"
        )
    if not Path(path).is_file():
        raise ConfigError(f"instrument file {path!r} does not exist")
    return Path(path)


def _upstox(config: Config) -> Feed:
    from core.feed.instruments import load_upstox_instruments
    from core.feed.upstox import UpstoxFeed

    token = config.secrets.upstox_access_token
    if not token:
        raise ConfigError(
            "--feed upstox needs UPSTOX_ACCESS_TOKEN in the environment or .streamlit/secrets.toml"
        )
    master = load_upstox_instruments(_instruments_file(config, "upstox"))
    kwargs = {"authorize_url": config.feed.url} if config.feed.url else {}
    return UpstoxFeed(config.feed, token, master, **kwargs)


def _kite(config: Config) -> Feed:
    from core.feed.instruments import load_kite_instruments
    from core.feed.kite import KiteFeed

    s = config.secrets
    if not (s.kite_api_key and s.kite_access_token):
        raise ConfigError(
            "--feed kite needs KITE_API_KEY and KITE_ACCESS_TOKEN in the environment or "
            ".streamlit/secrets.toml"
        )
    master = load_kite_instruments(_instruments_file(config, "kite"))
    kwargs = {"url": config.feed.url} if config.feed.url else {}
    return KiteFeed(config.feed, s.kite_api_key, s.kite_access_token, master, **kwargs)
