"""Deliveries: a JSON POST to a webhook and Telegram's Bot API sendMessage, with retry and timeout.

Plain urllib: two POSTs do not earn a dependency. Each attempt has a timeout; a connection error, a
timeout, HTTP 5xx and 429 are retried with doubling backoff (429 honours Retry-After / Telegram's
`retry_after`, capped); any other 4xx, or Telegram answering `ok: false`, fails at once because a
retry cannot fix a wrong token, chat id or URL. Error texts never contain the Telegram token.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.alerts.config import AlertConfig, mask_webhook
from core.alerts.evaluate import AlertEvent
from core.storage.types import sanitize_json

MAX_BACKOFF_S = 10.0
USER_AGENT = "StrikeIQ-alerts/1"


class DeliveryError(Exception):
    """One failed attempt. `retry` says whether another attempt can help; `wait_s` is the server's ask."""

    def __init__(self, message: str, retry: bool, wait_s: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.wait_s = wait_s


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one channel's delivery of one event ended."""

    status: str  # sent | failed | skipped
    attempts: int = 0
    error: str = ""
    latency_ms: float | None = None  # from the first attempt to the answer that ended it
    at: float = 0.0  # wall time it ended
    target: str = ""  # where it went, masked


def _retry_after(headers: Any, body: dict[str, Any] | None) -> float | None:
    try:
        if body and isinstance(body.get("parameters"), dict) and "retry_after" in body["parameters"]:
            return float(body["parameters"]["retry_after"])
        value = headers.get("Retry-After") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def post_json(url: str, body: dict[str, Any], timeout_s: float, secret: str = "") -> dict[str, Any] | None:
    """POST `body` as JSON; the parsed JSON answer (None if not JSON). Raises DeliveryError."""

    def clean(text: str) -> str:
        return text.replace(secret, "***") if secret else text

    data = json.dumps(sanitize_json(body), allow_nan=False).encode()  # NaN -> null: receivers choke on NaN
    req = urllib.request.Request(
        url, data=data, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 - http(s) checked at config
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read() if exc.fp is not None else b""
        parsed = _parse(raw)
        detail = (parsed or {}).get("description") or raw[:200].decode("utf-8", "replace")
        message = clean(f"HTTP {exc.code}: {detail}".strip())
        retry = exc.code >= 500 or exc.code == 429
        raise DeliveryError(message, retry, _retry_after(exc.headers, parsed)) from None
    except TimeoutError:
        raise DeliveryError(f"timed out after {timeout_s:g} s", True) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise DeliveryError(f"timed out after {timeout_s:g} s", True) from None
        raise DeliveryError(clean(f"connection failed: {reason}"), True) from None
    except OSError as exc:  # reset mid-response, refused, ...
        raise DeliveryError(clean(f"connection failed: {exc}"), True) from None
    return _parse(raw)


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def telegram_text(event: AlertEvent) -> str:
    """The message a trader reads on the phone: what, where, when, why."""
    lines = [f"StrikeIQ alert: {event.title}", event.message, f"spot {event.spot_price:,.2f}"
             if event.spot_price is not None else "", f"{event.iso_ts} · rule {event.rule_name}"]  # fmt: skip
    return "\n".join(line for line in lines if line)[:4096]  # sendMessage's limit


class Sender:
    """Sends one event on one channel with retry; `sleep` waits on the stop event so stop() is prompt."""

    def __init__(self, config: AlertConfig, stop: threading.Event | None = None) -> None:
        self.config = config
        self._stop = stop or threading.Event()

    def deliver(self, event: AlertEvent, channel: str) -> DeliveryResult:
        if channel == "webhook":
            url = event.webhook_url or self.config.webhook_url
            if not url:
                return DeliveryResult("skipped", error="no webhook URL: set STRIKEIQ_ALERT_WEBHOOK or the rule's URL",
                                      at=time.time())  # fmt: skip
            return self._with_retry(lambda: self._webhook(url, event), mask_webhook(url))
        if channel == "telegram":
            if not self.config.telegram_ready:
                return DeliveryResult("skipped", error="Telegram not configured: set TELEGRAM_BOT_TOKEN and "
                                      "TELEGRAM_CHAT_ID", at=time.time())  # fmt: skip
            return self._with_retry(
                lambda: self._telegram(event), f"telegram chat {self.config.telegram_chat_id}"
            )
        return DeliveryResult("failed", error=f"unknown channel {channel!r}", at=time.time())

    def _webhook(self, url: str, event: AlertEvent) -> None:
        post_json(url, event.payload(), self.config.timeout_s)

    def _telegram(self, event: AlertEvent) -> None:
        c = self.config
        url = f"{c.telegram_api.rstrip('/')}/bot{c.telegram_token}/sendMessage"
        body = {"chat_id": c.telegram_chat_id, "text": telegram_text(event), "disable_web_page_preview": True}
        answer = post_json(url, body, c.timeout_s, secret=c.telegram_token)
        if not answer or answer.get("ok") is not True:
            detail = (answer or {}).get("description", "no JSON answer")
            raise DeliveryError(
                f"Telegram answered ok=false: {detail}".replace(c.telegram_token, "***"), False
            )

    def _with_retry(self, attempt: Callable[[], None], target: str) -> DeliveryResult:
        started = time.monotonic()
        wait = self.config.backoff_s
        error = ""
        for n in range(1, self.config.attempts + 1):
            try:
                attempt()
            except DeliveryError as exc:
                error = str(exc)
                if not exc.retry or n == self.config.attempts:
                    return self._result("failed", n, error, started, target)
                delay = min(MAX_BACKOFF_S, exc.wait_s if exc.wait_s is not None else wait)
                wait = min(MAX_BACKOFF_S, wait * 2)
                if self._stop.wait(delay):
                    return self._result("failed", n, f"{error} (stopped before retrying)", started, target)
            else:
                return self._result("sent", n, "", started, target)
        return self._result("failed", self.config.attempts, error, started, target)  # pragma: no cover

    @staticmethod
    def _result(status: str, attempts: int, error: str, started: float, target: str) -> DeliveryResult:
        latency = (time.monotonic() - started) * 1000.0
        return DeliveryResult(status, attempts, error, round(latency, 2), time.time(), target)
