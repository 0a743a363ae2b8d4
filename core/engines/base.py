"""The engine contract: EngineResult, two-sided additive scoring, and parameters overridable from config.

Every engine is a pure function of (LiveMetrics, EngineHistory, params). Rules add a weight and a
reason tag to an "up" or a "down" side; each side is capped at 1.0; the winner must beat the loser
strictly and reach the engine's threshold. Context rules that carry no direction of their own (a
volatility regime, a net GEX sign) are added only to a side whose directional pattern is present,
so that they can strengthen a pattern but never create one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import numpy as np

from core.domain import EMPTY, Direction, LiveMetrics
from core.engines.history import EngineHistory
from core.errors import ConfigError

Side = Literal["up", "down"]
P = TypeVar("P", bound="EngineParams")

# Weights are summed in float; rounding keeps 0.35 + 0.15 exactly at a 0.5 threshold.
_SCORE_DIGITS = 9


@dataclass(frozen=True, slots=True)
class EngineResult:
    """One engine's verdict for one metrics update.

    raw_score: the winning side's score (0-1); strength: its margin over the other side (0-1);
    active: the verdict is a signal worth emitting (the pipeline handles episodes and cooldown);
    episode: identifies the price pattern behind the verdict (the event time of its extreme), so
    the pipeline never emits the same pattern twice however long it stays in the engine's window.
    """

    signal: str
    direction: Direction
    raw_score: float
    strength: float
    reasons: tuple[str, ...] = ()
    features: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    active: bool = False
    episode: float | None = None

    def side_score(self, direction: Direction) -> float:
        """What the side pointing `direction` scored on this update (`Scorecard.decide` records
        both sides, active or not); 0 for NONE or an engine that scores no sides."""
        score = self.features.get(f"{direction.lower()}_score", 0.0) if direction != "NONE" else 0.0
        return float(score or 0.0)

    @staticmethod
    def inactive(
        features: Mapping[str, Any] | None = None, signal: str = "", raw_score: float = 0.0
    ) -> EngineResult:
        return EngineResult(signal, "NONE", raw_score, 0.0, (), dict(features or {}), False)


@dataclass(frozen=True, slots=True)
class EngineParams:
    """Parameters common to every engine. Subclasses add weights (`w_*`) and windows, with defaults
    from SPEC section 6; `params_from` applies a config override mapping."""

    threshold: float = 0.5

    @classmethod
    def params_from(cls: type[P], overrides: Mapping[str, Any] | None = None) -> P:
        """Defaults with `overrides` applied; an unknown key or a bad value raises ConfigError."""
        params = cls()
        if not overrides:
            return params
        known = {f.name: f for f in fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                raise ConfigError(
                    f"{cls.__name__}: unknown parameter {key!r}; known parameters: {', '.join(sorted(known))}"
                )
            changes[key] = _coerce(cls.__name__, key, getattr(params, key), value)
        return replace(params, **changes)


def _coerce(owner: str, key: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        if type(value) is not type(default):
            raise ConfigError(f"{owner}.{key}={value!r}: expected {type(default).__name__}")
        return value
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ConfigError(f"{owner}.{key}={value!r} is not a finite number")
    if (key.startswith("w_") or key == "threshold") and not 0.0 <= number <= 1.0:
        raise ConfigError(f"{owner}.{key}={value!r}: weights and thresholds lie in 0..1")
    if isinstance(default, int):
        if number != int(number):
            raise ConfigError(f"{owner}.{key}={value!r}: expected a whole number")
        return int(number)
    return number


class Engine(Protocol):
    """What the pipeline runs. Implementations keep no state between calls."""

    name: ClassVar[str]
    params_type: ClassVar[type[EngineParams]]

    def evaluate(self, metrics: LiveMetrics, history: EngineHistory, params: Any = None) -> EngineResult:
        """The verdict for this metrics update; `params` None means the defaults."""


class Scorecard:
    """Accumulates named rule hits on the up and down sides of one evaluation."""

    __slots__ = ("_tags", "_weights")

    def __init__(self) -> None:
        # Tags and weights in parallel lists: decide() reads each as a whole.
        self._tags: dict[Side, list[str]] = {"up": [], "down": []}
        self._weights: dict[Side, list[float]] = {"up": [], "down": []}

    def add(self, side: Side, tag: str, weight: float, when: bool = True) -> bool:
        """Add `weight` under `tag` to `side` if `when`; returns `when` so rules can chain."""
        if when and weight > 0:
            self._tags[side].append(tag)
            self._weights[side].append(weight)
        return bool(when)

    def has(self, side: Side) -> bool:
        return bool(self._tags[side])

    def score(self, side: Side) -> float:
        return round(min(1.0, sum(self._weights[side])), _SCORE_DIGITS)

    def tags(self, side: Side) -> tuple[str, ...]:
        return tuple(self._tags[side])

    def decide(
        self,
        threshold: float,
        up_signal: str,
        down_signal: str,
        features: Mapping[str, Any],
        episodes: Mapping[Side, float] | None = None,
    ) -> EngineResult:
        """The winning side's signal, or an inactive result on a tie or below threshold.

        `episodes` maps a side to the identity of the pattern it scored (see EngineResult.episode).
        """
        episodes = episodes or {}
        up, down = self.score("up"), self.score("down")
        up_tags, down_tags = self.tags("up"), self.tags("down")
        # Every rule that hit, so a tile can show why a verdict is (not yet) a signal.
        feats = {**features, "up_score": up, "down_score": down}
        feats["up_rules"], feats["down_rules"] = self._tags["up"][:], self._tags["down"][:]
        if up > down and up >= threshold:
            margin = round(up - down, _SCORE_DIGITS)
            return EngineResult(up_signal, "UP", up, margin, up_tags, feats, True, episodes.get("up"))
        if down > up and down >= threshold:
            margin = round(down - up, _SCORE_DIGITS)
            return EngineResult(
                down_signal, "DOWN", down, margin, down_tags, feats, True, episodes.get("down")
            )
        return EngineResult.inactive(feats, raw_score=max(up, down))


def num(value: Any, digits: int = 6) -> float | None:
    """A JSON-friendly float for features: numpy scalars unwrapped, NaN/inf and None as None."""
    if value is None:
        return None
    if type(value) is float:  # the common case, without the isinstance checks
        return round(value, digits) if math.isfinite(value) else None
    if isinstance(value, (np.generic, int, float)) and not isinstance(value, bool):
        x = float(value)
        return round(x, digits) if math.isfinite(x) else None
    return None


def not_evaluable(features: dict[str, Any], rule: str, reason: str) -> None:
    """Record that `rule` could not be evaluated on this update and why (shown on the tile)."""
    features.setdefault("not_evaluable", {})[rule] = reason


def pct(part: float | None, whole: float | None) -> float | None:
    """part / whole as a fraction, None when either is missing or whole is not positive."""
    if part is None or whole is None or not whole > 0:
        return None
    return part / whole


def vol_weight(regime: str | None, w_elevated: float, w_extreme: float) -> tuple[str, float]:
    """The volatility-regime rule shared by several engines: (reason tag, weight)."""
    if regime == "extreme":
        return "vol_extreme", w_extreme
    if regime == "elevated":
        return "vol_elevated", w_elevated
    return "", 0.0
