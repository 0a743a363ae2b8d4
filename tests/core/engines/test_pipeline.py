"""EnginePipeline: episodes and cooldown in event time, per-symbol isolation, failure isolation, output."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pytest

from core.config import EngineConfig
from core.domain import LiveMetrics, frozen_array
from core.engines.base import EngineParams, EngineResult, Scorecard
from core.engines.dealer_gamma import DealerGammaEngine
from core.engines.pipeline import ENGINE_NAMES, PATTERN_WAIT_S, EnginePipeline
from core.engines.smart_money import SmartMoneyReading
from core.errors import ConfigError
from tests.core.engines.builders import EXPIRY, STRIKES, T0, make_metrics


class Threshold:
    """Active while spot is above 25000 (UP_SIG) or below 24000 (DOWN_SIG): a pure scripted engine."""

    name: ClassVar[str] = "Threshold"
    params_type: ClassVar[type[EngineParams]] = EngineParams

    def evaluate(self, metrics: LiveMetrics, history, params=None) -> EngineResult:
        if metrics.spot > 25000:
            return EngineResult("UP_SIG", "UP", 0.7, 0.4, ("above",), {"spot": metrics.spot}, True)
        if metrics.spot < 24000:
            return EngineResult("DOWN_SIG", "DOWN", 0.6, 0.6, ("below",), {}, True)
        return EngineResult.inactive({})


class Boom:
    name: ClassVar[str] = "Boom"
    params_type: ClassVar[type[EngineParams]] = EngineParams

    def evaluate(self, metrics, history, params=None) -> EngineResult:
        raise ZeroDivisionError("bad metrics")


def at(ts_offset: float, spot: float, symbol: str = "NIFTY") -> LiveMetrics:
    return make_metrics(ts=T0 + ts_offset, spot=spot, symbol=symbol)


def emitted(
    pipe: EnginePipeline, steps: list[tuple[float, float]], symbol: str = "NIFTY"
) -> list[tuple[float, str]]:
    out = []
    for offset, spot in steps:
        out += [(s.ts - T0, s.signal) for s in pipe.evaluate(at(offset, spot, symbol)).signals]
    return out


def test_engine_names_in_spec_order():
    assert ENGINE_NAMES == (
        "LiquidityEngine",
        "StoplossHuntEngine",
        "SmartMoneyEngine",
        "GammaSqueezeEngine",
        "OptionsTrapEngine",
        "DealerGammaEngine",
        "LiquidityVacuumEngine",
    )


def test_episode_emits_once_and_cooldown_is_event_time():
    pipe = EnginePipeline(engines=[Threshold()])
    steps = [
        (0, 25100),
        (1, 25100),
        (10, 24500),
        (20, 25100),
        (30, 24500),
        (130, 25100),
        (131, 25200),
        (400, 25100),
    ]
    assert emitted(pipe, steps) == [(0, "UP_SIG"), (130, "UP_SIG")]


class Pattern:
    """Active while spot is above 25000; the pattern's identity is spot rounded to hundreds."""

    name: ClassVar[str] = "Pattern"
    params_type: ClassVar[type[EngineParams]] = EngineParams

    def evaluate(self, metrics: LiveMetrics, history, params=None) -> EngineResult:
        if metrics.spot > 25000:
            episode = float(round(metrics.spot, -2))
            return EngineResult("UP_SIG", "UP", 0.7, 0.4, (), {}, True, episode)
        return EngineResult.inactive({})


def test_a_pattern_is_emitted_once_even_when_it_outlives_the_cooldown():
    pipe = EnginePipeline(engines=[Pattern()])
    # The same pattern (25100) drops out and comes back after the cooldown: not emitted again;
    # a new pattern (25300) after the cooldown is.
    steps = [(0, 25100), (10, 24500), (200, 25110), (210, 24500), (400, 25300)]
    assert emitted(pipe, steps) == [(0, "UP_SIG"), (400, "UP_SIG")]


