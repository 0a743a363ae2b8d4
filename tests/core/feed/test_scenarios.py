"""Scenario library: each scripted market shows its phenomenon in the raw ticks, deterministically,
whichever way the simulator delivers it (broker: leg by leg; sync: whole-chain steps). Times are
seconds from the script start, which follows the simulator's warm-up (FeedConfig.warmup_s)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
import pytest

from core.config import FeedConfig
from core.domain import InstrumentInfo, Tick
from core.errors import ConfigError
from core.feed import market_model as mm
from core.feed.scenarios import SCENARIOS, ScriptedScenario
from core.feed.simulator import Simulator, scenario_for
from core.market_calendar import MarketCalendar

CAL = MarketCalendar.default()
START = "2026-12-02T10:00:00"
MODES = ("broker", "sync")
QUOTE = ("bid", "ask", "bid_qty", "ask_qty")


@dataclass(frozen=True)
class Frame:
    """The front expiry of one symbol, once a second: what a trader's screen would show."""

    t: float  # seconds from the start
    spot: float
    strikes: np.ndarray
    call_oi: np.ndarray
    put_oi: np.ndarray
    call_ltp: np.ndarray
    put_ltp: np.ndarray
    depth: float  # bid + ask quantity, ATM +- 3 strikes, both rights
    spread: float  # mean relative spread over the same legs
    volume: float  # day volume of the whole front expiry

    def support(self) -> float:
        below = self.strikes <= self.spot
        return float(self.strikes[below][np.argmax(self.put_oi[below])])

    def resistance(self) -> float:
        above = self.strikes >= self.spot
        return float(self.strikes[above][np.argmax(self.call_oi[above])])

    def oi(self, right: str, strike: float) -> float:
        return float((self.call_oi if right == "CE" else self.put_oi)[self.strikes == strike][0])

    def near_mix(self) -> float:
        """ln(put OI / call OI) within about three strikes of spot."""
        w = np.exp(-0.5 * ((self.strikes - self.spot) / (3 * np.min(np.diff(self.strikes)))) ** 2)
        return math.log(np.sum(self.put_oi * w) / np.sum(self.call_oi * w))


def batches(name: str, seconds: float, seed: int = 7, symbol: str = "NIFTY", mode: str = "broker"):
    config = FeedConfig(speed=0, seed=seed, scenario=name, symbols=(symbol,), start=START, delivery=mode)
    sim = Simulator(config, CAL)
    return sim.script_start_ts, sim.batches(until_ts=sim.script_start_ts + seconds)


def keep_quote(old: Tick | None, new: Tick) -> Tick:
    """A screen keeps showing a leg's last quote when a tick comes without one."""
    if old is None or all(getattr(new, f) is not None for f in QUOTE):
        return new
    return replace(new, **{f: getattr(old, f) for f in QUOTE if getattr(new, f) is None})


# Index ticks move by drift after a calm warm-up: no step between two of them is a gap (calm 1 s
# sd is ~0.003 %). The trending and volatile regimes jump now and then, by design.
MAX_INDEX_STEP = 0.0012  # |ln| between consecutive index ticks


def horizon(name: str) -> float:
    """How long each scenario's market is read: its whole script, and at least 12 minutes."""
    return max(720.0, getattr(scenario_for(name), "seconds", 0.0))


@dataclass(frozen=True)
class Recording:
    frames: tuple[Frame, ...]
    max_index_step: float  # the largest |ln| step between consecutive index ticks


@cache  # one market per scenario and delivery, read once by every test of it in this process
def record(name: str, mode: str = "broker", seed: int = 7) -> Recording:
    start, stream = batches(name, horizon(name), seed, mode=mode)
    legs: dict[tuple[float, str], Tick] = {}
    front, spot, frames, last = None, math.nan, [], -math.inf
    max_step = 0.0
    for batch in stream:
        for item in batch:
            if isinstance(item, InstrumentInfo):
                front = item.expiries[0]
            elif type(item) is Tick:
                if not item.right:
                    if not math.isnan(spot):  # not the first index tick
                        max_step = max(max_step, abs(math.log(item.ltp / spot)))
                    spot = item.ltp
                elif item.expiry == front:
                    key = (item.strike, item.right)
                    legs[key] = keep_quote(legs.get(key), item)
        ts = next(i.ts for i in batch if type(i) is Tick)
        if ts - last >= 1.0:
            last = ts
            frames.append(_frame(ts - start, spot, legs))
    return Recording(tuple(frames), max_step)


