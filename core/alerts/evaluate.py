"""AlertEvaluator: rules against one metrics cycle and its signals -> fired AlertEvents.

Runs on the feed thread, so it is pure arithmetic over the cycle's LiveMetrics and signals: no I/O,
no locks. Crossings compare a symbol's previous cycle with this one; `near_level` and `structural`
rules fire when their condition starts to hold, not on every cycle it holds; every rule then waits
its cooldown (event seconds, per rule and symbol, so one symbol never mutes another).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypedDict

from core.alerts.rules import AlertRule
from core.clock import IST
from core.domain import LiveMetrics, Signal


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One fired alert. `id` is the idempotency key: the webhook body carries it, the log is keyed by it."""

    rule_name: str
    rule_id: int | None
    kind: str  # the rule's kind
    symbol: str
    ts: float  # event time, epoch seconds
    signal: str  # the engine's signal, or the alert's code (SPOT_CROSS_UP, NEAR_GAMMA_FLIP, PIN_RISK...)
    direction: str
    message: str
    spot_price: float | None
    engine: str | None = None
    confidence: float | None = None
    reasons: tuple[str, ...] = ()
    expiry: date | None = None
    signal_id: str | None = None
    channels: tuple[str, ...] = ()
    webhook_url: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def iso_ts(self) -> str:
        """Event time as ISO 8601 with the exchange's offset (+05:30)."""
        return datetime.fromtimestamp(self.ts, IST).isoformat(timespec="milliseconds")

    @property
    def title(self) -> str:
        conf = "" if self.confidence is None else f" {self.confidence:.0%}"
        return f"{self.symbol} {self.signal}{conf}"

    def payload(self) -> dict[str, Any]:
        """The JSON body POSTed to a webhook."""
        return {
            "id": self.id,
            "symbol": self.symbol,
            "ts": self.iso_ts,
            "engine": self.engine,
            "signal": self.signal,
            "direction": self.direction,
            "confidence": self.confidence,
            "spot_price": self.spot_price,
            "reasons": list(self.reasons),
            "expiry": self.expiry.isoformat() if self.expiry else None,
            "signal_id": self.signal_id,
            "rule": self.rule_name,
            "rule_kind": self.kind,
            "message": self.message,
        }


class _EventBase(TypedDict):
    """The AlertEvent fields every event of one rule on one cycle shares."""

    rule_name: str
    rule_id: int | None
    kind: str
    symbol: str
    spot_price: float | None
    expiry: date | None
    channels: tuple[str, ...]
    webhook_url: str


@dataclass(slots=True)
class _SymbolMemory:
    spot: float | None = None
    pcr: dict[str, float | None] = field(default_factory=dict)


def _crossed(before: float | None, now: float | None, level: float | None, way: str) -> str | None:
    """UP / DOWN when the value went from one side of `level` to touching or passing it, else None."""
    if before is None or now is None or level is None:  # a validated crossing rule always has a level
        return None
    if before < level <= now and way in ("above", "either"):
        return "UP"
    if before > level >= now and way in ("below", "either"):
        return "DOWN"
    return None


