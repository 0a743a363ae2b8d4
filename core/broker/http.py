"""The few HTTP calls broker onboarding makes, with the brokers' error bodies turned into words.

Every message built here passes through `scrub`, so a secret that a server echoes back (or that sits
in a URL) never reaches a log line, a page or an exception.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import StrikeIQError

TIMEOUT_S = 30.0
USER_AGENT = "StrikeIQ"
MIN_SECRET_LEN = 6


class BrokerError(StrikeIQError):
    """A broker refused or failed a login or download. `expired` marks a dead session or code:
    the only fix is to log in again."""

    def __init__(self, message: str, status: int | None = None, code: str = "", expired: bool = False):
        super().__init__(message)
        self.status = status
        self.code = code
        self.expired = expired


def mask(secret: str) -> str:
    """Enough of a secret to tell two apart, never enough to use: `abc***` (short ones: `***`)."""
    return f"{secret[:3]}***" if len(secret) >= 12 else "***"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret (and its URL-encoded form) replaced by its mask."""
    # Shorter values are no credential a broker issues, and masking them would garble the text.
    for secret in sorted((s for s in secrets if len(s) >= MIN_SECRET_LEN), key=len, reverse=True):
        for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
            text = text.replace(form, mask(secret))
    return text


def error_detail(body: Any) -> tuple[str, str]:
    """(code, message) of an Upstox `{"status": "error", "errors": [...]}` or a Kite
    `{"status": "error", "message": ..., "error_type": ...}` body; empty strings when neither."""
    if not isinstance(body, Mapping):
        return "", ""
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        first = errors[0]
        return str(first.get("errorCode") or first.get("error_code") or ""), str(first.get("message") or "")
    if body.get("status") == "error":
        return str(body.get("error_type") or ""), str(body.get("message") or "")
    return "", ""


def request(
    url: str,
    secrets: Iterable[str],
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """GET (or POST `form` url-encoded) and return (status, body) of a 2xx answer.

    A 4xx/5xx answer raises BrokerError with the broker's own error code and message; 401/403 and
    the brokers' token errors set `expired`. Network failures raise BrokerError too.
    """
    secrets = list(secrets)
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(url, data=data, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        raise _http_error(exc, url, secrets) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BrokerError(scrub(f"cannot reach {_where(url)}: {reason}", secrets)) from None


def _http_error(exc: urllib.error.HTTPError, url: str, secrets: list[str]) -> BrokerError:
    raw = exc.read() if exc.fp is not None else b""
    try:
        body = json.loads(raw.decode("utf-8"))
    except ValueError:
        body = None
    code, message = error_detail(body)
    expired = exc.code in (401, 403) or code in ("TokenException", "UDAPI100050")
    said = f"{code}: {message}" if code or message else raw[:200].decode("utf-8", "replace").strip()
    text = f"{_where(url)} answered HTTP {exc.code}" + (f" ({said})" if said else "")
    return BrokerError(scrub(text, secrets), status=exc.code, code=code, expired=expired)


def _where(url: str) -> str:
    """Scheme, host and path only: query strings may carry keys."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def json_body(raw: bytes, what: str) -> dict[str, Any]:
    """A JSON object answer, or BrokerError saying which answer was not one."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BrokerError(f"{what}: the answer is not a JSON object")
    return body
