"""Webhook and Telegram deliveries against loopback servers: success, retry, timeout, refusal."""

from __future__ import annotations

import threading

import pytest

from core.alerts.config import AlertConfig, mask_webhook
from core.alerts.delivery import Sender
from core.alerts.evaluate import AlertEvaluator
from core.alerts.rules import AlertRule
from tests.core.alerts.builders import metrics, signal
from tests.core.alerts.servers import Reply, closed_port_url, loopback

TOKEN = "123456:SECRET-token_value"


def event(**rule_fields):
    rule = AlertRule(name="r", kind="signal", channels=("webhook", "telegram"), **rule_fields)
    [e] = AlertEvaluator().evaluate([rule], metrics(), [signal()])
    return e


def sender(**fields) -> Sender:
    values = {"backoff_s": 0.01, "timeout_s": 2.0, "attempts": 3, **fields}
    return Sender(AlertConfig(**values))


def test_webhook_posts_the_signal_as_json() -> None:
    with loopback() as server:
        result = sender(webhook_url=server.url + "/hook").deliver(event(), "webhook")
    assert (result.status, result.attempts, result.error) == ("sent", 1, "")
    [body] = server.requests
    assert body["symbol"] == "NIFTY" and body["engine"] == "LiquidityEngine" and body["signal"] == "SWEEP_UP"
    assert body["direction"] == "UP" and body["confidence"] == 0.7 and body["reasons"] == ["pierce_reclaim"]
    assert body["ts"].endswith("+05:30") and body["spot_price"] == 25_000.0
    assert server.paths == ["/hook"] and server.headers[0]["Content-Type"] == "application/json"
    assert result.target == mask_webhook(server.url + "/hook") == server.url + "/***"


def test_a_rule_url_wins_over_the_configured_one() -> None:
    with loopback() as default, loopback() as own:
        sender(webhook_url=default.url).deliver(event(webhook_url=own.url + "/mine"), "webhook")
    assert len(own.requests) == 1 and default.requests == []


def test_webhook_5xx_is_retried_until_it_succeeds() -> None:
    with loopback([Reply(503), Reply(500), Reply(200)]) as server:
        result = sender(webhook_url=server.url).deliver(event(), "webhook")
    assert (result.status, result.attempts) == ("sent", 3)
    assert len(server.requests) == 3 and len({r["id"] for r in server.requests}) == 1  # same event id


def test_webhook_gives_up_after_the_last_attempt() -> None:
    with loopback([Reply(502)]) as server:
        result = sender(webhook_url=server.url, attempts=2).deliver(event(), "webhook")
    assert (result.status, result.attempts) == ("failed", 2)
    assert result.error.startswith("HTTP 502") and len(server.requests) == 2


def test_webhook_4xx_is_not_retried() -> None:
    with loopback([Reply(400, {"error": "bad payload"})]) as server:
        result = sender(webhook_url=server.url).deliver(event(), "webhook")
    assert (result.status, result.attempts) == ("failed", 1) and "HTTP 400" in result.error
    assert len(server.requests) == 1


def test_webhook_timeout_is_retried_then_reported() -> None:
    with loopback([Reply(200, delay_s=1.0)]) as server:
        result = sender(webhook_url=server.url, timeout_s=0.2, attempts=2).deliver(event(), "webhook")
    assert (result.status, result.attempts) == ("failed", 2)
    assert result.error == "timed out after 0.2 s" and len(server.requests) == 2


def test_webhook_timeout_then_success() -> None:
    with loopback([Reply(200, delay_s=1.0), Reply(200)]) as server:
        result = sender(webhook_url=server.url, timeout_s=0.2).deliver(event(), "webhook")
    assert (result.status, result.attempts) == ("sent", 2)


def test_webhook_connection_refused_is_a_failure_not_an_exception() -> None:
    result = sender(webhook_url=closed_port_url(), attempts=2).deliver(event(), "webhook")
    assert (result.status, result.attempts) == ("failed", 2) and "connection failed" in result.error


def test_no_webhook_url_is_skipped_with_the_fix() -> None:
    result = sender().deliver(event(), "webhook")
    assert result.status == "skipped" and "STRIKEIQ_ALERT_WEBHOOK" in result.error


def test_telegram_send_message_reaches_the_chat() -> None:
    with loopback(token=TOKEN) as api:
        result = sender(telegram_api=api.url, telegram_token=TOKEN, telegram_chat_id="-100777").deliver(
            event(), "telegram"
        )
    assert (result.status, result.attempts) == ("sent", 1)
    [body] = api.requests
    assert api.paths == [f"/bot{TOKEN}/sendMessage"]
    assert body["chat_id"] == "-100777"
    assert body["text"].startswith("StrikeIQ alert: NIFTY SWEEP_UP 70%") and "LiquidityEngine" in body["text"]
    assert TOKEN not in result.target


def test_telegram_429_waits_retry_after_then_sends() -> None:
    too_many = Reply(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 0",
                           "parameters": {"retry_after": 0}})  # fmt: skip
    with loopback([too_many, Reply()], token=TOKEN) as api:
        result = sender(telegram_api=api.url, telegram_token=TOKEN, telegram_chat_id="1").deliver(
            event(), "telegram"
        )
    assert (result.status, result.attempts) == ("sent", 2)


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (
            Reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}),
            "chat not found",
        ),
        (Reply(200, {"ok": False, "description": "odd"}), "ok=false: odd"),
    ],
)
def test_telegram_refusal_is_not_retried(reply, words) -> None:
    with loopback([reply], token=TOKEN) as api:
        result = sender(telegram_api=api.url, telegram_token=TOKEN, telegram_chat_id="1").deliver(
            event(), "telegram"
        )
    assert (result.status, result.attempts) == ("failed", 1) and words in result.error
    assert len(api.requests) == 1


def test_a_wrong_token_never_appears_in_the_error() -> None:
    with loopback(token="the-right-one") as api:  # any other token: 404 Not Found
        result = sender(telegram_api=api.url, telegram_token=TOKEN, telegram_chat_id="1").deliver(
            event(), "telegram"
        )
    assert result.status == "failed" and "404" in result.error and TOKEN not in result.error
    assert "SECRET" not in repr(AlertConfig(telegram_token=TOKEN))


def test_telegram_not_configured_is_skipped() -> None:
    result = sender().deliver(event(), "telegram")
    assert result.status == "skipped" and "TELEGRAM_BOT_TOKEN" in result.error


def test_stop_cuts_the_backoff_short() -> None:
    stop = threading.Event()
    stop.set()
    with loopback([Reply(503)]) as server:
        cfg = AlertConfig(webhook_url=server.url, backoff_s=30.0, attempts=5)
        result = Sender(cfg, stop).deliver(event(), "webhook")
    assert result.status == "failed" and result.attempts == 1 and "stopped before retrying" in result.error


def test_a_nan_in_the_alert_is_sent_as_null() -> None:
    from dataclasses import replace

    with loopback() as server:
        result = sender(webhook_url=server.url).deliver(replace(event(), spot_price=float("nan")), "webhook")
    assert result.status == "sent" and server.requests[0]["spot_price"] is None
