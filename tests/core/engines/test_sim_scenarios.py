"""Engines against the simulator's scripted scenarios through the real path: Simulator.batches ->
MarketStateManager -> LiveStructuralEngine every 1 s of event time -> EnginePipeline (default config).

Times are event seconds from the script start, after the simulator's warm-up (FeedConfig.warmup_s,
15 minutes of the baseline market). Each scenario's window is checked in broker delivery, the
default and the way Kite and Upstox deliver a market; sync delivery (whole-chain steps) is checked
by the demo, which fires every signal type in it on both symbols (@slow)."""

from __future__ import annotations

import copy
import copyreg
import threading
from dataclasses import dataclass, field, replace
from functools import lru_cache
from types import MappingProxyType

import pytest

from core.analytics.structural import LiveStructuralEngine
from core.config import AnalyticsConfig, FeedConfig
from core.domain import InstrumentInfo, Signal
from core.engines.pipeline import EnginePipeline
from core.feed.scenarios import ALL_SIGNALS, DEMO_S, SCENARIOS
from core.feed.script import ScriptedScenario
from core.feed.simulator import Simulator
from core.market_calendar import MarketCalendar
from core.state.market_state import MarketStateManager

CAL = MarketCalendar.default()
START = "2026-12-02T10:00:00"  # an ordinary Wednesday, mid-morning
# A state (bias, gamma regime) is stamped when it qualified and emitted once the debounce has
# confirmed it, up to a minute later: runs go this far past a window to see what it stamped.
EMIT_LAG_S = 120.0
EVENT_ENGINES = {
    "LiquidityEngine": ("SWEEP_UP", "SWEEP_DOWN"),
    "GammaSqueezeEngine": ("SQUEEZE_UP", "SQUEEZE_DOWN"),
    "StoplossHuntEngine": ("HUNT_UP", "HUNT_DOWN"),
    "OptionsTrapEngine": ("BULL_TRAP", "BEAR_TRAP"),
    "LiquidityVacuumEngine": ("LIQUIDITY_VACUUM_UP", "LIQUIDITY_VACUUM_DOWN"),
}
PAIRS = [tuple(ALL_SIGNALS[i : i + 2]) for i in range(0, 12, 2)] + [
    ("LIQUIDITY_VACUUM_UP", "LIQUIDITY_VACUUM_DOWN")
]
MIRROR = {a: b for a, b in PAIRS} | {b: a for a, b in PAIRS}
DIRECTION = {
    "UP": "UP",
    "DOWN": "DOWN",
    "BULLISH": "UP",
    "BEARISH": "DOWN",
    "BEAR_TRAP": "UP",
    "BULL_TRAP": "DOWN",
}


@dataclass
class Run:
    """(seconds from the script start, signal) for every signal the pipeline emitted, the pipeline
    itself (for the tiles' states) and each symbol's first spot."""

    signals: list[tuple[float, Signal]] = field(default_factory=list)
    pipeline: EnginePipeline = field(default_factory=EnginePipeline)
    first_spot: dict[str, float] = field(default_factory=dict)


@dataclass
class LivePath:
    """The real path from the feed's batches to the pipeline's signals, one batch at a time."""

    symbols: tuple[str, ...]
    script_start_ts: float
    run: Run = field(default_factory=Run)

    def __post_init__(self) -> None:
        self.state = MarketStateManager(list(self.symbols), calendar=CAL)
        self.metrics = LiveStructuralEngine(AnalyticsConfig(), CAL)
        self.interval = AnalyticsConfig().metrics_interval_s
        self.last: dict[str, float] = {}

    def apply(self, batch: list) -> None:
        self.state.apply(batch)
        for symbol, snap in self.state.publish().items():
            if snap.ts - self.last.get(symbol, float("-inf")) >= self.interval:
                self.last[symbol] = snap.ts
                m = self.metrics.compute(snap)
                self.run.first_spot.setdefault(symbol, m.spot)
                out = self.run.pipeline.evaluate(m).signals
                self.run.signals += [(s.ts - self.script_start_ts, s) for s in out]