def tape(name: str, mode: str) -> tuple[Frame, ...]:
    """The front expiry once a second over the scenario's horizon, from a market whose prices never
    teleported (each scenario's own test checks that of its market, which it reads anyway)."""
    recording = record(name, mode)
    assert recording.max_index_step < MAX_INDEX_STEP, f"{name} ({mode}): spot jumped"
    return recording.frames


def _frame(t: float, spot: float, legs: dict) -> Frame:
    strikes = np.array(sorted({k for k, _ in legs}))

    def col(right: str, attr: str) -> np.ndarray:
        return np.array([getattr(legs[(k, right)], attr) for k in strikes], dtype=float)

    step = float(np.min(np.diff(strikes)))
    near = [legs[(k, r)] for k in strikes if abs(k - spot) <= 3.5 * step for r in ("CE", "PE")]
    depth = sum(x.bid_qty + x.ask_qty for x in near)
    spread = float(np.mean([(x.ask - x.bid) / (0.5 * (x.ask + x.bid)) for x in near]))
    volume = float(col("CE", "volume").sum() + col("PE", "volume").sum())
    return Frame(
        t,
        spot,
        strikes,
        col("CE", "oi"),
        col("PE", "oi"),
        col("CE", "ltp"),
        col("PE", "ltp"),
        depth,
        spread,
        volume,
    )


def at(frames: tuple[Frame, ...], t: float) -> Frame:
    return min(frames, key=lambda f: abs(f.t - t))


def spots(frames, lo: float, hi: float) -> np.ndarray:
    return np.array([f.spot for f in frames if lo <= f.t <= hi])


def sigma_1m(frames, end: float) -> float:
    grid = [at(frames, t).spot for t in np.arange(0.0, end + 1e-9, 60.0)]
    return float(np.std(np.diff(np.log(grid)), ddof=1))


def test_registry_lists_every_scenario_with_a_description_and_builds_it_fresh():
    wanted = {
        "calm", "trending", "volatile", "liquidity_sweep_support", "liquidity_sweep_resistance",
        "stop_hunt_down", "stop_hunt_up", "gamma_squeeze_up", "gamma_squeeze_down", "bull_trap",
        "bear_trap", "liquidity_vacuum_up", "liquidity_vacuum_down", "gamma_flip_crossing",
        "put_writing_wave", "call_writing_wave", "demo",
    }  # fmt: skip
    assert wanted <= set(SCENARIOS)
    for name, spec in SCENARIOS.items():
        assert spec.description and "\n" not in spec.description
        scenario = scenario_for(name)
        assert scenario.name == name and scenario is not scenario_for(name)
    with pytest.raises(ConfigError, match="liquidity_sweep_support.*demo"):
        scenario_for("meltdown")
    sim = Simulator(FeedConfig(scenario="bull_trap", start=START), CAL)
    assert isinstance(sim.scenario, ScriptedScenario) and "scenario=bull_trap" in sim.describe()


def test_scripted_market_is_deterministic_by_seed_and_replays_on_every_run():
    # Two minutes of warm-up: the property does not depend on its length (the default is 15).
    config = FeedConfig(speed=0, seed=5, scenario="demo", start=START, warmup_s=120.0)
    sim = Simulator(config, CAL)
    first = list(sim.batches(until_ts=sim.script_start_ts + 120))
    assert sim.script_start_ts > sim.start_ts and any(type(t) is Tick for t in first[-1])
    assert list(sim.batches(until_ts=sim.script_start_ts + 120)) == first  # levels re-pinned, same script
    other = Simulator(replace(config, seed=6), CAL)
    assert [t for b in other.batches(until_ts=other.script_start_ts + 120) for t in b if type(t) is Tick] != [
        t for b in first for t in b if type(t) is Tick
    ]


SWEEPS = [("liquidity_sweep_support", 1), ("liquidity_sweep_resistance", -1)]
HUNTS = [("stop_hunt_down", -1), ("stop_hunt_up", 1)]
VACUUMS = [("liquidity_vacuum_up", 1), ("liquidity_vacuum_down", -1)]
SQUEEZES = [("gamma_squeeze_up", 1), ("gamma_squeeze_down", -1)]
TRAPS = [("bull_trap", 1), ("bear_trap", -1)]
WAVES = [("put_writing_wave", 1), ("call_writing_wave", -1)]
# The scripted markets the tests below read through tape(), which checks their steps too.
TAPED = {name for cases in (SWEEPS, HUNTS, VACUUMS, SQUEEZES, TRAPS, WAVES) for name, _ in cases}
TAPED.add("gamma_flip_crossing")


