"""The only reader of the environment and `.streamlit/secrets.toml`: every variable, typed and
validated by pydantic-settings (`Settings`); a wrong value raises ConfigError at start with a
message naming the variable and how to fix it. `core.config.load_config` turns it into the frozen
per-subsystem configs.

Environment variables, or the same keys in secrets.toml (all optional; the defaults run the demo):
  DATABASE_URL               SQLAlchemy URL; default sqlite:///data/strikeiq.db
  STRIKEIQ_FEED              sim | ws://HOST:PORT | replay:FILE | upstox | kite   (default sim)
  STRIKEIQ_SYMBOLS           comma list, default NIFTY,BANKNIFTY
  STRIKEIQ_SPEED             simulator / replay speed factor, default 1 (0 = as fast as possible)
  STRIKEIQ_SEED              simulator seed, default 7
  STRIKEIQ_SCENARIO          simulator scenario, default calm
  STRIKEIQ_SIM_START         ISO datetime the simulator starts at, default the next session open
  STRIKEIQ_SIM_DELIVERY      simulator delivery: broker (each leg at its own moments) | sync, default broker
  STRIKEIQ_SIM_WARMUP_S      simulated seconds of the scenario's baseline market before its script
                             starts, delivered at once (no pacing), default 900
  STRIKEIQ_INSTRUMENTS       broker instrument master file; overrides the day's downloaded master
  STRIKEIQ_LIVE_SOURCE       process (in-process runtime) | db (render from live_chain_state)
  STRIKEIQ_DATA_DIR          where the SQLite file and spill journal live, default ./data
  STRIKEIQ_RISK_FREE_RATE    r for Black-76, default 0.055
  STRIKEIQ_CHAIN_SNAPSHOT_S  event seconds between stored option-chain snapshots, default 60
  STRIKEIQ_CALIBRATION_MIN_OUTCOMES   decided outcomes before confidence is calibrated, default 30
  STRIKEIQ_GAMMA_BAND        |net GEX / gross GEX| beyond which dealers are long / short gamma, 0.15
  STRIKEIQ_COOLDOWN_S        event seconds before the same signal may fire again, default 120
  STRIKEIQ_STATE_HOLD_S      event seconds a state (bias, gamma regime) must hold, default 180
  STRIKEIQ_STATE_GLITCH_S    a change of reading shorter than this does not count, default 60
  STRIKEIQ_ENGINE__<Engine>__<param>  one engine parameter, e.g.
                             STRIKEIQ_ENGINE__SmartMoneyEngine__flow_min_rel=0.04
                             (or [engines.SmartMoneyEngine] flow_min_rel = 0.04 in secrets.toml)
  UPSTOX_ACCESS_TOKEN, KITE_API_KEY, KITE_ACCESS_TOKEN   broker credentials
  UPSTOX_API_KEY, UPSTOX_API_SECRET, UPSTOX_REDIRECT_URI   Upstox app, for logging in from StrikeIQ
  KITE_API_SECRET            Kite Connect app secret, for logging in from StrikeIQ (with KITE_API_KEY)
  STRIKEIQ_UPSTOX_BASE_URL   replaces https://api.upstox.com (and the assets host), e.g. a loopback
  STRIKEIQ_KITE_BASE_URL     replaces https://api.kite.trade (and the Kite login host)
  STRIKEIQ_ALERT_WEBHOOK     POST every signal >= STRIKEIQ_ALERT_MIN_CONFIDENCE (0.6) there as JSON;
                             also the default URL of rules with the webhook channel
  STRIKEIQ_ALERT_RULES       TOML file of [[rule]] tables (core.alerts.rules), for workers
  TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID   Telegram delivery (Bot API sendMessage); never shown
  STRIKEIQ_TELEGRAM_API      Bot API base URL, default https://api.telegram.org
  STRIKEIQ_ALERT_TIMEOUT_S, STRIKEIQ_ALERT_ATTEMPTS   per-attempt timeout (5), attempts per delivery (3)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import url as sa_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
KNOWN_SYMBOLS = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY")


def parse_feed(value: str) -> tuple[str, str]:
    """`sim`, `ws://host:port`, `replay:FILE`, `upstox`, `kite` -> (kind, url)."""
    v = value.strip()
    if v in ("sim", "upstox", "kite"):
        return v, ""
    if v.startswith(("ws://", "wss://")):
        return "ws", v
    if v.startswith("replay:") and len(v) > len("replay:"):
        return "replay", v[len("replay:") :]
    raise ConfigError(
        f"STRIKEIQ_FEED / --feed is {value!r}: use sim, ws://HOST:PORT, replay:FILE, upstox or kite"
    )


def parse_symbols(value: str) -> tuple[str, ...]:
    symbols = tuple(s.strip().upper() for s in value.split(",") if s.strip())
    if not symbols:
        raise ConfigError("STRIKEIQ_SYMBOLS / --symbols is empty: give e.g. NIFTY,BANKNIFTY")
    unknown = [s for s in symbols if s not in KNOWN_SYMBOLS]
    if unknown:
        raise ConfigError(
            f"unknown symbol(s) {', '.join(unknown)}: StrikeIQ supports {', '.join(KNOWN_SYMBOLS)}"
        )
    return symbols


# URL schemes StrikeIQ can open: SQLite through Python's own module, PostgreSQL through psycopg2
# (psycopg2-binary, the driver the design names). postgres:// is how many hosts hand out the URL.
DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg2", "postgres")


def validate_database_url(url: str) -> str:
    """`url` unchanged when StrikeIQ can open it; else a ConfigError saying what to write instead.

    A URL naming a driver StrikeIQ does not ship (postgresql+psycopg://, mysql://...) would fail
    much later as a ModuleNotFoundError, so it is refused here, at start, with the URL to use.
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in DATABASE_SCHEMES:
        return url
    backend, _, driver = scheme.lower().partition("+")
    if sep and backend in ("postgresql", "postgres", "sqlite"):
        fixed = ("postgresql://" if backend != "sqlite" else "sqlite://") + rest
        raise ConfigError(
            f"database URL {mask_url(url)!r} names the driver {driver!r}, which StrikeIQ does not ship: "
            f"write {mask_url(fixed)!r} (PostgreSQL is reached through psycopg2)"
        )
    raise ConfigError(
        f"database URL {mask_url(url)!r} is not supported: use sqlite:///PATH or "
        "postgresql://USER:PASSWORD@HOST:PORT/DB"
    )


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, safe to show or log (SQLAlchemy's own rendering,
    so a password holding ':' or '@' is masked whole). A string SQLAlchemy cannot parse keeps its
    host part only: whatever precedes the last '@' may be a credential."""
    try:
        return sa_url.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "***@" + url.rsplit("@", 1)[1] if "@" in url else url


def validate_base_url(name: str, value: str) -> str:
    """A base replaces scheme and host only: the broker's documented paths follow it."""
    value = value.strip().rstrip("/")
    scheme, _, host = value.partition("://")
    if value and (scheme not in ("http", "https") or not host or "/" in host or "?" in host):
        raise ConfigError(f"{name}={value!r}: give scheme and host only, e.g. http://127.0.0.1:9000")
    return value


class Settings(BaseSettings):
    """Every variable under its own name (the alias), typed. A field named like a field of one of
    the config dataclasses fills that field (`_pick`); the secrets are never in a repr."""

    # "__" nests STRIKEIQ_ENGINE__<Engine>__<param>; KITE_API_KEY = 123 in secrets.toml is a string.
    model_config = SettingsConfigDict(case_sensitive=True, env_nested_delimiter="__", extra="ignore",
                                      str_strip_whitespace=True, coerce_numbers_to_str=True)  # fmt: skip

    database_url: str = Field(default="", alias="DATABASE_URL", repr=False)
    data_dir: Path = Field(default=PROJECT_ROOT / "data", alias="STRIKEIQ_DATA_DIR")
    live_source: Literal["process", "db"] = Field(default="process", alias="STRIKEIQ_LIVE_SOURCE")
    feed: str = Field(default="sim", alias="STRIKEIQ_FEED")
    symbols: str = Field(default="NIFTY,BANKNIFTY", alias="STRIKEIQ_SYMBOLS")
    speed: float = Field(default=1.0, alias="STRIKEIQ_SPEED", ge=0)
    seed: int = Field(default=7, alias="STRIKEIQ_SEED")
    scenario: str = Field(default="calm", alias="STRIKEIQ_SCENARIO")
    start: str = Field(default="", alias="STRIKEIQ_SIM_START")
    delivery: Literal["broker", "sync"] = Field(default="broker", alias="STRIKEIQ_SIM_DELIVERY")
    warmup_s: float = Field(default=900.0, alias="STRIKEIQ_SIM_WARMUP_S", ge=0)
    instruments_file: str = Field(default="", alias="STRIKEIQ_INSTRUMENTS")
    risk_free_rate: float = Field(default=0.055, alias="STRIKEIQ_RISK_FREE_RATE", ge=0)
    chain_snapshot_interval_s: float = Field(default=60.0, alias="STRIKEIQ_CHAIN_SNAPSHOT_S", ge=1)
    gamma_band: float = Field(default=0.15, alias="STRIKEIQ_GAMMA_BAND", ge=0)
    min_outcomes: int = Field(default=30, alias="STRIKEIQ_CALIBRATION_MIN_OUTCOMES", ge=1)
    cooldown_s: float = Field(default=120.0, alias="STRIKEIQ_COOLDOWN_S", ge=0)
    state_hold_s: float = Field(default=180.0, alias="STRIKEIQ_STATE_HOLD_S", ge=0)
    state_glitch_s: float = Field(default=60.0, alias="STRIKEIQ_STATE_GLITCH_S", ge=0)
    # {engine: {param: value}} from the environment, and from [engines.<Engine>] in secrets.toml.
    # Engine and parameter names are checked against the engines when the pipeline is built.
    engine_env: dict[str, dict[str, str]] = Field(default_factory=dict, alias="STRIKEIQ_ENGINE")
    engine_tables: dict[str, dict[str, Any]] = Field(default_factory=dict, alias="engines")

    upstox_access_token: str = Field(default="", alias="UPSTOX_ACCESS_TOKEN", repr=False)
    kite_api_key: str = Field(default="", alias="KITE_API_KEY", repr=False)
    kite_access_token: str = Field(default="", alias="KITE_ACCESS_TOKEN", repr=False)
    upstox_api_key: str = Field(default="", alias="UPSTOX_API_KEY", repr=False)
    upstox_api_secret: str = Field(default="", alias="UPSTOX_API_SECRET", repr=False)
    upstox_redirect_uri: str = Field(default="", alias="UPSTOX_REDIRECT_URI")
    kite_api_secret: str = Field(default="", alias="KITE_API_SECRET", repr=False)
    upstox_base_url: str = Field(default="", alias="STRIKEIQ_UPSTOX_BASE_URL")
    kite_base_url: str = Field(default="", alias="STRIKEIQ_KITE_BASE_URL")

    webhook_url: str = Field(default="", alias="STRIKEIQ_ALERT_WEBHOOK", repr=False)
    min_confidence: float = Field(default=0.6, alias="STRIKEIQ_ALERT_MIN_CONFIDENCE")
    rules_file: str = Field(default="", alias="STRIKEIQ_ALERT_RULES")
    telegram_token: str = Field(default="", alias="TELEGRAM_BOT_TOKEN", repr=False)
    telegram_chat_id: str = Field(default="", alias="TELEGRAM_CHAT_ID", repr=False)
    telegram_api: str = Field(default="https://api.telegram.org", alias="STRIKEIQ_TELEGRAM_API")
    timeout_s: float = Field(default=5.0, alias="STRIKEIQ_ALERT_TIMEOUT_S", ge=0.1)
    attempts: int = Field(default=3, alias="STRIKEIQ_ALERT_ATTEMPTS", ge=1)

    @field_validator("upstox_base_url", "kite_base_url")
    @classmethod
    def _base_url(cls, value: str, info: ValidationInfo) -> str:
        return validate_base_url(str(cls.model_fields[str(info.field_name)].alias), value)

    @model_validator(mode="after")
    def _broker_apps(self) -> Settings:
        """A half-configured broker app fails with what is missing."""
        upstox = {"UPSTOX_API_KEY": self.upstox_api_key, "UPSTOX_API_SECRET": self.upstox_api_secret,
                  "UPSTOX_REDIRECT_URI": self.upstox_redirect_uri}  # fmt: skip
        missing = [name for name, value in upstox.items() if not value]
        if missing and len(missing) < len(upstox):
            raise ConfigError(
                f"Upstox login needs UPSTOX_API_KEY, UPSTOX_API_SECRET and UPSTOX_REDIRECT_URI together: "
                f"set {', '.join(missing)} (from your app on the Upstox developer console), or unset the others"
            )
        redirect = self.upstox_redirect_uri
        if redirect and not redirect.startswith(("http://", "https://")):
            raise ConfigError(
                f"UPSTOX_REDIRECT_URI={redirect!r}: use the http(s) URL of this app registered with your "
                "Upstox app, e.g. http://localhost:8501/"
            )
        if self.kite_api_secret and not self.kite_api_key:
            raise ConfigError(
                "KITE_API_SECRET is set without KITE_API_KEY: set both (Kite developer console)"
            )
        return self


def read_settings(env: Mapping[str, str], secrets_path: Path) -> Settings:
    """`env` first, then the secrets file. pydantic-settings takes its sources from the class, so each
    load binds its own in a subclass (a caller's `env` replaces os.environ, as the tests need)."""

    class Bound(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            *_: PydanticBaseSettingsSource,
            **__: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            environ = EnvSettingsSource(settings_cls)
            environ.env_vars = dict(env)
            return environ, TomlConfigSettingsSource(settings_cls, secrets_path)

    try:
        return Bound()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{secrets_path} is not valid TOML ({exc}); fix it or remove it") from None
    except SettingsError:  # not JSON in the one field read as JSON: STRIKEIQ_ENGINE without __<param>
        raise ConfigError("STRIKEIQ_ENGINE: write STRIKEIQ_ENGINE__<EngineName>__<parameter>=VALUE") from None
    except ValidationError as exc:
        raise ConfigError("; ".join(_explain(error) for error in exc.errors())) from None


def _explain(error: ErrorDetails) -> str:
    """One validation error, worded as StrikeIQ words them: the variable, its value, the fix."""
    name, raw, kind = "__".join(map(str, error["loc"])), error["input"], error["type"]
    ctx = error.get("ctx", {})
    if name.startswith("STRIKEIQ_ENGINE"):
        return f"{name}: write STRIKEIQ_ENGINE__<EngineName>__<parameter>=VALUE"
    if name.startswith("engines"):
        return "[engines] in secrets.toml must hold [engines.<EngineName>] tables of parameter = value"
    if kind.startswith(("int_", "float_")):
        return f"{name}={raw!r} is not a valid {kind.partition('_')[0]}: set it to a number"
    if "ge" in ctx:
        return f"{name}={raw!r} must be >= {ctx['ge']:g}"
    if kind == "literal_error":
        return f"{name}={raw!r}: use {str(ctx['expected']).replace(chr(39), '')}"
    return f"{name}={raw!r}: {error['msg']}"
