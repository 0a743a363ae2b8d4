"""EnginePipeline: runs the seven engines per symbol on each metrics update and turns verdicts into Signals.

Owns per-symbol EngineHistory, episodes and cooldowns (event time), failure isolation and timing
telemetry. Pattern engines (sweep, hunt, squeeze, trap, vacuum) emit when a verdict becomes active; on a chain
still streaming in, it is decided on the observation of the chain that goes with its spot move,
within PATTERN_WAIT_S, and stamped when it showed (see `_episode`).
State engines (`kind = "state"`: SmartMoney, DealerGamma) are debounced in event time: a reading is
emitted once it has held `EngineConfig.state_hold_s`, stamped when it qualified, and a reading
with no view (NEUTRAL, GAMMA_NEUTRAL) is the tile's state, never a signal. (SPEC section 6 logs
DealerGamma "on regime change" and lists NEUTRAL among the signals; real recordings re-timed as a
broker streams them showed those flip on half-updated chains: see docs/backtest.md.) Called from one thread (the metrics thread); `states()` and `health()` are safe to call
from readers because they only read dictionaries that are replaced whole, or take the stats lock.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.config import EngineConfig
from core.domain import NO_VIEW_SIGNALS, LiveMetrics, Signal
from core.engines.base import Engine, EngineParams, EngineResult
from core.engines.dealer_gamma import DealerGammaEngine
from core.engines.debounce import Debounce
from core.engines.gamma_squeeze import GammaSqueezeEngine
from core.engines.history import EngineHistory
from core.engines.liquidity import LiquidityEngine
from core.engines.liquidity_vacuum import LiquidityVacuumEngine
from core.engines.options_trap import OptionsTrapEngine, OptionsTrapParams
from core.engines.smart_money import SmartMoneyEngine, SmartMoneyParams, SmartMoneyReading, reading
from core.engines.stoploss_hunt import StoplossHuntEngine
from core.errors import ConfigError

log = logging.getLogger(__name__)

ENGINE_CLASSES: tuple[type[Engine], ...] = (
    LiquidityEngine,
    StoplossHuntEngine,
    SmartMoneyEngine,
    GammaSqueezeEngine,
    OptionsTrapEngine,
    DealerGammaEngine,
    LiquidityVacuumEngine,
)
ENGINE_NAMES: tuple[str, ...] = tuple(cls.name for cls in ENGINE_CLASSES)

# How long a pattern verdict seen on a partly streamed chain waits for the observation of the
# chain that goes with it (a broker streams a chain over about a minute, after the spot move).
PATTERN_WAIT_S = 90.0

# (engine, signal, symbol, raw_score) -> (confidence 0-1, source "raw" | "calibrated")
Calibrator = Callable[[str, str, str, float], tuple[float, str]]


@dataclass(frozen=True, slots=True)
class EngineState:
    """What an engine tile shows: the latest verdict, the last signal actually emitted and, for a
    state engine, the debounced state (`held`, e.g. NEUTRAL) that the tile reports as current."""

    engine: str
    result: EngineResult | None
    updated_ts: float | None
    last_signal: Signal | None = None
    held: str | None = None

    @property
    def last_signal_ts(self) -> float | None:
        return self.last_signal.ts if self.last_signal else None


@dataclass(frozen=True, slots=True)
class PipelineOutput:
    """Everything one metrics update produced for one symbol."""

    signals: tuple[Signal, ...] = ()
    smart_money: SmartMoneyReading | None = None
    results: Mapping[str, EngineResult] = field(default_factory=dict)


@dataclass
class _EngineStats:
    evaluations: int = 0
    failures: int = 0
    last_error: str = ""
    total_ms: float = 0.0
    max_ms: float = 0.0


@dataclass(slots=True)
class _Held:
    """A pattern verdict seen on a chain still streaming in, waiting for the observation of the
    chain that goes with it (see `EnginePipeline._episode`)."""

    seen: EngineResult
    seen_m: LiveMetrics
    decides: int  # the `ChainObservations.completed` count at which that observation is complete
    # The verdict on the latest update that reported legs while waiting: the chain an observation
    # closed by the update after it (`ChainObservations.closed_before`) is as of.
    chain: tuple[EngineResult, LiveMetrics] | None = None


class _SymbolState:
    """Per-symbol memory: one symbol's episodes and cooldowns never touch another's."""

    def __init__(self, symbol: str, config: EngineConfig) -> None:
        self.history = EngineHistory(
            symbol, state_hold_s=config.state_hold_s, state_glitch_s=config.state_glitch_s
        )
        self.episode: dict[str, str | None] = {}  # engine -> signal of the ongoing active verdict
        self.last_emit: dict[tuple[str, str], float] = {}  # (engine, signal) -> event ts
        self.last_pattern: dict[tuple[str, str], float] = {}  # (engine, signal) -> episode emitted
        self.debounce: dict[str, Debounce] = {}  # state engine -> its debounced reading
        self.pending: dict[str, _Held] = {}  # pattern engine -> its verdict awaiting the chain
        self.states: dict[str, EngineState] = {}


class EnginePipeline:
    """The seven engines (or `engines`, for tests) with params from `config.overrides[engine]`."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        calibrator: Calibrator | None = None,
        engines: Sequence[Engine] | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self.calibrator = calibrator
        self.engines: tuple[Engine, ...] = (
            tuple(engines) if engines is not None else tuple(c() for c in ENGINE_CLASSES)
        )
        self.params = _engine_params(self.engines, self.config.overrides)
        self._state_engines = frozenset(
            e.name for e in self.engines if getattr(e, "kind", "pattern") == "state"
        )
        self._symbols: dict[str, _SymbolState] = {}
        self._stats = {e.name: _EngineStats() for e in self.engines}
        self._counters = dict.fromkeys(
            ("updates", "stale_updates", "history_failures", "signals", "calibrator_failures"), 0
        )
        self._lock = threading.Lock()

    def evaluate(self, metrics: LiveMetrics) -> PipelineOutput:
        """Update the symbol's history, run every engine, emit the signals that start an episode."""
        sym = self._symbols.get(metrics.symbol)
        if sym is None:
            sym = self._symbols[metrics.symbol] = _SymbolState(metrics.symbol, self.config)
        if not self._remember(sym, metrics):
            return PipelineOutput()
        results: dict[str, EngineResult] = {}
        signals: list[Signal] = []
        states = dict(sym.states)
        history = sym.history
        for engine in self.engines:
            name = engine.name
            result = self._run(engine, metrics, history)
            if result is None:
                continue
            results[name] = result
            if name in self._state_engines:
                emitted = self._state_change(sym, engine, result, metrics)
            else:
                emitted = [s] if (s := self._episode(sym, name, result, metrics)) else []
            signals.extend(emitted)
            previous = states.get(name)
            last = emitted[-1] if emitted else (previous.last_signal if previous else None)
            debounce = sym.debounce.get(name)
            held = debounce.state if debounce is not None else None
            states[name] = EngineState(name, result, metrics.ts, last, held)
        sym.states = states  # reference swap: readers see the old or the new dict, never a mix
        with self._lock:
            self._counters["updates"] += 1
            self._counters["signals"] += len(signals)
        smart = results.get(SmartMoneyEngine.name)
        return PipelineOutput(tuple(signals), reading(metrics, smart) if smart else None, results)

    def _remember(self, sym: _SymbolState, metrics: LiveMetrics) -> bool:
        """Advance the symbol's history; False when this update must not be evaluated."""
        try:
            accepted = sym.history.update(metrics)
        except Exception:  # malformed arrays must cost one update, not the metrics thread
            log.warning("engine history rejected an update for %s", metrics.symbol, exc_info=True)
            accepted, counter = False, "history_failures"
        else:
            # An update older than one already seen would rewind windows and cooldowns.
            counter = "stale_updates"
        if not accepted:
            with self._lock:
                self._counters[counter] += 1
        return accepted

    def _run(self, engine: Engine, metrics: LiveMetrics, history: EngineHistory) -> EngineResult | None:
        start = time.perf_counter()  # operational telemetry only, never an input to analytics
        error = ""
        try:
            result = engine.evaluate(metrics, history, self.params[engine.name])
        except Exception as exc:  # one engine's bug must not silence the other six
            result, error = None, f"{type(exc).__name__}: {exc} (symbol {metrics.symbol}, ts {metrics.ts})"
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        with self._lock:
            stats = self._stats[engine.name]
            stats.evaluations += 1
            stats.total_ms += elapsed_ms
            if elapsed_ms > stats.max_ms:
                stats.max_ms = elapsed_ms
            if error:
                if stats.last_error.split(" (symbol")[0] != error.split(" (symbol")[0]:
                    log.warning("engine %s failed: %s", engine.name, error)
                stats.failures += 1
                stats.last_error = error
        return result

    def _episode(self, sym: _SymbolState, name: str, result: EngineResult, m: LiveMetrics) -> Signal | None:
        """Emit when a verdict becomes active (or changes signal), its key is out of cooldown and
        its price pattern (result.episode) is not the one this key last emitted.

        A pattern's evidence on the chain (OI at the level, the dealer-gamma regime) belongs to
        the chain observed with the spot move that showed it. A snapshot brings both at once; a
        broker streams that chain over the following minute. So a verdict that becomes active on
        an update whose chain is not a whole observation (`ChainObservations.settled`) is held
        until the observation that goes with the latest spot move is complete (the one in
        progress if it began after the update before that move, else the next), at most
        `PATTERN_WAIT_S`, and decided on that chain's verdict: the completing update's, or the
        update's before it when the observation closed there or this update brings the next
        spot move. Where the pattern no longer shows at all on that chain (its side scores
        nothing: the spot shape left the engine's window before the chain was whole), nothing
        later speaks to it and it is decided as it was seen. A signal is stamped when the
        pattern first showed. On snapshots every update is a whole observation: nothing waits."""
        held = sym.pending.get(name)
        observations = sym.history.observations
        fresh = result.active and result.signal != sym.episode.get(name)
        if held is None and fresh and not observations.settled:
            # The observation that goes with the latest spot move: the one in progress if it
            # began after the update before that move, else the next one to begin.
            since, moved = observations.in_progress_since, sym.history.spot_moved_after
            stale = since is not None and moved is not None and since <= moved
            held = sym.pending[name] = _Held(result, m, observations.completed + (2 if stale else 1))
        if (
            held is not None
            and observations.completed < held.decides
            and m.ts - held.seen_m.ts < PATTERN_WAIT_S
        ):
            if observations.reporting:
                held.chain = (result, m)
            return None
        sym.pending.pop(name, None)
        at = m.ts
        if held is not None:
            if held.chain is not None and (observations.closed_before or sym.history.spot_moved):
                # The observation ended with the update before, or this update brings the next
                # spot move: the chain observed with the pattern is the one as of that update.
                result, m = held.chain
            if not result.active and not result.side_score(held.seen.direction):
                result, m = held.seen, held.seen_m
            at = held.seen_m.ts if result.signal == held.seen.signal else m.ts
        ongoing = sym.episode.get(name)
        sym.episode[name] = result.signal if result.active else None
        if not result.active or result.signal == ongoing:
            return None
        key = (name, result.signal)
        last = sym.last_emit.get(key)
        if last is not None and at - last < self.config.cooldown_s:
            return None
        # A pattern outlives the cooldown inside a 5-10 minute window; once emitted, it is done.
        if result.episode is not None and sym.last_pattern.get(key) == result.episode:
            return None
        sym.last_emit[key] = at
        if result.episode is not None:
            sym.last_pattern[key] = result.episode
        if at != m.ts:
            spot = float(sym.history.sample("spot", np.array([at]))[0])
            m = replace(m, ts=at, spot=spot if np.isfinite(spot) else m.spot)
        return self._signal(name, result, m)

    def _state_change(
        self, sym: _SymbolState, engine: Engine, result: EngineResult, m: LiveMetrics
    ) -> list[Signal]:
        """Debounce a state engine in event time (see `Debounce`). A change into a state with a
        view is a signal, stamped when the state qualified; a change into NEUTRAL /
        GAMMA_NEUTRAL only updates the tile.

        The reading is a property of the whole chain: it is debounced on the updates that complete
        an observation of the chain, at the time the chain was observed (`ChainObservations`),
        not on a half-updated streamed chain at the moment it happened to cross a threshold. An
        observation that ended with an earlier update is read on that update's chain."""
        name = engine.name
        debounce = sym.debounce.get(name)
        if debounce is None:
            debounce = sym.debounce[name] = Debounce(self.config.state_hold_s, self.config.state_glitch_s)
        observed, chain = sym.history.observed, sym.history.observation_metrics
        if observed is None:
            return []
        if chain is not None and chain is not m:
            then = self._run(engine, chain, sym.history)
            if then is None:
                return []
            result, m = then, chain
        out = []
        reading = result.signal if result.active else None
        for settled in debounce.update(observed, reading, (result, m)):
            if settled.reading is None or settled.reading in NO_VIEW_SIGNALS:
                continue
            key = (name, settled.reading)
            last = sym.last_emit.get(key)
            if last is not None and settled.ts - last < self.config.cooldown_s:
                continue
            sym.last_emit[key] = settled.ts
            result_then, metrics_then = settled.payload
            # Spot as of the moment the state qualified (the latest update's, when that is now).
            spot = float(sym.history.sample("spot", np.array([settled.ts]))[0])
            at = replace(metrics_then, ts=settled.ts, spot=spot if np.isfinite(spot) else metrics_then.spot)
            out.append(self._signal(name, result_then, at))
        return out

    def _signal(self, name: str, result: EngineResult, m: LiveMetrics) -> Signal:
        confidence, source = self._calibrate(name, result.signal, m.symbol, result.raw_score)
        return Signal(
            ts=m.ts,
            symbol=m.symbol,
            engine=name,
            signal=result.signal,
            direction=result.direction,
            confidence=confidence,
            raw_score=result.raw_score,
            strength=result.strength,
            spot_price=m.spot,
            expiry=m.expiry,
            reasons=result.reasons,
            features=dict(result.features),
            confidence_source=source,
        )

    def _calibrate(self, engine: str, signal: str, symbol: str, raw: float) -> tuple[float, str]:
        if self.calibrator is None:
            return raw, "raw"
        try:
            confidence, source = self.calibrator(engine, signal, symbol, raw)
            confidence = float(confidence)
        except Exception:  # a broken calibration table must not stop signals; raw is honest
            log.warning("calibrator failed for %s/%s", engine, signal, exc_info=True)
            with self._lock:
                self._counters["calibrator_failures"] += 1
            return raw, "raw"
        if not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0):
            with self._lock:
                self._counters["calibrator_failures"] += 1
            return raw, "raw"
        return confidence, str(source)

    def states(self, symbol: str) -> dict[str, EngineState]:
        """Latest state per engine for one symbol (empty before its first update)."""
        sym = self._symbols.get(symbol)
        return dict(sym.states) if sym else {}

    def history(self, symbol: str) -> EngineHistory | None:
        sym = self._symbols.get(symbol)
        return sym.history if sym else None

    def health(self) -> dict[str, Any]:
        """Counters and per-engine timings for the System page."""
        with self._lock:
            engines = {
                name: {
                    "evaluations": s.evaluations,
                    "failures": s.failures,
                    "last_error": s.last_error,
                    "mean_ms": s.total_ms / s.evaluations if s.evaluations else None,
                    "max_ms": s.max_ms if s.evaluations else None,
                }
                for name, s in self._stats.items()
            }
            counters = dict(self._counters)
        return {
            **counters,
            "symbols": sorted(self._symbols),
            "cooldown_s": self.config.cooldown_s,
            "engines": engines,
        }


def _engine_params(
    engines: Sequence[Engine], overrides: Mapping[str, Mapping[str, Any]]
) -> dict[str, EngineParams]:
    names = {e.name for e in engines}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(
            f"engine overrides for unknown engine(s) {', '.join(unknown)}; engines: {', '.join(ENGINE_NAMES)}"
        )
    params = {e.name: e.params_type.params_from(overrides.get(e.name)) for e in engines}
    trap, smart = params.get(OptionsTrapEngine.name), params.get(SmartMoneyEngine.name)
    if isinstance(trap, OptionsTrapParams) and isinstance(smart, SmartMoneyParams):
        params[OptionsTrapEngine.name] = replace(trap, smart_money=smart)
    return params