def test_cooldown_is_configurable_and_ends_exactly_at_cooldown_s():
    pipe = EnginePipeline(EngineConfig(cooldown_s=10.0), engines=[Threshold()])
    steps = [(0, 25100), (5, 24500), (9, 25100), (9.5, 24500), (10, 25100)]
    assert emitted(pipe, steps) == [(0, "UP_SIG"), (10, "UP_SIG")]


def test_each_signal_has_its_own_cooldown():
    pipe = EnginePipeline(engines=[Threshold()])
    # DOWN_SIG is not muted by UP_SIG; UP_SIG at 8 s is still inside its own cooldown.
    assert emitted(pipe, [(0, 25100), (5, 23900), (8, 25100)]) == [(0, "UP_SIG"), (5, "DOWN_SIG")]


def test_one_symbol_never_mutes_another():
    pipe = EnginePipeline(engines=[Threshold()])
    assert emitted(pipe, [(0, 25100)], "NIFTY") == [(0, "UP_SIG")]
    assert emitted(pipe, [(5, 25100)], "BANKNIFTY") == [(5, "UP_SIG")]
    assert emitted(pipe, [(6, 24500), (7, 25100)], "NIFTY") == []


def test_a_raising_engine_is_isolated_and_counted():
    pipe = EnginePipeline(engines=[Boom(), Threshold()])
    out = pipe.evaluate(at(0, 25100))
    assert [s.engine for s in out.signals] == ["Threshold"] and "Boom" not in out.results
    pipe.evaluate(at(1, 25100))
    health = pipe.health()
    assert health["engines"]["Boom"]["failures"] == 2
    assert health["engines"]["Boom"]["last_error"].startswith("ZeroDivisionError: bad metrics")
    assert health["engines"]["Threshold"] == {
        **health["engines"]["Threshold"],
        "failures": 0,
        "evaluations": 2,
    }
    assert health["engines"]["Threshold"]["max_ms"] >= health["engines"]["Threshold"]["mean_ms"] >= 0


def test_signal_fields():
    pipe = EnginePipeline(engines=[Threshold()])
    (sig,) = pipe.evaluate(at(0, 25100)).signals
    assert uuid.UUID(sig.id).version == 4
    assert (sig.ts, sig.symbol, sig.expiry, sig.engine, sig.signal, sig.direction) == (
        T0,
        "NIFTY",
        EXPIRY,
        "Threshold",
        "UP_SIG",
        "UP",
    )
    assert (sig.raw_score, sig.strength, sig.confidence, sig.confidence_source) == (0.7, 0.4, 0.7, "raw")
    assert sig.spot_price == 25100 and sig.reasons == ("above",) and sig.features == {"spot": 25100}


def test_calibrator_sets_confidence_and_its_failures_fall_back_to_raw():
    seen = []

    def calibrate(engine, signal, symbol, raw):
        seen.append((engine, signal, symbol, raw))
        return 0.73, "calibrated"

    (sig,) = EnginePipeline(calibrator=calibrate, engines=[Threshold()]).evaluate(at(0, 25100)).signals
    assert (sig.confidence, sig.confidence_source, sig.raw_score) == (0.73, "calibrated", 0.7)
    assert seen == [("Threshold", "UP_SIG", "NIFTY", 0.7)]

    def broken(*_):
        raise KeyError("table")

    for bad in (broken, lambda *_: (1.7, "calibrated")):
        pipe = EnginePipeline(calibrator=bad, engines=[Threshold()])
        (sig,) = pipe.evaluate(at(0, 25100)).signals
        assert (sig.confidence, sig.confidence_source) == (0.7, "raw")
        assert pipe.health()["calibrator_failures"] == 1


def test_states_keep_the_last_emitted_signal():
    pipe = EnginePipeline(engines=[Threshold()])
    assert pipe.states("NIFTY") == {}
    pipe.evaluate(at(0, 25100))
    pipe.evaluate(at(3, 24500))
    state = pipe.states("NIFTY")["Threshold"]
    assert not state.result.active and state.updated_ts == T0 + 3
    assert state.last_signal.signal == "UP_SIG" and state.last_signal_ts == T0


