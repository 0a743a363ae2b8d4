"""Login flows against a loopback server speaking the brokers' documented formats.

References (request fields, answers, error bodies):
  Upstox authorize dialog   https://upstox.com/developer/api-documentation/authorize
  Upstox get token          https://upstox.com/developer/api-documentation/get-token
  Upstox error codes        https://upstox.com/developer/api-documentation/error-codes
  Kite login and session    https://kite.trade/docs/connect/v3/user/
  Kite exceptions           https://kite.trade/docs/connect/v3/exceptions/
  Kite checksum errors      https://kite.trade/forum/discussion/3016/invalid-checksum-for-kite-api-php-v3
"""

from __future__ import annotations

import hashlib
import urllib.parse
import urllib.request
from dataclasses import replace
from datetime import datetime

import pytest

from core.broker.http import BrokerError
from core.broker.login import (
    STATE_MAX_AGE_S,
    check_state,
    exchange_kite_request_token,
    exchange_upstox_code,
    kite_checksum,
    kite_login_url,
    new_state,
    upstox_login_url,
)
from core.clock import IST
from core.errors import ConfigError

NOON = datetime(2026, 11, 26, 12, 0, tzinfo=IST)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def follow_dialog(url: str) -> dict[str, str]:
    """Open the login link as a browser would and return the query the redirect carries."""
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(url, timeout=5)
    assert redirect.value.code == 302
    location = redirect.value.headers["Location"]
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def test_upstox_round_trip_stores_the_access_token_with_the_days_expiry(broker, secrets):
    state = new_state(secrets.upstox_api_secret)
    url = upstox_login_url(secrets, state)
    assert url.startswith(f"{broker.base_url}/v2/login/authorization/dialog?")
    back = follow_dialog(url)
    assert back["state"] == state
    check_state(secrets.upstox_api_secret, back["state"])
    record = exchange_upstox_code(secrets, back["code"], now=NOON)
    assert record.access_token in broker.access_tokens
    assert record.user_id == "AB1234"
    assert datetime.fromtimestamp(record.expires_at, IST) == datetime(2026, 11, 27, 3, 30, tzinfo=IST)
    (post,) = broker.requests_to("/v2/login/authorization/token")
    assert post.method == "POST"
    assert post.headers["content-type"] == "application/x-www-form-urlencoded"
    assert post.headers["accept"] == "application/json"
    assert post.form == {
        "code": back["code"],
        "client_id": secrets.upstox_api_key,
        "client_secret": secrets.upstox_api_secret,
        "redirect_uri": secrets.upstox_redirect_uri,
        "grant_type": "authorization_code",
    }


def test_upstox_dialog_query_is_the_documented_one(secrets):
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(upstox_login_url(secrets, "s1")).query))
    assert query == {
        "client_id": secrets.upstox_api_key,
        "redirect_uri": secrets.upstox_redirect_uri,
        "response_type": "code",
        "state": "s1",
    }


def test_upstox_wrong_code_is_refused_with_the_brokers_error(broker, secrets):
    with pytest.raises(BrokerError) as err:
        exchange_upstox_code(secrets, "nosuch")
    assert err.value.status == 400 and err.value.code == "UDAPI100057"
    assert "Invalid Auth code" in str(err.value)
    assert not err.value.expired


def test_upstox_code_is_single_use(broker, secrets):
    code = broker.issue_upstox_code()
    exchange_upstox_code(secrets, code)
    with pytest.raises(BrokerError, match="UDAPI100057"):
        exchange_upstox_code(secrets, code)


def test_upstox_wrong_secret_is_refused_and_never_echoed(broker, secrets):
    wrong = replace(secrets, upstox_api_secret="a-wrong-but-long-client-secret")
    with pytest.raises(BrokerError) as err:
        exchange_upstox_code(wrong, broker.issue_upstox_code())
    assert err.value.status == 401 and err.value.code == "UDAPI100016"
    assert err.value.expired  # a refused credential: log in again (after fixing the secret)
    assert "a-wrong-but-long-client-secret" not in str(err.value)