def run_scenario(
    scenario: str,
    seconds: float,
    seed: int = 7,
    symbols=("NIFTY",),
    mode: str = "broker",
    warmup_s: float | None = None,
    shared_warmup: bool = False,
) -> Run:
    """Simulate the warm-up (default FeedConfig.warmup_s) and `seconds` of the script.

    A script only starts steering the market once its warm-up is over: until then every script's
    market is the calm one (per seed, symbols and delivery). With `shared_warmup` the path reads that
    warm-up once per test process (for the scenario library, run on one seed) and each run starts
    from a copy of it, after checking that its own warm-up batches are the same, batch for batch
    (the simulator still makes them; the path does not read them again).
    """
    warmup = {} if warmup_s is None else {"warmup_s": warmup_s}
    config = FeedConfig(
        speed=0, seed=seed, scenario=scenario, symbols=symbols, start=START, delivery=mode, **warmup
    )
    sim = Simulator(config, CAL)
    stream = sim.batches(until_ts=sim.script_start_ts + seconds)
    scripted = isinstance(sim.scenario, ScriptedScenario) and sim.scenario.fixed_regime == "calm"
    if shared_warmup and scripted and config.warmup_s > 0:
        warm_batches, warm_path = warm_start(replace(config, scenario="calm"))
        for expected in warm_batches:
            assert next(stream) == expected, "a script changed the market during its warm-up"
        path = copy.deepcopy(warm_path, {id(CAL): CAL})
    else:
        path = LivePath(tuple(symbols), sim.script_start_ts)
    for batch in stream:
        path.apply(batch)
    return path.run


# A copy of the path copies the market state's read-only mappings; its pipeline gets a lock of its own.
copyreg.pickle(MappingProxyType, lambda m: (MappingProxyType, (dict(m),)))
copyreg.pickle(type(threading.Lock()), lambda _: (threading.Lock, ()))


@lru_cache(maxsize=2)  # the scenario library's seed, and the shared warm-up test's
def warm_start(config: FeedConfig) -> tuple[list[list], LivePath]:
    """The calm market's warm-up batches and the path after reading them."""
    sim = Simulator(config, CAL)
    path = LivePath(config.symbols, sim.script_start_ts)
    batches = []
    # A longer run is the same market with more after it: stop at the first batch of the script.
    for batch in sim.batches(until_ts=sim.script_start_ts + 60.0):
        if next(i.ts for i in batch if not isinstance(i, InstrumentInfo)) >= sim.script_start_ts:
            break
        path.apply(batch)
        batches.append(batch)
    return batches, path


def signals_of(scenario: str, seconds: float, **kw) -> list[tuple[float, Signal]]:
    return run_scenario(scenario, seconds, **kw).signals


def expected_direction(signal: str) -> str:
    if signal in DIRECTION:
        return DIRECTION[signal]
    return "UP" if signal.endswith("_UP") else "DOWN" if signal.endswith("_DOWN") else "NONE"


def fingerprint(run: Run) -> str:
    """Everything a run produced, but the signals' random ids (repr: a NaN feature equals itself)."""
    states = {n: replace(s, last_signal=s.last_signal and replace(s.last_signal, id="")) for n, s in
              run.pipeline.states("NIFTY").items()}  # fmt: skip
    return repr(([(t, replace(s, id="")) for t, s in run.signals], run.first_spot, states))


def test_a_run_from_the_shared_warm_up_is_the_run_from_its_own():
    """Two minutes of warm-up, then five of the demo (a sweep, a trap, a squeeze ...): the same
    signals, engine states and spots as reading the whole market."""
    shared = run_scenario("demo", 300, seed=2, warmup_s=120.0, shared_warmup=True)
    own = run_scenario("demo", 300, seed=2, warmup_s=120.0)  # reads its whole market
    assert len(own.signals) >= 3 and fingerprint(shared) == fingerprint(own)