@pytest.mark.parametrize(
    "name",
    ["calm", *(n for n in SCENARIOS if isinstance(scenario_for(n), ScriptedScenario) and n not in TAPED)],
)
@pytest.mark.parametrize("mode", MODES)
def test_prices_never_teleport(name, mode):
    assert record(name, mode).max_index_step < MAX_INDEX_STEP


@pytest.mark.parametrize("name,side", SWEEPS)
@pytest.mark.parametrize("mode", MODES)
def test_sweep_pierces_the_wall_by_a_tenth_of_a_percent_and_is_back_within_three_minutes(name, side, mode):
    frames = tape(name, mode)
    before = at(frames, 265)
    level = before.support() if side == 1 else before.resistance()
    assert abs(before.spot - level) / level < 0.002  # it had come down (up) onto the wall
    path = spots(frames, 265, 480)
    beyond = side * (level - path) / level  # > 0 on the far side of the level
    first = int(np.argmax(beyond > 0))
    assert beyond.max() >= 0.001
    back = np.flatnonzero(beyond[first:] < 0)
    assert len(back) and back[0] <= 180  # one frame a second


@pytest.mark.parametrize("name,side", HUNTS)
@pytest.mark.parametrize("mode", MODES)
def test_stop_hunt_spikes_three_sigma_through_the_wall_within_a_minute_and_retraces(name, side, mode):
    frames = tape(name, mode)
    sigma = sigma_1m(frames, 360)
    start = at(frames, 360)
    level = start.support() if side == -1 else start.resistance()
    path = spots(frames, 360, 420)
    extreme = path.min() if side == -1 else path.max()
    assert abs(math.log(extreme / start.spot)) >= 3 * max(sigma, 0.0002)
    assert side * (extreme - level) > 0  # through the wall
    after = spots(frames, 420, 660)
    retrace = (after.max() - extreme) if side == -1 else (extreme - after.min())
    assert retrace >= 0.6 * abs(start.spot - extreme)


@pytest.mark.parametrize("name,side", VACUUMS)
@pytest.mark.parametrize("mode", MODES)
def test_vacuum_empties_the_near_money_book_widens_spreads_and_moves_fast(name, side, mode):
    frames = tape(name, mode)
    calm = [f for f in frames if 60 <= f.t <= 385]
    depth, spread = np.median([f.depth for f in calm]), np.median([f.spread for f in calm])
    thin = at(frames, 430)
    assert thin.depth < 0.3 * depth and thin.spread > 2 * spread
    move = math.log(at(frames, 450).spot / at(frames, 410).spot)
    assert side * move > 2 * sigma_1m(frames, 380)
    assert at(frames, 660).depth > 0.7 * depth  # the books refill


@pytest.mark.parametrize("name,side", SQUEEZES)
@pytest.mark.parametrize("mode", MODES)
def test_squeeze_piles_puts_near_the_money_then_chases_half_a_percent(name, side, mode):
    frames = tape(name, mode)
    assert at(frames, 0).near_mix() < 0.3 < 0.5 < at(frames, 120).near_mix()  # put-heavy: short gamma
    assert at(frames, 300).near_mix() > 0.5  # ... for the whole 5-minute setup
    assert side * math.log(at(frames, 540).spot / at(frames, 240).spot) > 0.003  # 5-minute momentum
    right = "CE" if side == 1 else "PE"
    f0, f1 = at(frames, 300), at(frames, 540)
    atm = f0.strikes[np.argmin(np.abs(f0.strikes - f0.spot))]
    band = [atm + side * k * (f0.strikes[1] - f0.strikes[0]) for k in range(4)]
    assert sum(f1.oi(right, k) for k in band) > 1.05 * sum(f0.oi(right, k) for k in band)  # bought


@pytest.mark.parametrize("name,side", TRAPS)
@pytest.mark.parametrize("mode", MODES)
def test_trap_breaks_out_on_thin_volume_against_writers_and_fails_within_ten_minutes(name, side, mode):
    frames = tape(name, mode)
    f0 = at(frames, 235)
    level = f0.resistance() if side == 1 else f0.support()
    beyond = side * (spots(frames, 235, 620) - level) / level
    assert beyond.max() >= 0.002
    cross = 235 + int(np.argmax(beyond > 0))
    assert beyond[-1] < 0 and (620 - cross) <= 600  # back on the near side within 10 minutes
    right = "CE" if side == 1 else "PE"
    assert at(frames, 560).oi(right, level) > at(frames, cross).oi(right, level)  # writers sell it
    rate_before = (at(frames, cross).volume - at(frames, cross - 120).volume) / 120
    rate_during = (at(frames, cross + 120).volume - at(frames, cross).volume) / 120
    assert rate_during < rate_before


