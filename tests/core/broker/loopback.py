"""A loopback Upstox + Kite login server that answers as the brokers' documented endpoints do.

Upstox v2: GET /v2/login/authorization/dialog redirects (302) to the registered redirect_uri with
`code` and `state`; POST /v2/login/authorization/token takes the form fields and answers the profile
with `access_token`; a code is spent on first use, whatever the outcome; errors come as
`{"status": "error", "errors": [{"errorCode": "UDAPI…", "message": …}]}`. The NSE instrument file
is served gzipped at /market-quote/instruments/exchange/NSE.json.gz.

Kite Connect v3: GET /connect/login?v=3&api_key=… redirects to the app's redirect URL with
`action=login&type=login&status=success&request_token=…` plus the `redirect_params`; POST
/session/token (X-Kite-Version: 3) checks `checksum = sha256(api_key + request_token + api_secret)`
and answers `{"status": "success", "data": {…, "access_token": …}}`; errors come as
`{"status": "error", "message": …, "data": null, "error_type": "TokenException" | "InputException"}`
(403 for token errors). GET /instruments serves the CSV dump.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "data"
UPSTOX_FIXTURE = DATA / "upstox_nse_instruments.json.gz"
KITE_FIXTURE = DATA / "kite_instruments.csv"

# Rows of the brokers' full files StrikeIQ must drop: equities, stock options, futures, other indices.
UPSTOX_NOISE = [
    {"segment": "NSE_EQ", "name": "INFOSYS LIMITED", "exchange": "NSE", "instrument_key": "NSE_EQ|INE009A01021",
     "trading_symbol": "INFY", "instrument_type": "EQ", "lot_size": 1},
    {"segment": "NSE_INDEX", "name": "Nifty IT", "exchange": "NSE", "instrument_key": "NSE_INDEX|Nifty IT",
     "trading_symbol": "NIFTY IT", "instrument_type": "INDEX"},
    {"segment": "NSE_FO", "name": "NIFTY", "exchange": "NSE", "expiry": 1798568999000,
     "instrument_key": "NSE_FO|99901", "trading_symbol": "NIFTY FUT 29 DEC 26", "lot_size": 65,
     "instrument_type": "FUT", "underlying_symbol": "NIFTY"},
]  # fmt: skip
KITE_NOISE = [
    "408065,1594,INFY,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE",
    "256777,1003,NIFTY IT,NIFTY IT,0,,0,0,0,EQ,INDICES,NSE",
]


def upstox_error(code: str, message: str) -> dict:
    return {"status": "error", "errors": [{"errorCode": code, "message": message, "propertyPath": None,
                                           "invalidValue": None, "error_code": code}]}  # fmt: skip


def kite_error(error_type: str, message: str) -> dict:
    return {"status": "error", "message": message, "data": None, "error_type": error_type}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class BrokerLoopback:
    """Both brokers' login hosts on one loopback port (the base URL replaces every host)."""

    upstox_client_id: str = "upstox-client-id-123"
    upstox_client_secret: str = "upstox-client-secret-456"
    upstox_redirect_uri: str = "http://127.0.0.1:8501/"
    kite_api_key: str = "kiteapikey123"
    kite_api_secret: str = "kite-api-secret-789"
    kite_redirect_url: str = "http://127.0.0.1:8501/"
    user_id: str = "AB1234"
    seen: list[Seen] = field(default_factory=list)
    upstox_codes: set[str] = field(default_factory=set)
    kite_request_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    downloads: dict[str, int] = field(default_factory=lambda: {"upstox": 0, "kite": 0})
    fail_downloads: bool = False
    # Optional Upstox feed server (tests/core/feed/broker_servers.UpstoxServer): the V3 authorize call
    # is relayed to it, and it accepts the access tokens this login server issued.
    feed: Any = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> BrokerLoopback:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)

    def issue_upstox_code(self) -> str:
        code = uuid.uuid4().hex[:6]
        with self._lock:
            self.upstox_codes.add(code)
        return code

    def issue_kite_request_token(self) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self.kite_request_tokens.add(token)
        return token

    def new_access_token(self) -> str:
        token = uuid.uuid4().hex + uuid.uuid4().hex
        with self._lock:
            self.access_tokens.add(token)
        return token

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    # Upstox ----------------------------------------------------------------------------------
    def upstox_dialog(self, q: dict[str, str]) -> tuple[int, dict | str]:
        if q.get("client_id") != self.upstox_client_id or q.get("redirect_uri") != self.upstox_redirect_uri:
            return 400, upstox_error(
                "UDAPI100068", "Check your 'client_id' and 'redirect_uri'; one or both are incorrect."
            )
        if q.get("response_type") != "code":
            return 400, upstox_error("UDAPI100036", "Invalid Input")
        back = {"code": self.issue_upstox_code(), **({"state": q["state"]} if "state" in q else {})}
        return 302, f"{self.upstox_redirect_uri}?{urllib.parse.urlencode(back)}"

    def upstox_token(self, form: dict[str, str], headers: dict[str, str]) -> tuple[int, dict]:
        if headers.get("content-type") != "application/x-www-form-urlencoded":
            return 400, upstox_error("UDAPI100036", "Invalid Input")
        with self._lock:  # the code is spent on first use, whatever the outcome
            known = form.get("code", "") in self.upstox_codes
            self.upstox_codes.discard(form.get("code", ""))
        if form.get("grant_type") != "authorization_code":
            return 400, upstox_error("UDAPI100036", "Invalid Input")
        if (form.get("client_id"), form.get("client_secret"), form.get("redirect_uri")) != (
            self.upstox_client_id, self.upstox_client_secret, self.upstox_redirect_uri
        ):  # fmt: skip
            return 401, upstox_error("UDAPI100016", "Invalid Credentials")
        if not known:
            return 400, upstox_error("UDAPI100057", "Invalid Auth code")
        return 200, {"email": "trader@example.com", "exchanges": ["NSE", "NFO"], "products": ["D", "I"],
                     "broker": "UPSTOX", "user_id": self.user_id, "user_name": "Test Trader",
                     "order_types": ["MARKET", "LIMIT"], "user_type": "individual", "poa": False,
                     "is_active": True, "access_token": self.new_access_token(), "extended_token": None}  # fmt: skip

    def feed_authorize(self, headers: dict[str, str]) -> tuple[int, dict | bytes]:
        if self.feed is None:
            return 404, upstox_error("UDAPI10000", "This request is not supported by Upstox API")
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.access_tokens:
            self.feed.tokens.add(token)
        req = urllib.request.Request(self.feed.authorize_url, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def upstox_instruments(self) -> bytes:
        rows = json.loads(gzip.decompress(UPSTOX_FIXTURE.read_bytes()))
        return gzip.compress(json.dumps(rows + UPSTOX_NOISE).encode())

    # Kite ------------------------------------------------------------------------------------
    def kite_login(self, q: dict[str, str]) -> tuple[int, dict | str]:
        if q.get("v") != "3" or q.get("api_key") != self.kite_api_key:
            return 400, kite_error("InputException", "Invalid `api_key`.")
        back = {"action": "login", "type": "login", "status": "success",
                "request_token": self.issue_kite_request_token()}  # fmt: skip
        extra = q.get("redirect_params", "")
        return 302, f"{self.kite_redirect_url}?{urllib.parse.urlencode(back)}" + (
            f"&{extra}" if extra else ""
        )

    def kite_session(self, form: dict[str, str], headers: dict[str, str]) -> tuple[int, dict]:
        if headers.get("x-kite-version") != "3":
            return 400, kite_error("InputException", "Invalid API version. Use X-Kite-Version: 3")
        missing = [k for k in ("api_key", "request_token", "checksum") if not form.get(k)]
        if missing:
            return 400, kite_error("InputException", f"Missing `{missing[0]}`.")
        with self._lock:
            known = form["request_token"] in self.kite_request_tokens
            self.kite_request_tokens.discard(form["request_token"])
        if form["api_key"] != self.kite_api_key or not known:
            return 403, kite_error("TokenException", "Token is invalid or has expired.")
        raw = form["api_key"] + form["request_token"] + self.kite_api_secret
        if form["checksum"] != hashlib.sha256(raw.encode()).hexdigest():
            return 403, kite_error("TokenException", "Invalid `checksum`.")
        data = {"user_type": "individual", "email": "trader@example.com", "user_name": "Test Trader",
                "user_shortname": "Trader", "broker": "ZERODHA", "exchanges": ["NSE", "NFO"],
                "products": ["CNC", "MIS", "NRML"], "order_types": ["MARKET", "LIMIT"], "avatar_url": None,
                "user_id": self.user_id, "api_key": self.kite_api_key,
                "access_token": self.new_access_token(), "public_token": uuid.uuid4().hex,
                "refresh_token": "", "login_time": "2026-11-26 09:00:00", "meta": {"demat_consent": "physical"}}  # fmt: skip
        return 200, {"status": "success", "data": data}

    def kite_instruments(self, headers: dict[str, str]) -> tuple[int, dict | bytes]:
        auth = headers.get("authorization")
        if auth is not None:
            key, _, token = auth.removeprefix("token ").partition(":")
            if key != self.kite_api_key or token not in self.access_tokens:
                return 403, kite_error("TokenException", "Incorrect `api_key` or `access_token`.")
        text = KITE_FIXTURE.read_text().rstrip("\n") + "\n" + "\n".join(KITE_NOISE) + "\n"
        return 200, text.encode()


def _handler(server: BrokerLoopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._route("GET", {})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            self._route("POST", form)

        def _route(self, method: str, form: dict[str, str]) -> None:
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.seen.append(Seen(method, url.path, q, headers, form))
            route = (method, url.path)
            if route == ("GET", "/v2/login/authorization/dialog"):
                return self._reply(*server.upstox_dialog(q))
            if route == ("GET", "/v3/feed/market-data-feed/authorize"):
                return self._reply(*server.feed_authorize(headers))
            if route == ("POST", "/v2/login/authorization/token"):
                return self._reply(*server.upstox_token(form, headers))
            if route == ("GET", "/connect/login"):
                return self._reply(*server.kite_login(q))
            if route == ("POST", "/session/token"):
                return self._reply(*server.kite_session(form, headers))
            if server.fail_downloads and url.path in (
                "/instruments",
                "/market-quote/instruments/exchange/NSE.json.gz",
            ):
                return self._reply(503, {"status": "error", "message": "maintenance"})
            if route == ("GET", "/market-quote/instruments/exchange/NSE.json.gz"):
                server.downloads["upstox"] += 1
                return self._reply(200, server.upstox_instruments())
            if route == ("GET", "/instruments"):
                status, body = server.kite_instruments(headers)
                server.downloads["kite"] += status == 200
                return self._reply(status, body)
            return self._reply(404, kite_error("GeneralException", "Route not found"))

        def _reply(self, status: int, body: dict | str | bytes) -> None:
            if status == 302:
                self.send_response(302)
                self.send_header("Location", str(body))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            ctype = "application/octet-stream" if isinstance(body, bytes) else "application/json"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args) -> None:
            return

    return Handler