SCRIPTED = [
    name
    for name in SCENARIOS
    if name not in ("calm", "trending", "volatile", "switching", "demo", "gamma_flip_crossing")
]


@pytest.mark.parametrize("name", SCRIPTED)
def test_each_scenario_fires_its_signal_in_its_window(name):
    scenario = SCENARIOS[name]()
    lo, hi = scenario.window
    fired = signals_of(name, hi + EMIT_LAG_S, shared_warmup=True)
    (wanted,) = scenario.signals
    hits = [(t, s) for t, s in fired if s.signal == wanted and lo <= t <= hi]
    assert hits, f"{name}: no {wanted} in {lo}-{hi} s; got {[(round(t), s.signal) for t, s in fired]}"
    assert all(s.direction == expected_direction(wanted) for _, s in hits)
    # The mirror-image signal of the same engine never fires inside the window.
    engine = hits[0][1].engine
    mirror = MIRROR[wanted]
    opposite = [s.signal for t, s in fired if s.engine == engine and lo <= t <= hi and s.signal == mirror]
    assert opposite == []


def test_gamma_flip_crossing_moves_dealers_from_long_to_short_gamma():
    lo, hi = SCENARIOS["gamma_flip_crossing"]().window
    fired = [
        (t, s.signal)
        for t, s in signals_of("gamma_flip_crossing", hi + EMIT_LAG_S, shared_warmup=True)
        if s.engine == "DealerGammaEngine" and lo <= t <= hi
    ]
    regimes = [sig for _, sig in fired]
    assert "LONG_GAMMA" in regimes and "SHORT_GAMMA" in regimes
    assert regimes.index("LONG_GAMMA") < regimes.index("SHORT_GAMMA")
    short = next(t for t, sig in fired if sig == "SHORT_GAMMA")
    assert short > 300  # only once the sell-off has carried spot through the flip


QUIET_SYMBOLS = ("NIFTY", "BANKNIFTY")
QUIET_SEEDS = (1, 3)  # seeds on which OI noise used to fire squeezes and smart-money biases
QUIET_S = 900.0  # the default suite's stretch; the @slow sweep runs SWEEP_S on SWEEP_SEEDS
# Half an hour of both symbols on each of five seeds: five symbol-hours of quiet market per
# scenario, long enough for the 30-minute windows (the sweep's recent range, the smart-money
# flows) to fill. (It ran an hour on ten seeds, then half an hour on ten: a quarter of the suite's
# CPU time.) The demo's warm-up adds a quarter of an hour of calm market on seeds 1-7 (below).
SWEEP_S = 1800.0
SWEEP_SEEDS = range(1, 6)


def quiet_market_violations(name: str, seed: int, seconds: float) -> list[tuple[int, str, str]]:
    """Signals a calm or trending market must not produce, as (second, symbol, signal), over the
    session's first `seconds` (no script: the warm-up is the same market).

    Calm: no event-engine signal and no smart-money bias. Trending: no event-engine signal;
    dealer-gamma regimes are legitimate (spot runs into the put- or call-heavy side of a chain
    whose positions follow it only slowly), and so is a smart-money bias in the trend's direction
    (writers roll their strikes after spot: calls written lower in a fall, puts higher in a
    rally), never one against it.
    """
    run = run_scenario(name, seconds, seed=seed, symbols=QUIET_SYMBOLS, warmup_s=0.0)
    return violations(name, run, run.signals)


def violations(name: str, run: Run, signals: list[tuple[float, Signal]]) -> list[tuple[int, str, str]]:
    """Those of `signals` (of `run`) that a `name` market must not produce (see above)."""
    bad = []
    for t, s in signals:
        wrong = s.engine in EVENT_ENGINES
        if s.signal in ("BULLISH", "BEARISH"):
            trend = "UP" if s.spot_price > run.first_spot[s.symbol] else "DOWN"
            wrong = name == "calm" or s.direction != trend
        if wrong:
            bad.append((round(t), s.symbol, s.signal))
    return bad


