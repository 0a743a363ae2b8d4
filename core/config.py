"""Typed, frozen configuration: one frozen config object per subsystem, each received through its
constructor. `load_config` builds them from `core.settings`, the only reader of the environment and
`.streamlit/secrets.toml` (its docstring lists every variable); a wrong value raises ConfigError
at start with a message naming the variable and how to fix it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from core.alerts.config import AlertConfig
from core.settings import (  # noqa: F401  (validators re-exported: callers import them from here)
    DATABASE_SCHEMES,
    KNOWN_SYMBOLS,
    PROJECT_ROOT,
    Settings,
    mask_url,
    parse_feed,
    parse_symbols,
    read_settings,
    validate_base_url,
    validate_database_url,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

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
    delivery: Literal["broker", "sync"] = "broker"  # simulator: each leg at its own moments, or whole chain
    # Simulator: each session opens with this much of the scenario's baseline market, delivered
    # unpaced, so the engines' windows (up to 15 min) are covered when the script starts.
    warmup_s: float = 900.0


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
        public = ("upstox_redirect_uri", "upstox_base_url", "kite_base_url")  # any other field is masked
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        shown = (f"{k}={v!r}" if k in public else f"{k}={'set' if v else 'unset'}" for k, v in values.items())
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

    @property
    def spill_path(self) -> Path:
        return (
            Path(self.logger.spill_path) if self.logger.spill_path else self.data_dir / "signal_spill.jsonl"
        )


_D = TypeVar("_D", bound="DataclassInstance")


def _pick(cls: type[_D], settings: Settings, **given: Any) -> _D:
    """`cls` from the settings named like its fields (`given` on top; other fields keep defaults)."""
    names = {f.name for f in fields(cls)} & set(Settings.model_fields) - set(given)
    return cls(**{name: getattr(settings, name) for name in names}, **given)


def load_config(env: Mapping[str, str] | None = None, secrets_path: Path | None = None) -> Config:
    """Build the Config from `env` (default os.environ), then the secrets file (default
    .streamlit/secrets.toml); the environment wins."""
    s = read_settings(
        os.environ if env is None else env, secrets_path or PROJECT_ROOT / ".streamlit" / "secrets.toml"
    )
    data_dir = s.data_dir.expanduser()
    kind, url = parse_feed(s.feed)
    tables, env_params = s.engine_tables, s.engine_env  # the environment wins, parameter by parameter
    overrides = {e: {**tables.get(e, {}), **env_params.get(e, {})} for e in {*tables, *env_params}}
    return Config(
        database_url=validate_database_url(
            s.database_url or f"sqlite:///{(data_dir / 'strikeiq.db').as_posix()}"
        ),
        data_dir=data_dir,
        live_source=s.live_source,
        feed=_pick(FeedConfig, s, kind=kind, url=url, symbols=parse_symbols(s.symbols)),
        analytics=_pick(AnalyticsConfig, s),
        engines=_pick(EngineConfig, s, overrides=overrides),
        learning=_pick(LearningConfig, s),
        secrets=_pick(BrokerSecrets, s),
        alerts=_pick(AlertConfig, s),
    )