def test_out_of_order_update_is_skipped():
    pipe = EnginePipeline(engines=[Threshold()])
    pipe.evaluate(at(10, 24500))
    assert pipe.evaluate(at(5, 25100)).signals == ()
    assert pipe.health()["stale_updates"] == 1


def test_overrides_reach_the_engines_and_unknown_names_fail():
    pipe = EnginePipeline(EngineConfig(overrides={"LiquidityEngine": {"w_pierce": 0.5}}))
    assert (
        pipe.params["LiquidityEngine"].w_pierce == 0.5 and pipe.params["StoplossHuntEngine"].w_spike == 0.35
    )
    with pytest.raises(ConfigError, match="LiquidityEngin\\b"):
        EnginePipeline(EngineConfig(overrides={"LiquidityEngin": {}}))
    with pytest.raises(ConfigError, match="w_pierse"):
        EnginePipeline(EngineConfig(overrides={"LiquidityEngine": {"w_pierse": 0.4}}))


def test_smart_money_reading_every_evaluation():
    pipe = EnginePipeline()
    for i in range(3):
        out = pipe.evaluate(make_metrics(ts=T0 + i, pcr_oi=1.2))
        assert isinstance(out.smart_money, SmartMoneyReading) and out.smart_money.ts == T0 + i
        assert set(out.results) == set(ENGINE_NAMES)


def test_dealer_gamma_emits_a_held_regime_change_and_neutral_only_as_the_tile_state():
    """Regimes are debounced (state_hold_s, here 120 s): a regime is emitted once it has held, stamped
    when it qualified; GAMMA_NEUTRAL updates the tile's state but is never a signal; a regime
    lasting less than the hold (the 60 s short blip) is never emitted. The first update only
    establishes the chain's legs (a first observation is never a reading): the long regime is
    read from 1 s, so it qualifies at 121 s."""
    pipe = EnginePipeline(EngineConfig(state_hold_s=120.0), engines=[DealerGammaEngine()])
    regimes = [3e9] * 150 + [0.5e9] * 200 + [-4e9] * 60 + [0.5e9] * 200 + [-4e9] * 200
    out = []
    for i, net in enumerate(regimes):
        out += [
            (i, s.ts - T0, s.signal)
            for s in pipe.evaluate(make_metrics(ts=T0 + i, net_gex=net, gross_gex=10e9)).signals
        ]
    # Stamped when they qualified; emitted once no flicker (state_glitch_s, 60 s) can undo them.
    assert out == [(181, 121.0, "LONG_GAMMA"), (610 + 180, 610.0 + 120, "SHORT_GAMMA")]
    state = pipe.states("NIFTY")["DealerGammaEngine"]
    assert state.held == "SHORT_GAMMA" and state.last_signal.signal == "SHORT_GAMMA"


def test_a_state_that_held_between_two_sparse_updates_is_emitted_when_it_qualified():
    """Snapshots five minutes apart: the regime seen at 0 s and still at 300 s qualified at 120 s,
    as a streamed feed of the same market would have emitted it; a single changed snapshot that
    is gone at the next one also held (300 s > hold), so it is emitted too. (The snapshot at
    -300 s only establishes the chain's legs: a first observation is never a reading.)"""
    pipe = EnginePipeline(EngineConfig(state_hold_s=120.0), engines=[DealerGammaEngine()])
    out = []
    for i, net in enumerate((3e9, 3e9, 3e9, -4e9, 0.5e9, 0.5e9), start=-1):
        m = make_metrics(ts=T0 + 300 * i, net_gex=net, gross_gex=10e9, ret_5m=-0.001)
        out += [(s.ts - T0, s.signal, s.direction) for s in pipe.evaluate(m).signals]
    assert out == [(120.0, "LONG_GAMMA", "NONE"), (720.0, "SHORT_GAMMA", "DOWN")]
    assert pipe.states("NIFTY")["DealerGammaEngine"].held == "GAMMA_NEUTRAL"


