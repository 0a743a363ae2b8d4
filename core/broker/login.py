"""Log in to a broker: build the login link, verify the round trip, exchange the code for a token.

Upstox (OAuth 2 authorization code, https://upstox.com/developer/api-documentation/authorize and
.../get-token): the dialog `<api>/v2/login/authorization/dialog?client_id&redirect_uri&
response_type=code&state` redirects back with `?code=…&state=…`; the code is POSTed once, form
encoded, to `<api>/v2/login/authorization/token` and the answer carries `access_token`.

Kite Connect v3 (https://kite.trade/docs/connect/v3/user/): `<login>/connect/login?v=3&api_key=…`
redirects back with `?request_token=…`; POST `<api>/session/token` with `api_key`, `request_token`
and `checksum = sha256(api_key + request_token + api_secret)`; the answer's `data.access_token`.

A base URL (STRIKEIQ_UPSTOX_BASE_URL / STRIKEIQ_KITE_BASE_URL, or --base-url) replaces the scheme
and host of every broker host, so the whole flow runs against a loopback server in tests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.broker.http import BrokerError, json_body, request
from core.broker.tokens import TokenRecord
from core.config import BrokerSecrets
from core.errors import ConfigError

UPSTOX_API = "https://api.upstox.com"
UPSTOX_ASSETS = "https://assets.upstox.com"
KITE_API = "https://api.kite.trade"
KITE_LOGIN = "https://kite.zerodha.com"
STATE_MAX_AGE_S = 15 * 60  # a login dialog left open longer than this must be started again


@dataclass(frozen=True, slots=True)
class Hosts:
    """Where one broker's API, static files and login page live (all one loopback in tests)."""

    api: str
    aux: str  # Upstox: the assets host of the instrument files; Kite: the login host


def upstox_hosts(base: str = "") -> Hosts:
    base = base.rstrip("/")
    return Hosts(base or UPSTOX_API, base or UPSTOX_ASSETS)


def kite_hosts(base: str = "") -> Hosts:
    base = base.rstrip("/")
    return Hosts(base or KITE_API, base or KITE_LOGIN)


def upstox_ready(s: BrokerSecrets) -> bool:
    return bool(s.upstox_api_key and s.upstox_api_secret and s.upstox_redirect_uri)


def kite_ready(s: BrokerSecrets) -> bool:
    return bool(s.kite_api_key and s.kite_api_secret)


def _require(ready: bool, broker: str) -> None:
    if ready:
        return
    if broker == "upstox":
        raise ConfigError(
            "Upstox login needs UPSTOX_API_KEY, UPSTOX_API_SECRET and UPSTOX_REDIRECT_URI (your app on "
            "the Upstox developer console) in the environment or .streamlit/secrets.toml"
        )
    raise ConfigError(
        "Kite login needs KITE_API_KEY and KITE_API_SECRET (your app on the Kite Connect developer "
        "console) in the environment or .streamlit/secrets.toml"
    )


# state: issued time, nonce and an HMAC under the app secret. It survives the redirect (a new
# browser session) and a server restart, and a forged or stale one is refused.
def new_state(secret: str, now: float | None = None) -> str:
    issued = str(int(time.time() if now is None else now))
    nonce = secrets.token_urlsafe(12)
    return f"{issued}.{nonce}.{_sign(secret, issued, nonce)}"


def check_state(secret: str, state: str, now: float | None = None) -> None:
    """Raise BrokerError unless `state` is one this app issued within STATE_MAX_AGE_S."""
    issued, _, rest = state.partition(".")
    nonce, _, signature = rest.partition(".")
    if not (issued.isdigit() and nonce and signature):
        raise BrokerError("the login came back without a valid state: start the login again")
    if not hmac.compare_digest(signature, _sign(secret, issued, nonce)):
        raise BrokerError("the login came back with a state this app did not issue: start the login again")
    age = (time.time() if now is None else now) - int(issued)
    if not 0 <= age <= STATE_MAX_AGE_S:
        raise BrokerError("the login took longer than 15 minutes: start the login again")


def _sign(secret: str, issued: str, nonce: str) -> str:
    return hmac.new(secret.encode(), f"{issued}.{nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def upstox_login_url(s: BrokerSecrets, state: str) -> str:
    _require(upstox_ready(s), "upstox")
    query = urllib.parse.urlencode(
        {"client_id": s.upstox_api_key, "redirect_uri": s.upstox_redirect_uri,
         "response_type": "code", "state": state}
    )  # fmt: skip
    return f"{upstox_hosts(s.upstox_base_url).api}/v2/login/authorization/dialog?{query}"


def kite_login_url(s: BrokerSecrets, state: str = "") -> str:
    """Kite sends `redirect_params` back to the registered redirect URL: that carries the state."""
    _require(kite_ready(s), "kite")
    params = {"v": "3", "api_key": s.kite_api_key}
    if state:
        params["redirect_params"] = urllib.parse.urlencode({"state": state})
    return f"{kite_hosts(s.kite_base_url).aux}/connect/login?{urllib.parse.urlencode(params)}"


def exchange_upstox_code(s: BrokerSecrets, code: str, now: datetime | None = None) -> TokenRecord:
    """POST the one-time code to the token endpoint; the stored record carries the day's expiry."""
    _require(upstox_ready(s), "upstox")
    code = code.strip()
    if not code:
        raise BrokerError("no authorization code: copy the `code` parameter of the redirect URL")
    form = {"code": code, "client_id": s.upstox_api_key, "client_secret": s.upstox_api_secret,
            "redirect_uri": s.upstox_redirect_uri, "grant_type": "authorization_code"}  # fmt: skip
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    url = f"{upstox_hosts(s.upstox_base_url).api}/v2/login/authorization/token"
    _, raw = request(url, (code, s.upstox_api_secret), form=form, headers=headers)
    body = json_body(raw, "Upstox token answer")
    inner = body.get("data")
    data: dict[str, Any] = inner if isinstance(inner, dict) else body
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise BrokerError("Upstox answered without an access_token")
    return TokenRecord.obtained(
        "upstox", token, now or datetime.now(UTC),
        user_id=str(data.get("user_id") or ""), user_name=str(data.get("user_name") or ""),
    )  # fmt: skip


def kite_checksum(api_key: str, request_token: str, api_secret: str) -> str:
    """SHA-256 hex of api_key + request_token + api_secret, as /session/token wants it."""
    return hashlib.sha256(f"{api_key}{request_token}{api_secret}".encode()).hexdigest()


def exchange_kite_request_token(
    s: BrokerSecrets, request_token: str, now: datetime | None = None
) -> TokenRecord:
    _require(kite_ready(s), "kite")
    request_token = request_token.strip()
    if not request_token:
        raise BrokerError("no request token: copy the `request_token` parameter of the redirect URL")
    checksum = kite_checksum(s.kite_api_key, request_token, s.kite_api_secret)
    form = {"api_key": s.kite_api_key, "request_token": request_token, "checksum": checksum}
    url = f"{kite_hosts(s.kite_base_url).api}/session/token"
    secret_values = (request_token, s.kite_api_secret, checksum)
    _, raw = request(url, secret_values, form=form, headers={"X-Kite-Version": "3"})
    data = json_body(raw, "Kite session answer").get("data")
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(token, str) or not token:
        raise BrokerError("Kite answered without data.access_token")
    return TokenRecord.obtained(
        "kite", token, now or datetime.now(UTC), user_id=str(data.get("user_id") or ""),
        user_name=str(data.get("user_name") or ""), api_key=s.kite_api_key,
    )  # fmt: skip
