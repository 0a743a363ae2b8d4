"""Typed, frozen configuration: the only reader of the environment and `.streamlit/secrets.toml`.

Every subsystem gets its own frozen config object and receives it through its constructor. A wrong
value raises ConfigError at start with a message naming the variable and how to fix it.

Environment variables (all optional; the defaults run the embedded demo):
  DATABASE_URL               SQLAlchemy URL; default sqlite:///data/strikeiq.db
  STRIKEIQ_FEED              sim | ws://HOST:PORT | replay:FILE | upstox | kite   (default sim)
  STRIKEIQ_SYMBOLS           comma list, default NIFTY,BANKNIFTY
  STRIKEIQ_SPEED             simulator / replay speed factor, default 1 (0 = as fast as possible)
  STRIKEIQ_SEED              simulator seed, default 7
  STRIKEIQ_SCENARIO          simulator scenario, default calm
  STRIKEIQ_SIM_DELIVERY      simulator delivery: broker (each leg at its own moments) | sync, default broker
  STRIKEIQ_SIM_WARMUP_S      simulated seconds of the scenario's baseline market before its script
                             starts, delivered at once (no pacing), default 900
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
  UPSTOX_ACCESS_TOKEN, KITE_API_KEY, KITE_ACCESS_TOKEN   broker credentials (or in secrets.toml)
  STRIKEIQ_ALERT_*, TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID   alert delivery (core.alerts.config.alert_config)
  UPSTOX_API_KEY, UPSTOX_API_SECRET, UPSTOX_REDIRECT_URI   Upstox app, for logging in from StrikeIQ
  KITE_API_SECRET            Kite Connect app secret, for logging in from StrikeIQ (with KITE_API_KEY)
  STRIKEIQ_UPSTOX_BASE_URL   replaces https://api.upstox.com (and the assets host), e.g. a loopback
  STRIKEIQ_KITE_BASE_URL     replaces https://api.kite.trade (and the Kite login host)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import url as sa_url
from sqlalchemy.exc import ArgumentError

from core.alerts.config import AlertConfig, alert_config
from core.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
KNOWN_SYMBOLS = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY")
DEFAULT_LOT_SIZE = {"NIFTY": 65, "BANKNIFTY": 30, "FINNIFTY": 60, "MIDCPNIFTY": 120}
DEFAULT_STRIKE_STEP = {"NIFTY": 50.0, "BANKNIFTY": 100.0, "FINNIFTY": 50.0, "MIDCPNIFTY": 25.0}


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """Which market feed to run and how. `kind` is sim, ws, replay, upstox or kite."""

    kind: str = "sim"
    url: str = ""  # ws://... for kind=ws; file path for replay; endpoint override for brokers
    symbols: tuple[str, ...] = ("NIFTY", "BANKNIFTY")
    speed: float = 1.0  # 0 = as fast as possible
    seed: int = 7
    scenario: str = "calm"
    start: str = ""  # ISO datetime of simulated event start; empty = next session open
    stale_after_s: float = 5.0
    reconnect: bool = True
    instruments_file: str = ""
    strikes_each_side: int = 15  # broker ATM-window subscription
    delivery: str = "broker"  # simulator: broker (each leg at its own moments) or sync (whole chain)
    # Simulator: each session opens with this much of the scenario's baseline market, delivered
    # unpaced, so the engines' windows (up to 15 min) are covered when the script starts.
    warmup_s: float = 900.0

    def __post_init__(self) -> None:
        if self.delivery not in ("broker", "sync"):
            raise ConfigError(f"STRIKEIQ_SIM_DELIVERY={self.delivery!r}: use broker or sync")
        if not self.warmup_s >= 0:
            raise ConfigError(f"STRIKEIQ_SIM_WARMUP_S={self.warmup_s!r} must be >= 0")


@dataclass(frozen=True, slots=True)
class AnalyticsConfig:
    """LiveStructuralEngine settings (event-time intervals in seconds)."""

    risk_free_rate: float = 0.055
    metrics_interval_s: float = 1.0
    snapshot_interval_s: float = 5.0
    chain_snapshot_interval_s: float = 60.0
    chain_snapshot_strikes: int = 15
    gamma_band: float = 0.15  # |net GEX / gross GEX| beyond which dealers are long or short gamma


@dataclass(frozen=True, slots=True)
class LoggerConfig:
    """SignalLogger write-behind settings."""

    batch_size: int = 500
    flush_interval_ms: int = 200
    queue_max: int = 100_000  # records held in memory while the database is down; beyond, the journal
    # Tasks waiting for the writer thread. When full, a caller writes its record to the spill journal
    # itself (nothing is lost, the caller pays an fsync) and a live-state update is dropped.
    queue_size: int = 50_000
    spill_path: str = ""  # default <data_dir>/signal_spill.jsonl
    retry_initial_s: float = 0.2
    retry_max_s: float = 5.0


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Engine parameters: cooldown plus per-engine overrides {engine: {param: value}}."""

    cooldown_s: float = 120.0
    # A state engine's reading (smart-money bias, dealer-gamma regime) must hold this long in
    # event time before it is emitted, so a half-updated streamed chain cannot flip it.
    state_hold_s: float = 180.0
    # A change of reading must last this long to count at all (a half-updated chain flickers).
    state_glitch_s: float = 60.0
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LearningConfig:
    """Learning-loop settings. Horizons are event seconds; `interval_s` is wall time between passes."""

    min_outcomes: int = 30  # decided outcomes before a signal's confidence is calibrated
    calibration_horizon_s: int = 900
    vote_horizon_s: int = 1800  # engine skill used to weight the aggregate prediction's votes
    interval_s: float = 5.0
    lookback_s: float = 2 * 3600.0  # how far back (event time) the live evaluator rechecks rows


