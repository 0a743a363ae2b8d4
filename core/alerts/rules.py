"""AlertRule: what a user asked to be told about, validated once, plus the rules file for workers.

Five kinds of rule, each on one symbol or on every symbol:
- `signal`: an engine signal of the chosen engines and directions at or above a confidence;
- `spot_cross`: spot crosses a price (above, below or either way) between two metrics cycles;
- `near_level`: spot comes within `within_pct` % of the gamma flip, a GEX wall, an OI wall or max pain;
- `pcr_cross`: PCR (OI or volume) crosses a value;
- `structural`: a structural alert of LiveMetrics appears (GAMMA_FLIP_BREAK, PIN_RISK, ...).
The in-app log and toast always get a fired alert; `channels` add the webhook and Telegram.

The rules file (TOML, `--alert-rules FILE` or STRIKEIQ_ALERT_RULES) holds `[[rule]]` tables whose
keys are the AlertRule fields, e.g.::

    [[rule]]
    name = "NIFTY through 25000"
    kind = "spot_cross"
    symbol = "NIFTY"
    price = 25000
    cross = "either"
    channels = ["webhook", "telegram"]
    cooldown_s = 600
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeGuard

from core.config import KNOWN_SYMBOLS
from core.errors import ConfigError

RULE_KINDS = ("signal", "spot_cross", "near_level", "pcr_cross", "structural")
CHANNELS = ("webhook", "telegram")
LEVELS = ("gamma_flip", "call_wall", "put_wall", "support", "resistance", "max_pain")
PCR_METRICS = ("pcr_oi", "pcr_volume")
CROSSINGS = ("above", "below", "either")
DIRECTIONS = ("UP", "DOWN", "NONE")
STRUCTURAL_KINDS = ("GAMMA_FLIP_BREAK", "PIN_RISK", "FLOW_IMBALANCE_SPIKE", "REGIME_CHANGE", "EXPIRY_MAGNET")
ENGINES = (
    "LiquidityEngine", "StoplossHuntEngine", "SmartMoneyEngine", "GammaSqueezeEngine",
    "OptionsTrapEngine", "DealerGammaEngine", "LiquidityVacuumEngine",
)  # fmt: skip
# Everything but the identity columns is stored in alert_rules.params (JSON), so a new kind of rule
# needs no migration.
_COLUMNS = ("id", "name", "kind", "symbol", "channels", "cooldown_s", "enabled", "origin")


class RuleError(ValueError):
    """A rule that cannot be evaluated; the message names the field and what is allowed."""


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alert rule. Frozen: the feed thread reads a tuple of these swapped in by reference."""

    name: str
    kind: str
    symbol: str | None = None  # None: every symbol
    engines: tuple[str, ...] = ()  # signal: empty = every engine
    directions: tuple[str, ...] = ()  # signal: empty = every direction
    min_confidence: float = 0.0  # signal
    price: float | None = None  # spot_cross
    level: str = "gamma_flip"  # near_level
    within_pct: float | None = None  # near_level, in percent of the level (0.2 = 0.2 %)
    metric: str = "pcr_oi"  # pcr_cross
    value: float | None = None  # pcr_cross
    cross: str = "either"  # spot_cross, pcr_cross
    structural: tuple[str, ...] = ()  # structural: empty = GAMMA_FLIP_BREAK and PIN_RISK
    channels: tuple[str, ...] = ()
    webhook_url: str = ""  # empty: the configured STRIKEIQ_ALERT_WEBHOOK
    cooldown_s: float = 300.0  # event seconds before the rule may fire again for the same symbol
    enabled: bool = True
    id: int | None = None  # alert_rules.id; None for file and configuration rules
    origin: str = "db"  # db | file | config

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:  # noqa: C901 - one flat list of field checks reads best
        if not self.name.strip():
            raise RuleError("name is empty: give the rule a name")
        if self.kind not in RULE_KINDS:
            raise RuleError(f"kind {self.kind!r}: use one of {', '.join(RULE_KINDS)}")
        if self.symbol is not None and self.symbol not in KNOWN_SYMBOLS:
            raise RuleError(f"symbol {self.symbol!r}: use one of {', '.join(KNOWN_SYMBOLS)} or none")
        _subset("engines", self.engines, ENGINES)
        _subset("directions", self.directions, DIRECTIONS)
        _subset("structural", self.structural, STRUCTURAL_KINDS)
        _subset("channels", self.channels, CHANNELS)
        if not 0.0 <= self.min_confidence <= 1.0:
            raise RuleError(f"min_confidence {self.min_confidence}: use 0-1")
        if not (math.isfinite(self.cooldown_s) and self.cooldown_s >= 0):
            raise RuleError(f"cooldown_s {self.cooldown_s}: use seconds >= 0")
        if self.cross not in CROSSINGS:
            raise RuleError(f"cross {self.cross!r}: use one of {', '.join(CROSSINGS)}")
        if self.kind == "spot_cross" and not _positive(self.price):
            raise RuleError("spot_cross needs price > 0")
        if self.kind == "near_level":
            if self.level not in LEVELS:
                raise RuleError(f"level {self.level!r}: use one of {', '.join(LEVELS)}")
            if not _positive(self.within_pct) or self.within_pct > 20:
                raise RuleError("near_level needs within_pct in (0, 20] percent")
        if self.kind == "pcr_cross":
            if self.metric not in PCR_METRICS:
                raise RuleError(f"metric {self.metric!r}: use one of {', '.join(PCR_METRICS)}")
            if not _positive(self.value):
                raise RuleError("pcr_cross needs value > 0")
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise RuleError("webhook_url must be an http:// or https:// URL (or empty for the default)")

    @property
    def structural_kinds(self) -> tuple[str, ...]:
        return self.structural or ("GAMMA_FLIP_BREAK", "PIN_RISK")

    def describe(self) -> str:
        """The rule in words, for the page and the alert message."""
        where = self.symbol or "any symbol"
        if self.kind == "signal":
            engines = ", ".join(self.engines) or "any engine"
            dirs = "/".join(self.directions) or "any direction"
            return f"{where}: signal from {engines} ({dirs}) at confidence >= {self.min_confidence:.0%}"
        if self.kind == "spot_cross":
            way = "either way" if self.cross == "either" else self.cross
            return f"{where}: spot crosses {self.price:,.2f} {way}"
        if self.kind == "near_level":
            return f"{where}: spot within {self.within_pct:g} % of {self.level.replace('_', ' ')}"
        if self.kind == "pcr_cross":
            way = "either way" if self.cross == "either" else self.cross
            return f"{where}: {self.metric.upper().replace('_', ' ')} crosses {self.value:g} {way}"
        return f"{where}: structural alert {' or '.join(self.structural_kinds)}"

    def params(self) -> dict[str, Any]:
        """The kind-specific fields, as stored in alert_rules.params."""
        out = {k: v for k, v in asdict(self).items() if k not in _COLUMNS}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    def with_id(self, rule_id: int) -> AlertRule:
        return replace(self, id=rule_id)


