"""EnginePipeline: episodes and cooldown in event time, per-symbol isolation, failure isolation, output."""

from __future__ import annotations

import uuid
from typing import ClassVar

import pytest

from core.config import EngineConfig
from core.domain import LiveMetrics
from core.engines.base import EngineParams, EngineResult
from core.engines.dealer_gamma import DealerGammaEngine
from core.engines.pipeline import ENGINE_NAMES, EnginePipeline
from core.engines.smart_money import SmartMoneyReading
from core.errors import ConfigError
from tests.core.engines.builders import EXPIRY, T0, make_metrics


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
