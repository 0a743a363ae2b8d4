"""AlertConfig: delivery settings of the alert service (read by core.config; the worker's flags on top)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Where alerts go and how hard delivery tries. Secrets (the Telegram token) never print.

    `webhook_url` is the default target of rules with the webhook channel and, when set, every
    signal at or above `min_confidence` is POSTed there too (the headless worker's --alert-webhook).
    """

    webhook_url: str = ""
    min_confidence: float = 0.6
    rules_file: str = ""
    telegram_token: str = ""
    telegram_chat_id: str = ""
    telegram_api: str = "https://api.telegram.org"
    timeout_s: float = 5.0  # per HTTP attempt
    attempts: int = 3  # per delivery, the first included
    backoff_s: float = 0.5  # before the second attempt, doubling, capped at 10 s
    refresh_s: float = 2.0  # wall seconds between reloads of the rules table

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(
                f"STRIKEIQ_ALERT_MIN_CONFIDENCE / --alert-min-confidence={self.min_confidence}: use 0-1"
            )
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise ConfigError("STRIKEIQ_ALERT_WEBHOOK / --alert-webhook must be an http:// or https:// URL")
        if self.timeout_s <= 0 or self.attempts < 1:
            raise ConfigError("STRIKEIQ_ALERT_TIMEOUT_S must be > 0 and STRIKEIQ_ALERT_ATTEMPTS >= 1")

    @property
    def telegram_ready(self) -> bool:
        return bool(self.telegram_token and self.telegram_chat_id)

    def __repr__(self) -> str:
        token = "set" if self.telegram_token else "unset"
        return (
            f"AlertConfig(webhook_url={mask_webhook(self.webhook_url)!r}, min_confidence={self.min_confidence}, "
            f"rules_file={self.rules_file!r}, telegram_token={token}, telegram_chat_id="
            f"{'set' if self.telegram_chat_id else 'unset'}, timeout_s={self.timeout_s}, attempts={self.attempts})"
        )


def mask_webhook(url: str) -> str:
    """scheme://host[:port]/*** : webhook paths often carry a secret (Slack, Discord), hosts do not."""
    if not url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    host, sep, path = rest.partition("/")
    host = host.rsplit("@", 1)[-1]  # drop user:password@
    return f"{scheme}://{host}/***" if sep and (path.strip("/") or "?" in path) else f"{scheme}://{host}/"


def alert_args(p: argparse.ArgumentParser) -> None:
    """The worker's alert options (each overrides its environment variable)."""
    p.add_argument("--alert-webhook", metavar="URL",
                   help="POST every signal at or above --alert-min-confidence there as JSON "
                   "(default STRIKEIQ_ALERT_WEBHOOK)")  # fmt: skip
    p.add_argument("--alert-min-confidence", type=float, metavar="X",
                   help="0-1, the webhook's confidence floor (default STRIKEIQ_ALERT_MIN_CONFIDENCE or 0.6)")  # fmt: skip
    p.add_argument(
        "--alert-rules", metavar="FILE", help="TOML file of [[rule]] alert rules (STRIKEIQ_ALERT_RULES)"
    )


def alert_overrides(config: AlertConfig, args: argparse.Namespace) -> AlertConfig:
    """`config` with the command line's alert options on top (validated again)."""
    changes = {
        "webhook_url": getattr(args, "alert_webhook", None),
        "min_confidence": getattr(args, "alert_min_confidence", None),
        "rules_file": getattr(args, "alert_rules", None),
    }
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