def _positive(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value) and value > 0


def _subset(name: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise RuleError(f"{name} {', '.join(unknown)}: use any of {', '.join(allowed)}")


_FIELDS = {f.name: f for f in fields(AlertRule)}
_TUPLES = ("engines", "directions", "structural", "channels")
_FLOATS = ("min_confidence", "price", "within_pct", "value", "cooldown_s")


def rule_from_mapping(data: Mapping[str, Any], origin: str = "db", rule_id: int | None = None) -> AlertRule:
    """An AlertRule from a JSON/TOML mapping; unknown keys and wrong types are RuleErrors."""
    unknown = sorted(set(data) - set(_FIELDS) - {"origin", "id"})
    if unknown:
        raise RuleError(f"unknown field(s) {', '.join(unknown)}: use {', '.join(sorted(_FIELDS))}")
    values: dict[str, Any] = {k: v for k, v in data.items() if k not in ("origin", "id")}
    try:
        for key in _TUPLES:
            if key in values:
                raw = values[key]
                values[key] = tuple(str(x) for x in ([raw] if isinstance(raw, str) else raw or ()))
        for key in _FLOATS:
            if values.get(key) is not None:
                values[key] = float(values[key])
    except (TypeError, ValueError) as exc:
        raise RuleError(f"wrong type: {exc}") from None
    if isinstance(values.get("symbol"), str):
        values["symbol"] = values["symbol"].strip().upper() or None
    if "enabled" in values:
        values["enabled"] = bool(values["enabled"])
    if "name" not in values or "kind" not in values:
        raise RuleError("a rule needs at least name and kind")
    return AlertRule(**values, origin=origin, id=rule_id)


def load_rules_file(path: str | Path) -> tuple[AlertRule, ...]:
    """Rules from a TOML file of `[[rule]]` tables. A wrong file is fatal at start (ConfigError)."""
    p = Path(path).expanduser()
    try:
        with p.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            f"alert rules file {p} does not exist (--alert-rules / STRIKEIQ_ALERT_RULES)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"alert rules file {p} is not valid TOML: {exc}") from None
    tables = doc.get("rule", [])
    if not isinstance(tables, list) or set(doc) - {"rule"}:
        raise ConfigError(f"alert rules file {p}: write each rule as a [[rule]] table, nothing else")
    rules = []
    for n, table in enumerate(tables, 1):
        try:
            rules.append(rule_from_mapping(table, origin="file"))
        except RuleError as exc:
            raise ConfigError(f"alert rules file {p}, rule {n}: {exc}") from None
    return tuple(rules)
