"""The Broker section, the login redirect and the expired-session banner, through AppTest."""

from __future__ import annotations

import urllib.parse

import pytest
from streamlit.testing.v1 import AppTest

from core.broker.login import new_state
from core.broker.tokens import TokenStore
from core.feed.subscription import TOKEN_INVALID
from tests.app.conftest import main_script
from tests.core.broker.conftest import broker_env
from tests.core.broker.loopback import BrokerLoopback
from tests.core.feed.broker_servers import UPSTOX_FILE


@pytest.fixture
def broker(app_env, monkeypatch):
    with BrokerLoopback() as server:
        for name, value in broker_env(server, app_env).items():
            monkeypatch.setenv(name, value)
        for name in ("UPSTOX_ACCESS_TOKEN", "KITE_ACCESS_TOKEN", "STRIKEIQ_INSTRUMENTS"):
            monkeypatch.delenv(name, raising=False)
        yield server


def page_text(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "error", "success", "subheader", "title")
             for e in getattr(at, kind)]  # fmt: skip
    return "\n".join(str(p) for p in parts)


def run(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(main_script(), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_system_page_offers_both_logins_and_shows_no_secret(broker):
    at = run("views/system.py")
    text = page_text(at)
    assert "Broker" in [s.value for s in at.subheader]
    assert text.count("Not logged in.") == 2
    link = next(m.value for m in at.markdown if "Log in with Upstox" in m.value)
    href = link.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(href).query))
    assert href.startswith(f"{broker.base_url}/v2/login/authorization/dialog?")
    assert query["client_id"] == broker.upstox_client_id and query["response_type"] == "code"
    assert "Log in with Kite" in text
    assert broker.upstox_client_secret not in text and broker.kite_api_secret not in text


def test_upstox_redirect_is_exchanged_stored_and_cleared(broker, app_env):
    code = broker.issue_upstox_code()
    at = run(code=code, state=new_state(broker.upstox_client_secret))
    assert any("Logged in to Upstox as AB1234" in s.value for s in at.success)
    record = TokenStore(app_env).get("upstox")
    assert record is not None and record.access_token in broker.access_tokens
    assert "code" not in at.query_params and "state" not in at.query_params
    assert record.access_token not in page_text(at)
    at.switch_page("views/system.py")
    at.run()
    assert "Logged in as AB1234" in page_text(at)


def test_redirect_with_a_forged_state_is_refused_before_any_exchange(broker, app_env):
    at = run(code=broker.issue_upstox_code(), state="1.forged.0000")
    assert any("Upstox login failed" in e.value and "did not issue" in e.value for e in at.error)
    assert broker.requests_to("/v2/login/authorization/token") == []
    assert TokenStore(app_env).get("upstox") is None


def test_kite_redirect_with_a_spent_request_token_shows_the_brokers_error(broker, app_env):
    token = broker.issue_kite_request_token()
    broker.kite_request_tokens.discard(token)  # expired: its few minutes are over
    at = run(request_token=token, action="login", status="success", state=new_state(broker.kite_api_secret))
    assert any("Token is invalid or has expired" in e.value for e in at.error)
    assert token not in page_text(at)
    assert TokenStore(app_env).get("kite") is None


def test_live_page_shows_the_expired_session_with_the_login_link(broker, monkeypatch):
    monkeypatch.setenv("STRIKEIQ_FEED", "upstox")
    monkeypatch.setenv("STRIKEIQ_INSTRUMENTS", str(UPSTOX_FILE))
    at = run()
    deadline = 50
    while not any(TOKEN_INVALID in e.value for e in at.error) and deadline:
        deadline -= 1
        at.run()
    assert any(e.value == f"Upstox: {TOKEN_INVALID}." for e in at.error)
    assert any("Log in with Upstox" in m.value for m in at.markdown)