class AlertEvaluator:
    """Per-symbol memory of the previous cycle, per-(rule, symbol) edges and cooldowns."""

    def __init__(self) -> None:
        self._memory: dict[str, _SymbolMemory] = {}
        self._last_fired: dict[tuple[Any, str], float] = {}
        self._holding: dict[tuple[Any, str], bool] = {}
        self.suppressed = 0  # fired within a cooldown

    @staticmethod
    def _key(rule: AlertRule) -> Any:
        return rule.id if rule.id is not None else (rule.origin, rule.name)

    def evaluate(
        self, rules: Sequence[AlertRule], metrics: LiveMetrics, signals: Iterable[Signal] = ()
    ) -> list[AlertEvent]:
        """Every rule that fires on this cycle of `metrics.symbol` (signals of the same cycle)."""
        symbol = metrics.symbol
        mem = self._memory.setdefault(symbol, _SymbolMemory())
        signals = [s for s in signals if s.symbol == symbol]
        out: list[AlertEvent] = []
        for rule in rules:
            if not rule.enabled or (rule.symbol is not None and rule.symbol != symbol):
                continue
            for event in self._fire(rule, metrics, signals, mem):
                key = (self._key(rule), symbol)
                # The cycle's time, not the event's: a debounced state is stamped when it qualified,
                # which can be earlier than the last alert, and must not hide inside its cooldown.
                last = self._last_fired.get(key)
                if last is not None and metrics.ts - last < rule.cooldown_s:
                    self.suppressed += 1
                    continue
                self._last_fired[key] = metrics.ts
                out.append(event)
        mem.spot = metrics.spot
        mem.pcr = {"pcr_oi": metrics.pcr_oi, "pcr_volume": metrics.pcr_volume}
        return out

    def _fire(
        self, rule: AlertRule, m: LiveMetrics, signals: list[Signal], mem: _SymbolMemory
    ) -> list[AlertEvent]:
        base: _EventBase = {"rule_name": rule.name, "rule_id": rule.id, "kind": rule.kind, "symbol": m.symbol,
                "spot_price": m.spot, "expiry": m.expiry, "channels": rule.channels,
                "webhook_url": rule.webhook_url}  # fmt: skip
        if rule.kind == "signal":
            return [
                AlertEvent(
                    **(base | {"spot_price": s.spot_price, "expiry": s.expiry}),
                    ts=s.ts,
                    signal=s.signal,
                    direction=s.direction,
                    engine=s.engine,
                    confidence=s.confidence,
                    reasons=tuple(s.reasons),
                    signal_id=s.id,
                    message=f"{s.engine} {s.signal} ({s.direction}) at {s.confidence:.0%}"
                    + (f": {', '.join(s.reasons)}" if s.reasons else ""),
                )  # fmt: skip
                for s in signals
                if (not rule.engines or s.engine in rule.engines)
                and (not rule.directions or s.direction in rule.directions)
                and s.confidence >= rule.min_confidence
            ]
        if rule.kind == "spot_cross":
            way = _crossed(mem.spot, m.spot, rule.price, rule.cross)
            if way is None:
                return []
            word = "above" if way == "UP" else "below"
            msg = f"spot {m.spot:,.2f} crossed {word} {rule.price:,.2f}"
            return [AlertEvent(**base, ts=m.ts, signal=f"SPOT_CROSS_{way}", direction=way, message=msg)]
        if rule.kind == "pcr_cross":
            now = getattr(m, rule.metric)
            way = _crossed(mem.pcr.get(rule.metric), now, rule.value, rule.cross)
            if way is None:
                return []
            name = rule.metric.upper()
            msg = f"{name.replace('_', ' ')} {now:.3f} crossed {'above' if way == 'UP' else 'below'} {rule.value:g}"
            return [AlertEvent(**base, ts=m.ts, signal=f"{name}_CROSS_{way}", direction=way, message=msg)]
        if rule.kind == "near_level":
            return self._near_level(rule, m, base)
        return self._structural(rule, m, base)

    def _edge(self, key: tuple[Any, ...], holds: bool) -> bool:
        """True when the condition keyed by `key` starts to hold on this cycle."""
        was = self._holding.get(key, False)
        self._holding[key] = holds
        return holds and not was

    def _near_level(self, rule: AlertRule, m: LiveMetrics, base: _EventBase) -> list[AlertEvent]:
        level = getattr(m, rule.level)
        dist_pct = None
        if level and m.spot is not None:
            dist_pct = abs(m.spot - level) / level * 100.0
        holds = dist_pct is not None and dist_pct <= rule.within_pct
        if not self._edge((self._key(rule), m.symbol), holds):
            return []
        name = rule.level.replace("_", " ")
        direction = "UP" if m.spot >= level else "DOWN"
        msg = f"spot {m.spot:,.2f} within {dist_pct:.2f} % of {name} {level:,.2f}"
        return [AlertEvent(**base, ts=m.ts, signal=f"NEAR_{rule.level.upper()}", direction=direction,
                           message=msg, reasons=(f"{rule.level}={level:g}",))]  # fmt: skip

    def _structural(self, rule: AlertRule, m: LiveMetrics, base: _EventBase) -> list[AlertEvent]:
        out = []
        present = {a.kind: a for a in m.alerts}
        for kind in rule.structural_kinds:
            alert = present.get(kind)
            if not self._edge((self._key(rule), m.symbol, kind), alert is not None) or alert is None:
                continue
            out.append(AlertEvent(**base, ts=m.ts, signal=kind, direction="NONE", message=alert.message,
                                  reasons=(f"severity={alert.severity}",)))  # fmt: skip
        return out