def test_upstox_dialog_refuses_an_unregistered_redirect(broker, secrets):
    bad = replace(secrets, upstox_redirect_uri="http://127.0.0.1:1/elsewhere")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(upstox_login_url(bad, "s"), timeout=5)
    assert err.value.code == 400
    assert b"UDAPI100068" in err.value.read()


def test_kite_round_trip_with_checksum(broker, secrets):
    state = new_state(secrets.kite_api_secret)
    url = kite_login_url(secrets, state)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(f"{broker.base_url}/connect/login?")
    assert query["v"] == "3" and query["api_key"] == secrets.kite_api_key
    back = follow_dialog(url)
    assert back["status"] == "success" and back["action"] == "login"
    check_state(secrets.kite_api_secret, back["state"])  # redirect_params came back
    record = exchange_kite_request_token(secrets, back["request_token"], now=NOON)
    assert record.access_token in broker.access_tokens
    assert record.api_key == secrets.kite_api_key
    assert datetime.fromtimestamp(record.expires_at, IST) == datetime(2026, 11, 27, 6, 0, tzinfo=IST)
    (post,) = broker.requests_to("/session/token")
    assert post.headers["x-kite-version"] == "3"
    expected = hashlib.sha256(
        (secrets.kite_api_key + back["request_token"] + secrets.kite_api_secret).encode()
    ).hexdigest()
    assert post.form == {"api_key": secrets.kite_api_key, "request_token": back["request_token"],
                         "checksum": expected}  # fmt: skip


def test_kite_checksum_is_sha256_hex_of_key_token_secret():
    assert kite_checksum("key", "req", "sec") == hashlib.sha256(b"keyreqsec").hexdigest()


def test_kite_wrong_checksum_is_a_token_exception(broker, secrets):
    wrong = replace(secrets, kite_api_secret="not-the-app-secret")
    with pytest.raises(BrokerError) as err:
        exchange_kite_request_token(wrong, broker.issue_kite_request_token())
    assert err.value.status == 403 and err.value.code == "TokenException"
    assert "Invalid `checksum`" in str(err.value)
    assert "not-the-app-secret" not in str(err.value)


def test_kite_expired_request_token_is_a_token_exception(broker, secrets):
    token = broker.issue_kite_request_token()
    exchange_kite_request_token(secrets, token)
    with pytest.raises(BrokerError) as err:
        exchange_kite_request_token(secrets, token)  # spent: as after its few minutes of life
    assert err.value.expired and "Token is invalid or has expired" in str(err.value)
    assert token not in str(err.value)


def test_unreachable_broker_is_a_broker_error(secrets):
    dead = replace(secrets, upstox_base_url="http://127.0.0.1:9")
    with pytest.raises(BrokerError, match="cannot reach http://127.0.0.1:9/v2/login/authorization/token"):
        exchange_upstox_code(dead, "abc")


def test_login_without_the_app_configured_says_what_to_set():
    from core.config import BrokerSecrets

    with pytest.raises(ConfigError, match="UPSTOX_API_KEY, UPSTOX_API_SECRET and UPSTOX_REDIRECT_URI"):
        upstox_login_url(BrokerSecrets(), "s")
    with pytest.raises(ConfigError, match="KITE_API_KEY and KITE_API_SECRET"):
        exchange_kite_request_token(BrokerSecrets(kite_api_key="k"), "t")


def test_state_is_refused_when_forged_stale_or_missing():
    state = new_state("secret", now=1_000_000)
    check_state("secret", state, now=1_000_000 + STATE_MAX_AGE_S)
    with pytest.raises(BrokerError, match="longer than 15 minutes"):
        check_state("secret", state, now=1_000_001 + STATE_MAX_AGE_S)
    with pytest.raises(BrokerError, match="did not issue"):
        check_state("other-secret", state, now=1_000_000)
    issued, nonce, sig = state.split(".")
    with pytest.raises(BrokerError, match="did not issue"):
        check_state("secret", f"{int(issued) + 1}.{nonce}.{sig}", now=1_000_000)
    with pytest.raises(BrokerError, match="without a valid state"):
        check_state("secret", "", now=1_000_000)