def test_an_update_the_history_cannot_take_is_counted_not_raised():
    pipe = EnginePipeline(engines=[Threshold()])
    broken = make_metrics(ts=T0, spot=25100.0, strikes=None)  # not an array: len() fails inside history
    assert pipe.evaluate(broken).signals == ()
    assert pipe.health()["history_failures"] == 1 and pipe.history("NIFTY").last_ts is None
    assert [s.signal for s in pipe.evaluate(at(1, 25100)).signals] == ["UP_SIG"]


def test_a_gamma_ratio_hovering_at_the_band_is_no_regime_change():
    """g alternating 0.14 / 0.16 every 30 s never holds long enough to change the regime."""
    pipe = EnginePipeline(engines=[DealerGammaEngine()])
    out = []
    for i in range(900):
        g = 0.05 if i < 200 else (0.16 if (i // 30) % 2 else 0.14)
        out += pipe.evaluate(make_metrics(ts=T0 + i, net_gex=g * 10e9, gross_gex=10e9)).signals
    assert out == [] and pipe.states("NIFTY")["DealerGammaEngine"].held == "GAMMA_NEUTRAL"


def test_a_flicker_shorter_than_the_glitch_time_does_not_reset_the_hold():
    """A half-updated chain flips the reading for 20 s in the middle of a regime: it still settles
    at start + hold (the first update only establishes the chain's legs, so the regime starts at
    1 s); with no glitch allowance the same flicker restarts the hold."""
    regimes = [-4e9] * 100 + [0.5e9] * 20 + [-4e9] * 200

    def emitted(config: EngineConfig) -> list[float]:
        pipe = EnginePipeline(config, engines=[DealerGammaEngine()])
        return [
            s.ts - T0
            for i, net in enumerate(regimes)
            for s in pipe.evaluate(make_metrics(ts=T0 + i, net_gex=net, gross_gex=10e9)).signals
        ]

    assert emitted(EngineConfig(state_hold_s=120.0, state_glitch_s=60.0)) == [121.0]
    assert emitted(EngineConfig(state_hold_s=120.0, state_glitch_s=0.0)) == [240.0]


class Evidence:
    """A pattern engine with chain evidence: spot above 25000 is the pattern (0.4), a put-call
    ratio above 1 on the chain the evidence (0.3); active from 0.5, so only with both."""

    name: ClassVar[str] = "Evidence"
    params_type: ClassVar[type[EngineParams]] = EngineParams

    def evaluate(self, metrics: LiveMetrics, history, params=None) -> EngineResult:
        card = Scorecard()
        if metrics.spot > 25000:
            card.add("up", "pattern", 0.4)
            card.add("up", "evidence", 0.3, (metrics.pcr_oi or 0.0) > 1.0)
        return card.decide(0.5, "UP_SIG", "DOWN_SIG", {})


def streamed(ts_offset: float, spot: float, legs_at: float | list[float], pcr: float = 1.2) -> LiveMetrics:
    """The chain as a stream leaves it at `ts_offset`: each leg (calls, then puts, `legs_at` one
    time for all or one per leg) last reported at `legs_at`, its put-call ratio `pcr`."""
    m = replace(at(ts_offset, spot), pcr_oi=pcr)
    n = len(m.strikes)
    times = T0 + np.broadcast_to(np.asarray(legs_at, dtype=float), (2 * n,))
    return replace(m, call_ts=frozen_array(times[:n]), put_ts=frozen_array(times[n:]))


def pattern_run(steps: list[tuple]) -> list[tuple[float, str, float]]:
    """(update offset, signal, stamp offset) the Evidence engine emits on `steps` (streamed args)."""
    pipe = EnginePipeline(engines=[Evidence()])
    out = []
    for offset, *rest in steps:
        out += [(offset, s.signal, s.ts - T0) for s in pipe.evaluate(streamed(offset, *rest)).signals]
    return out


OBSERVED = [(0, 24500, 0), (60, 24500, 60)]  # two whole observations: the chain's legs known


def test_a_pattern_on_a_partly_streamed_chain_is_decided_on_the_chain_observed_with_it():
    """Streamed, the spot move that completes a pattern arrives before the chain observed with
    it: the verdict waits for that observation and is decided on its verdict, stamped when the
    pattern first showed."""
    # Active at 120 s on the 60 s chain; the 120 s chain, whole at 150 s, confirms it.
    assert pattern_run([*OBSERVED, (120, 25100, 60), (150, 25100, 120)]) == [(150, "UP_SIG", 120.0)]
    # The whole 120 s chain refutes the evidence while the pattern still shows: never emitted.
    assert pattern_run([*OBSERVED, (120, 25100, 60), (150, 25100, 120, 0.8)]) == []
    # The pattern left before the chain was whole (its side scores nothing): decided as seen.
    assert pattern_run([*OBSERVED, (120, 25100, 60), (150, 24500, 120, 0.8)]) == [(150, "UP_SIG", 120.0)]
    # No observation completes: decided PATTERN_WAIT_S after it showed.
    waited = [*OBSERVED, (120, 25100, 60), (150, 25100, 60), (120 + PATTERN_WAIT_S, 25100, 60)]
    assert pattern_run(waited) == [(120 + PATTERN_WAIT_S, "UP_SIG", 120.0)]
    # The same chain delivered whole with the spot move: decided at once.
    assert pattern_run([*OBSERVED, (120, 25100, 120)]) == [(120, "UP_SIG", 120.0)]


def test_a_spot_tick_amid_a_streaming_chain_waits_for_the_observation_after_it():
    """A spot tick while an observation is still arriving belongs with the next one: the
    observation in progress, closed when one of its legs reports again, does not decide it."""
    n = 2 * len(STRIKES)
    early, middle = n * 2 // 5, n * 2 // 5  # two fifths each, then the last fifth of the legs

    def legs(a: float, b: float, c: float) -> list[float]:
        return [a] * early + [b] * middle + [c] * (n - early - middle)

    steps = [
        *OBSERVED,
        (80, 24500, legs(80, 60, 60)),  # an observation begins arriving
        (100, 24500, legs(80, 100, 60)),  # ... its last fifth does not report this time
        (120, 25100, legs(80, 100, 60)),  # the spot move: the pattern shows
        (125, 25100, legs(125, 100, 60)),  # the first legs again: the 80 s observation closes
    ]
    whole = legs(125, 130, 130)  # the 125 s observation completes
    assert pattern_run([*steps, (130, 25100, whole, 0.8)]) == []  # refuted by the chain after it
    assert pattern_run([*steps, (130, 25100, whole)]) == [(130, "UP_SIG", 120.0)]


def test_an_update_that_completes_the_chain_with_the_next_spot_move_is_not_read_for_the_pattern():
    """The last legs of the observation and the next spot move arrive together: the pattern is
    decided on the chain as of the update before (here refuting it), not on the new spot, where
    it no longer shows and would be decided as first seen."""
    n = 2 * len(STRIKES)
    k = n * 2 // 5
    part = [140.0] * k + [60.0] * (n - k)  # two fifths of the 120 s chain
    rest = [140.0] * k + [150.0] * (n - k)  # ... and the rest: the observation completes
    steps = [*OBSERVED, (120, 25100, 60), (140, 25100, part, 0.8)]
    assert pattern_run([*steps, (150, 24500, rest, 0.8)]) == []
    # Had the update before confirmed it, the pattern is emitted, stamped when it showed.
    assert pattern_run([*OBSERVED, (120, 25100, 60), (140, 25100, part), (150, 24500, rest)]) == [
        (150, "UP_SIG", 120.0)
    ]