@pytest.mark.parametrize("mode", MODES)
def test_flip_crossing_turns_the_near_money_mix_from_calls_to_puts_while_spot_falls(mode):
    frames = tape("gamma_flip_crossing", mode)
    assert at(frames, 60).near_mix() < -0.5 and at(frames, 240).near_mix() < -0.5  # 4 minutes long
    assert at(frames, 570).near_mix() > 0.5
    assert at(frames, 570).spot < at(frames, 300).spot * (1 - 0.003)


@pytest.mark.parametrize("name,side", WAVES)
@pytest.mark.parametrize("mode", MODES)
def test_writing_wave_adds_oi_at_the_money_while_premiums_bleed(name, side, mode):
    frames = tape(name, mode)
    f0, f1 = at(frames, 60), at(frames, 400)
    atm = f0.strikes[np.argmin(np.abs(f0.strikes - f0.spot))]
    step = f0.strikes[1] - f0.strikes[0]
    band = [atm - side * k * step for k in range(6)]  # at and below ATM for puts, above for calls
    oi0, oi1 = (
        sum(f.put_oi[f.strikes == k][0] if side == 1 else f.call_oi[f.strikes == k][0] for k in band)
        for f in (f0, f1)
    )
    ltp = (
        (lambda f, k: f.put_ltp[f.strikes == k][0])
        if side == 1
        else (lambda f, k: f.call_ltp[f.strikes == k][0])
    )
    assert oi1 > 1.05 * oi0
    assert np.mean([ltp(f1, k) - ltp(f0, k) for k in band]) < 0
    pcr = [f.put_oi.sum() / f.call_oi.sum() for f in (f0, f1)]
    assert side * (pcr[1] - pcr[0]) > 0.03


def test_a_script_that_ends_leaves_a_calm_market():
    scenario = SCENARIOS["liquidity_sweep_support"]()
    state = mm.RegimeChain(np.random.default_rng(0), "calm", True).fill(mm.REGIMES["calm"])
    state.market = mm.MarketView(
        "NIFTY", scenario.seconds + 1.0, 0.0, 25000.0, 50.0, np.arange(3.0), *np.ones((2, 3))
    )
    before = (state.drift_per_s, state.vol, state.call_oi_flow, state.oi_interval_s)
    scenario.adjust("NIFTY", scenario.seconds + 1.0, 25000.0, state)
    assert (state.drift_per_s, state.vol, state.call_oi_flow, state.oi_interval_s) == before


@pytest.mark.parametrize("mode", MODES)
def test_a_phase_quickens_exchange_oi_and_the_three_minute_cadence_returns_after_it(mode):
    """Each near-money put's OI changes at the exchange's cadence: every 30 s in the writing wave,
    60 s as it fades, about 3 minutes once the script is over (broker: each at its own offset)."""
    start, stream = batches("put_writing_wave", 1000, mode=mode)
    last: dict = {}
    changes: dict = defaultdict(list)
    atm = None
    for batch in stream:
        for t in batch:
            if type(t) is not Tick:
                continue
            if atm is None and not t.right:
                atm = round(t.ltp / 50.0) * 50.0
            if t.right == "PE" and abs(t.strike - atm) <= 250:
                if t.key in last and t.oi != last[t.key]:
                    changes[t.key].append(t.ts - start)
                last[t.key] = t.oi
    gaps = [(a, b, round(b - a, 3)) for ts in changes.values() for a, b in zip(ts, ts[1:], strict=False)]
    # The writing wave: OI every 30 s, then 60; each window starts once the legs' lags in the
    # previous cadence (up to 0.9 of its cycle, in broker delivery) have played out.
    for lo, hi, every in ((200, 410, 30), (480, 650, 60)):
        phase = [g for a, b, g in gaps if a >= lo and b < hi]
        assert min(phase) == every and {g % every for g in phase} == {0}  # a leg may not change
    after = [g for a, b, g in gaps if a >= 660]
    assert after and min(after) >= 150  # the script is over: about every 3 minutes
    if mode == "broker":  # ... but not all at once
        assert len({a for a, b, g in gaps if a >= 200 and b < 410}) > 5 * len(range(210, 410, 30))
