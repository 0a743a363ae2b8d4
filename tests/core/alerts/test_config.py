"""Alert settings come from the environment (or secrets.toml) and the worker's flags; secrets never print."""

from __future__ import annotations

import pytest

from core.__main__ import build_config, parser
from core.alerts.config import mask_webhook
from core.config import load_config
from core.errors import ConfigError


def test_environment_sets_the_alert_config(tmp_path) -> None:
    cfg = load_config(
        env={"STRIKEIQ_ALERT_WEBHOOK": "https://hooks.example.com/T000/B000/XXXX", "STRIKEIQ_ALERT_MIN_CONFIDENCE": "0.75",
             "TELEGRAM_BOT_TOKEN": "123:SECRET", "TELEGRAM_CHAT_ID": "-100", "STRIKEIQ_ALERT_ATTEMPTS": "5"},
        secrets_path=tmp_path / "none.toml",
    ).alerts  # fmt: skip
    assert (cfg.webhook_url, cfg.min_confidence, cfg.attempts) == (
        "https://hooks.example.com/T000/B000/XXXX",
        0.75,
        5,
    )
    assert cfg.telegram_ready
    text = repr(cfg)
    assert "SECRET" not in text and "XXXX" not in text and "https://hooks.example.com/***" in text


def test_defaults_are_off_with_a_0_6_floor(tmp_path) -> None:
    cfg = load_config(env={}, secrets_path=tmp_path / "none.toml").alerts
    assert (cfg.webhook_url, cfg.min_confidence, cfg.telegram_ready) == ("", 0.6, False)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"STRIKEIQ_ALERT_MIN_CONFIDENCE": "1.5"}, "use 0-1"),
        ({"STRIKEIQ_ALERT_MIN_CONFIDENCE": "high"}, "not a valid float"),
        ({"STRIKEIQ_ALERT_WEBHOOK": "ftp://x"}, "http:// or https://"),
    ],
)
def test_wrong_alert_settings_fail_at_start(tmp_path, env, words) -> None:
    with pytest.raises(ConfigError, match=words):
        load_config(env=env, secrets_path=tmp_path / "none.toml")


def test_worker_flags_override_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("STRIKEIQ_ALERT_WEBHOOK", "http://127.0.0.1:1/env")
    args = parser().parse_args(
        ["worker", "--alert-webhook", "http://127.0.0.1:2/flag", "--alert-min-confidence", "0.8"]
    )
    cfg = build_config(args).alerts
    assert (cfg.webhook_url, cfg.min_confidence) == ("http://127.0.0.1:2/flag", 0.8)
    args = parser().parse_args(["worker", "--alert-min-confidence", "2"])
    with pytest.raises(ConfigError, match="use 0-1"):
        build_config(args)


def test_mask_webhook_keeps_the_host_only() -> None:
    assert (
        mask_webhook("https://user:pw@hooks.example.com:8443/services/abc?token=x")
        == "https://hooks.example.com:8443/***"
    )
    assert mask_webhook("http://127.0.0.1:9000/") == "http://127.0.0.1:9000/"
