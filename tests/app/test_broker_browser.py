"""The Upstox login round trip in headless Chromium, against the loopback broker.

The app runs `--feed upstox` with no token: the Live page says the broker session expired and
offers the login link; the loopback authorization dialog redirects back to the app with
`?code=…&state=…`; the app exchanges the code, stores the token, clears the address bar, and the
running feed picks the token up and streams without a restart.
References: https://upstox.com/developer/api-documentation/authorize and .../get-token.
"""

from __future__ import annotations

import os
import stat

import pytest

from core.broker.tokens import TOKEN_FILE, TokenStore
from core.feed.instruments import load_upstox_instruments
from core.feed.subscription import TOKEN_INVALID
from tests.app.browser import chromium, free_port, require_chromium, streamlit_app
from tests.core.broker.conftest import broker_env
from tests.core.broker.loopback import BrokerLoopback
from tests.core.feed.broker_servers import UPSTOX_FILE, UpstoxServer

pytestmark = pytest.mark.browser


@pytest.fixture
def upstox_app(tmp_path):
    """Streamlit on a free port, `--feed upstox` against loopback login and feed servers."""
    require_chromium()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    feed = UpstoxServer(load_upstox_instruments(UPSTOX_FILE), tokens=()).start()
    broker = BrokerLoopback(upstox_redirect_uri=f"{url}/")
    broker.feed = feed
    with broker:
        env = {
            **os.environ,
            **broker_env(broker, tmp_path),
            "DATABASE_URL": f"sqlite:///{(tmp_path / 'browser.db').as_posix()}",
            "STRIKEIQ_FEED": "upstox",
            "STRIKEIQ_INSTRUMENTS": str(UPSTOX_FILE),
        }
        for name in ("UPSTOX_ACCESS_TOKEN", "KITE_ACCESS_TOKEN", "STRIKEIQ_LIVE_SOURCE"):
            env.pop(name, None)
        try:
            with streamlit_app(tmp_path, env, port=port):
                yield url, broker, feed
        finally:
            feed.stop()


def test_upstox_login_round_trip_in_the_browser(upstox_app, tmp_path):
    url, broker, feed = upstox_app
    with chromium(tmp_path) as context:
        page = context.new_page()
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text(f"Upstox: {TOKEN_INVALID}.").wait_for(timeout=60_000)
        assert feed.authorize_calls == 0  # no token: the broker was not even asked
        with page.expect_navigation(url=lambda u: "code=" in u, timeout=30_000):
            page.get_by_text("Log in with Upstox").first.click()
        page.get_by_text("Logged in to Upstox as AB1234", exact=False).wait_for(timeout=60_000)
        page.wait_for_function("() => !location.search.includes('code=')", timeout=30_000)
        # the running feed picked the new token up: live data fills the page
        page.get_by_text("Event time", exact=False).first.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "logged_in.png"), full_page=True)
        content = page.content()
    record = TokenStore(tmp_path).get("upstox")
    assert record is not None and record.access_token in broker.access_tokens
    assert stat.S_IMODE((tmp_path / TOKEN_FILE).stat().st_mode) == 0o600
    assert record.access_token not in content and broker.upstox_client_secret not in content
    (dialog,) = broker.requests_to("/v2/login/authorization/dialog")
    assert dialog.query["redirect_uri"] == f"{url}/" and dialog.query["state"]
    assert len(broker.requests_to("/v2/login/authorization/token")) == 1
    assert feed.authorize_calls >= 1 and feed.connections