@dataclass(frozen=True, slots=True)
class BrokerSecrets:
    """Broker credentials. Never logged, never shown; `repr` masks them."""

    upstox_access_token: str = ""
    kite_api_key: str = ""
    kite_access_token: str = ""
    # Login from StrikeIQ (core/broker): the broker apps' keys and where their APIs live.
    upstox_api_key: str = ""
    upstox_api_secret: str = ""
    upstox_redirect_uri: str = ""
    kite_api_secret: str = ""
    upstox_base_url: str = ""  # empty = the broker's own hosts
    kite_base_url: str = ""

    def __repr__(self) -> str:
        def mask(value: str) -> str:
            return "set" if value else "unset"

        secret_fields = ("upstox_access_token", "kite_api_key", "kite_access_token", "upstox_api_key",
                         "upstox_api_secret", "kite_api_secret")  # fmt: skip
        shown = [f"{name}={mask(getattr(self, name))}" for name in secret_fields]
        shown += [f"upstox_redirect_uri={self.upstox_redirect_uri!r}", f"upstox_base_url={self.upstox_base_url!r}",
                  f"kite_base_url={self.kite_base_url!r}"]  # fmt: skip
        return f"BrokerSecrets({', '.join(shown)})"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration of one StrikeIQ process."""

    database_url: str
    data_dir: Path
    live_source: str = "process"
    feed: FeedConfig = FeedConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    logger: LoggerConfig = LoggerConfig()
    engines: EngineConfig = EngineConfig()
    learning: LearningConfig = LearningConfig()
    secrets: BrokerSecrets = BrokerSecrets()
    alerts: AlertConfig = AlertConfig()

    def with_overrides(self, **changes: Any) -> Config:
        return replace(self, **changes)

    @property
    def spill_path(self) -> Path:
        return (
            Path(self.logger.spill_path) if self.logger.spill_path else self.data_dir / "signal_spill.jsonl"
        )


def default_sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'strikeiq.db').as_posix()}"


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


def _number(name: str, raw: str, kind: type, minimum: float | None = None) -> Any:
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}: set it to a number") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={raw!r} must be >= {minimum}")
    return value


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


def read_secrets(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix it or remove it") from None


ENGINE_ENV_PREFIX = "STRIKEIQ_ENGINE__"


def engine_overrides(env: Mapping[str, str], secrets: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-engine parameter overrides: `[engines.SmartMoneyEngine] flow_min_rel = 0.04` in the
    secrets file, or STRIKEIQ_ENGINE__SmartMoneyEngine__flow_min_rel=0.04 (the environment wins).
    Engine and parameter names are checked against the engines when the pipeline is built."""
    out: dict[str, dict[str, Any]] = {}
    tables = secrets.get("engines", {})
    if not isinstance(tables, Mapping):
        raise ConfigError("[engines] in secrets.toml must be a table of [engines.<EngineName>] tables")
    for engine, params in tables.items():
        if not isinstance(params, Mapping):
            raise ConfigError(f"[engines.{engine}] in secrets.toml must be a table of parameter = value")
        out[engine] = dict(params)
    for name, raw in env.items():
        if not name.startswith(ENGINE_ENV_PREFIX):
            continue
        parts = name[len(ENGINE_ENV_PREFIX) :].split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"{name}: write STRIKEIQ_ENGINE__<EngineName>__<parameter>=VALUE")
        out.setdefault(parts[0], {})[parts[1]] = raw
    return out


