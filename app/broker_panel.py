"""Broker login in the app: the System page's Broker section, the login redirect, the expired banner.

The broker sends the browser back to the app (the redirect URI points at it) with `?code=…&state=…`
(Upstox) or `?request_token=…&state=…` (Kite, the state travelling in `redirect_params`). Whatever
page that lands on, `handle_login_redirect` (called from app/main.py) exchanges it once, stores the
token and removes the parameters from the address bar. Tokens and secrets are never rendered.
"""

from __future__ import annotations

import html
from datetime import datetime

import streamlit as st

from core.broker.http import BrokerError
from core.broker.login import (
    check_state,
    exchange_kite_request_token,
    exchange_upstox_code,
    kite_login_url,
    kite_ready,
    new_state,
    upstox_login_url,
    upstox_ready,
)
from core.broker.master import cache_path, cached_files, trading_day
from core.broker.tokens import TokenRecord, TokenStore
from core.clock import IST
from core.config import BrokerSecrets, Config, load_config
from core.errors import ConfigError
from core.feed.subscription import TOKEN_INVALID

NAMES = {"upstox": "Upstox", "kite": "Kite"}
REDIRECT_PARAMS = ("code", "state", "request_token", "action", "status", "type")


def login_url(secrets: BrokerSecrets, broker: str) -> str | None:
    """A fresh login link for `broker`, or None when its app is not configured."""
    if broker == "upstox" and upstox_ready(secrets):
        return upstox_login_url(secrets, new_state(secrets.upstox_api_secret))
    if broker == "kite" and kite_ready(secrets):
        return kite_login_url(secrets, new_state(secrets.kite_api_secret))
    return None


def _login_link(secrets: BrokerSecrets, broker: str) -> None:
    url = login_url(secrets, broker)
    if url is None:
        how = (
            "set UPSTOX_API_KEY, UPSTOX_API_SECRET and UPSTOX_REDIRECT_URI (this app's URL)"
            if broker == "upstox"
            else "set KITE_API_KEY and KITE_API_SECRET (and this app's URL as the redirect URL on the console)"
        )
        st.caption(f"To log in to {NAMES[broker]} from here, {how} in the environment or secrets.toml.")
        return
    # Same tab: the broker's dialog redirects back here and the round trip completes on this page.
    st.markdown(
        f'<a href="{html.escape(url)}" target="_self" class="siq-login-{broker}">Log in with {NAMES[broker]}</a>',
        unsafe_allow_html=True,
    )


def _exchange(secrets: BrokerSecrets, broker: str, value: str, state: str) -> TokenRecord:
    if broker == "upstox":
        check_state(secrets.upstox_api_secret, state)
        return exchange_upstox_code(secrets, value)
    check_state(secrets.kite_api_secret, state)
    return exchange_kite_request_token(secrets, value)


def handle_login_redirect() -> None:
    """Complete a login the broker redirected back with; a no-op on every other page load."""
    params = st.query_params
    if "code" in params:
        broker, value = "upstox", params["code"]
    elif "request_token" in params:
        broker, value = "kite", params["request_token"]
    else:
        return
    state = params.get("state", "")
    for key in REDIRECT_PARAMS:  # the code is single-use: never leave it to a reload or a bookmark
        if key in st.query_params:
            del st.query_params[key]
    try:
        config = load_config()
        record = _exchange(config.secrets, broker, value, state)
        TokenStore(config.data_dir).save(record)
    except (BrokerError, ConfigError) as exc:
        st.error(f"{NAMES[broker]} login failed: {exc}")
        return
    who = f" as {record.user_id}" if record.user_id else ""
    st.success(f"Logged in to {NAMES[broker]}{who}. The session lasts until {_when(record.expires_at)}.")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, IST).strftime("%d %b %H:%M IST")


def session_banner(config: Config, feed_reason: str) -> None:
    """The Live and System pages' "broker session expired" state, with the login link."""
    if feed_reason != TOKEN_INVALID or config.feed.kind not in NAMES:
        return
    st.error(f"{NAMES[config.feed.kind]}: {TOKEN_INVALID}.")
    _login_link(config.secrets, config.feed.kind)


def _session_line(config: Config, store: TokenStore, broker: str) -> str:
    env = config.secrets.upstox_access_token if broker == "upstox" else config.secrets.kite_access_token
    if env:
        name = "UPSTOX_ACCESS_TOKEN" if broker == "upstox" else "KITE_ACCESS_TOKEN"
        return f"{name} is set in the environment: it is used, whatever a login stores."
    try:
        record = store.get(broker)
    except ConfigError as exc:
        return f"Token file unreadable: {exc}"
    if record is None:
        return "Not logged in."
    who = f" as {record.user_id}" if record.user_id else ""
    if record.expired(datetime.now(IST).timestamp()):
        return f"Session{who} expired at {_when(record.expires_at)}: {TOKEN_INVALID}."
    return (
        f"Logged in{who} at {_when(record.obtained_at)}; the session lasts until {_when(record.expires_at)}."
    )


def _master_line(config: Config, broker: str) -> str:
    if config.feed.instruments_file:
        return f"Instrument master: {config.feed.instruments_file} (STRIKEIQ_INSTRUMENTS)."
    today = cache_path(config.data_dir, broker, trading_day())
    if today.is_file():
        return f"Instrument master: {today.name} (today's)."
    older = cached_files(config.data_dir, broker)
    state = f"last downloaded as {older[0].name}" if older else "not downloaded yet"
    return (
        f"Instrument master: {state}; the feed downloads today's when it starts "
        f"(or run `python -m core instruments {broker}`)."
    )


def broker_section(config: Config, feed_reason: str = "") -> None:
    """The System page's Broker section: session state, login links and instrument masters."""
    st.subheader("Broker")
    session_banner(config, feed_reason)
    store = TokenStore(config.data_dir)
    for broker in NAMES:
        with st.container(border=True):
            active = " (the running feed)" if config.feed.kind == broker else ""
            st.markdown(f"**{NAMES[broker]}**{active}")
            st.write(_session_line(config, store, broker))
            st.caption(_master_line(config, broker))
            _login_link(config.secrets, broker)