@pytest.mark.prefix_of("test_half_an_hour_of_calm_or_trending_market_fires_no_event_engine")
@pytest.mark.parametrize("seed", QUIET_SEEDS)
@pytest.mark.parametrize("name", ["calm", "trending"])
def test_calm_and_trending_markets_fire_no_event_engine(name, seed):
    assert quiet_market_violations(name, seed, QUIET_S) == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", SWEEP_SEEDS)
@pytest.mark.parametrize("name", ["calm", "trending"])
def test_half_an_hour_of_calm_or_trending_market_fires_no_event_engine(name, seed):
    assert quiet_market_violations(name, seed, SWEEP_S) == []


def test_calm_market_with_slightly_negative_net_gex_fires_no_squeeze():
    """Seed 1: net GEX hovers just under zero in a calm tape (g ~ -0.03). That is no short-gamma
    regime, and ordinary OI drift is no option buying, so the squeeze engine stays quiet; no bias,
    no regime: the tiles hold NEUTRAL and GAMMA_NEUTRAL, which are states, never signals."""
    run = run_scenario("calm", 900, seed=1, warmup_s=0.0)
    assert run.signals == []
    states = run.pipeline.states("NIFTY")
    assert (states["SmartMoneyEngine"].held, states["DealerGammaEngine"].held) == ("NEUTRAL", "GAMMA_NEUTRAL")


def test_calm_market_keeps_the_flow_imbalance_alert_rare():
    """With OI drifting smoothly, |flow_imbalance| > 0.6 (FLOW_IMBALANCE_SPIKE) is the exception in
    a calm market; per-strike noise of +-1.5 % per update had it on 60-90 % of the time."""
    sim = Simulator(FeedConfig(speed=0, seed=3, scenario="calm", symbols=QUIET_SYMBOLS, start=START), CAL)
    state = MarketStateManager(list(QUIET_SYMBOLS), calendar=CAL)
    metrics = LiveStructuralEngine(AnalyticsConfig(), CAL)
    extreme: dict[str, list[bool]] = {s: [] for s in QUIET_SYMBOLS}
    for i, batch in enumerate(sim.batches(until_ts=sim.start_ts + 900)):
        state.apply(batch)
        snaps = state.publish()
        if i % 10 == 0:  # every 5 s of event time
            for symbol, snap in snaps.items():
                m = metrics.compute(snap)
                if m.flow_imbalance is not None:
                    extreme[symbol].append(abs(m.flow_imbalance) > 0.6)
    for symbol, flags in extreme.items():
        assert len(flags) > 100 and sum(flags) / len(flags) < 0.3, symbol


def assert_demo_shows_every_signal(seed: int, mode: str = "broker") -> None:
    run = run_scenario("demo", DEMO_S + EMIT_LAG_S, seed=seed, symbols=QUIET_SYMBOLS, mode=mode)
    # The warm-up before the script is the calm market of this seed: it fires nothing either.
    assert violations("calm", run, [(t, s) for t, s in run.signals if t < 0]) == []
    for symbol in QUIET_SYMBOLS:
        seen = {s.signal for t, s in run.signals if s.symbol == symbol and 0 <= t <= DEMO_S}
        assert set(ALL_SIGNALS) <= seen, f"seed {seed} {symbol} missing {sorted(set(ALL_SIGNALS) - seen)}"
        held = {name: state.held for name, state in run.pipeline.states(symbol).items() if state.held}
        assert {"SmartMoneyEngine", "DealerGammaEngine"} <= set(held)  # the tiles show the states


def test_demo_shows_every_signal_type_within_its_twenty_minutes_on_each_symbol():
    assert DEMO_S == SCENARIOS["demo"]().window[1] == SCENARIOS["demo"]().seconds == 1200
    assert_demo_shows_every_signal(7)  # the default seed


@pytest.mark.slow
def test_demo_shows_every_signal_type_in_sync_delivery():
    assert_demo_shows_every_signal(7, "sync")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 7))
def test_demo_shows_every_signal_type_on_other_seeds(seed):
    assert_demo_shows_every_signal(seed)