def load_config(env: Mapping[str, str] | None = None, secrets_path: Path | None = None) -> Config:
    """Build the Config from `env` (default os.environ) and the secrets file."""
    env = os.environ if env is None else env
    secrets = read_secrets(secrets_path or PROJECT_ROOT / ".streamlit" / "secrets.toml")

    def get(name: str, default: str = "") -> str:
        value = env.get(name)
        if value is None:
            value = secrets.get(name, default)
        return str(value)

    data_dir = Path(get("STRIKEIQ_DATA_DIR", str(PROJECT_ROOT / "data"))).expanduser()
    database_url = validate_database_url(get("DATABASE_URL") or default_sqlite_url(data_dir))
    kind, url = parse_feed(get("STRIKEIQ_FEED", "sim"))
    live_source = get("STRIKEIQ_LIVE_SOURCE", "process")
    if live_source not in ("process", "db"):
        raise ConfigError(f"STRIKEIQ_LIVE_SOURCE={live_source!r}: use process or db")
    feed = FeedConfig(
        kind=kind,
        url=url,
        symbols=parse_symbols(get("STRIKEIQ_SYMBOLS", "NIFTY,BANKNIFTY")),
        speed=_number("STRIKEIQ_SPEED", get("STRIKEIQ_SPEED", "1"), float, 0.0),
        seed=_number("STRIKEIQ_SEED", get("STRIKEIQ_SEED", "7"), int),
        scenario=get("STRIKEIQ_SCENARIO", "calm"),
        start=get("STRIKEIQ_SIM_START", ""),
        instruments_file=get("STRIKEIQ_INSTRUMENTS", ""),
        delivery=get("STRIKEIQ_SIM_DELIVERY", "broker"),
        warmup_s=_number("STRIKEIQ_SIM_WARMUP_S", get("STRIKEIQ_SIM_WARMUP_S", "900"), float, 0.0),
    )
    analytics = AnalyticsConfig(
        risk_free_rate=_number("STRIKEIQ_RISK_FREE_RATE", get("STRIKEIQ_RISK_FREE_RATE", "0.055"), float, 0.0),
        gamma_band=_number("STRIKEIQ_GAMMA_BAND", get("STRIKEIQ_GAMMA_BAND", "0.15"), float, 0.0),
        chain_snapshot_interval_s=_number(
            "STRIKEIQ_CHAIN_SNAPSHOT_S", get("STRIKEIQ_CHAIN_SNAPSHOT_S", "60"), float, 1.0
        ),
    )
    engines = EngineConfig(
        cooldown_s=_number("STRIKEIQ_COOLDOWN_S", get("STRIKEIQ_COOLDOWN_S", "120"), float, 0.0),
        state_hold_s=_number("STRIKEIQ_STATE_HOLD_S", get("STRIKEIQ_STATE_HOLD_S", "180"), float, 0.0),
        state_glitch_s=_number("STRIKEIQ_STATE_GLITCH_S", get("STRIKEIQ_STATE_GLITCH_S", "60"), float, 0.0),
        overrides=engine_overrides(env, secrets),
    )
    learning = LearningConfig(
        min_outcomes=_number(
            "STRIKEIQ_CALIBRATION_MIN_OUTCOMES", get("STRIKEIQ_CALIBRATION_MIN_OUTCOMES", "30"), int, 1
        )
    )
    broker = broker_secrets(get)
    return Config(
        database_url=database_url,
        data_dir=data_dir,
        live_source=live_source,
        feed=feed,
        analytics=analytics,
        engines=engines,
        learning=learning,
        secrets=broker,
        alerts=alert_config(get, _number),
    )


def validate_base_url(name: str, value: str) -> str:
    """A base replaces scheme and host only: the broker's documented paths follow it."""
    value = value.strip().rstrip("/")
    scheme, _, host = value.partition("://")
    if value and (scheme not in ("http", "https") or not host or "/" in host or "?" in host):
        raise ConfigError(f"{name}={value!r}: give scheme and host only, e.g. http://127.0.0.1:9000")
    return value


def broker_secrets(get: Any) -> BrokerSecrets:
    """Broker credentials and login settings; a half-configured broker app fails with what is missing."""
    upstox = {n: get(n).strip() for n in ("UPSTOX_API_KEY", "UPSTOX_API_SECRET", "UPSTOX_REDIRECT_URI")}
    missing = [n for n, v in upstox.items() if not v]
    if len(missing) < len(upstox) and missing:
        raise ConfigError(
            f"Upstox login needs UPSTOX_API_KEY, UPSTOX_API_SECRET and UPSTOX_REDIRECT_URI together: "
            f"set {', '.join(missing)} (from your app on the Upstox developer console), or unset the others"
        )
    redirect = upstox["UPSTOX_REDIRECT_URI"]
    if redirect and not redirect.startswith(("http://", "https://")):
        raise ConfigError(
            f"UPSTOX_REDIRECT_URI={redirect!r}: use the http(s) URL of this app registered with your "
            "Upstox app, e.g. http://localhost:8501/"
        )
    if get("KITE_API_SECRET") and not get("KITE_API_KEY"):
        raise ConfigError("KITE_API_SECRET is set without KITE_API_KEY: set both (Kite developer console)")
    return BrokerSecrets(
        upstox_access_token=get("UPSTOX_ACCESS_TOKEN"),
        kite_api_key=get("KITE_API_KEY"),
        kite_access_token=get("KITE_ACCESS_TOKEN"),
        upstox_api_key=upstox["UPSTOX_API_KEY"],
        upstox_api_secret=upstox["UPSTOX_API_SECRET"],
        upstox_redirect_uri=redirect,
        kite_api_secret=get("KITE_API_SECRET"),
        upstox_base_url=validate_base_url("STRIKEIQ_UPSTOX_BASE_URL", get("STRIKEIQ_UPSTOX_BASE_URL")),
        kite_base_url=validate_base_url("STRIKEIQ_KITE_BASE_URL", get("STRIKEIQ_KITE_BASE_URL")),
    )
