"""The simulator's scenario library: scripted market phases that reproduce each engine's phenomenon.

A script is a sequence of segments; a segment pins one price level (the support or resistance it
plays against, read from the live OI when the segment starts) and runs phases in event time from
the script start. A phase gives the market a regime's texture (vol, spreads, depth, activity, IV),
glides spot towards a target relative to the level or to where the phase began, and steers OI flow.
Prices never jump: a glide sets a drift that closes the gap by the phase end, on top of the regime's
own noise, and IV, spreads and depth ease towards their new values over a few seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from core.feed import market_model as mm

Anchor = Literal["entry", "level", "open"]
LevelKind = Literal["support", "resistance"]
# Where a flow goes, in strikes from: the segment's level, ATM, or the last support / resistance
# an earlier segment pinned. ("level", 0) = the pinned strike; ("atm", -2) = two strikes below ATM.
Focus = tuple[Literal["level", "atm", "support", "resistance"], int]

GLIDE_MIN_S = 2.0  # a glide's last seconds close the gap at this pace, so it never lurches at the end
EASE_TAU_S = 8.0  # IV, spreads and depth move to a phase's values with this time constant
LEVEL_GAP_PCT = (0.0015, 0.006)  # a segment's level lies this far from spot when it starts
BUILD_MARGIN = 1.2  # a built wall ends this much larger than the next largest strike on its side
BUILD_MAX_FLOW = 0.35  # at most this fraction of a strike's OI is added per OI update
BUILD_WIDTH = 0.6  # strikes (1 sd): writers defending a level concentrate on that one strike
# Near-money OI mix -> dealer gamma: ln(put/call OI) of about +-1 within ~3 strikes of spot puts the
# normalised net GEX near -+0.25 on the simulated chains, past the +-0.15 regime band.
TILT_WIDTH = 3.0  # strikes (1 sd) of the weighting around spot
TILT_GAIN, TILT_MAX_FLOW = 0.4, 0.35
TILT_CLOSE_STRIKES = 3


@dataclass(frozen=True, slots=True)
class Phase:
    """One stretch of a script. Multipliers apply on top of the `regime`'s texture."""

    seconds: float
    regime: str = "calm"
    to: tuple[Anchor, float] | None = None  # glide spot to anchor x (1 + fraction) by the end
    iv: float = 1.0
    spread: float = 1.0
    depth: float = 1.0
    activity: float = 1.0
    build: bool = False  # write OI at the level until it is the segment's wall
    calls: float = 0.0  # extra call OI per OI update, fraction (+ new positions, - unwinding)
    puts: float = 0.0
    call_at: Focus | None = None
    put_at: Focus | None = None
    width: float = 1.5  # strikes (1 sd) the focused flow spreads over
    tilt: float | None = None  # steer ln(put OI / call OI) near the money to this (dealer gamma)
    oi_every_s: float | None = None  # faster exchange OI while the phase runs


@dataclass(frozen=True, slots=True)
class Segment:
    """Phases that play against one level, pinned when the segment starts (None = no level)."""

    level: LevelKind | None
    phases: tuple[Phase, ...]

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)


@dataclass(frozen=True, slots=True)
class ScriptedScenario:
    """A scripted market (the Scenario protocol). `loop` repeats the script once it has run.

    `signals` names what the script is built to show and `window` the event seconds from the start
    in which it shows them, for the System page and the tests. Keeps no state: the per-symbol
    pinned levels live in the simulator's `MarketView.memo`.
    """

    name: str
    segments: tuple[Segment, ...]
    signals: tuple[str, ...] = ()
    window: tuple[float, float] = (0.0, 0.0)
    loop: bool = False
    fixed_regime: str | None = "calm"

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.segments)

    def adjust(self, symbol: str, ts: float, spot: float, state: mm.StepState) -> None:
        view = state.market
        if view is None:
            return
        where = self._locate(view.elapsed)
        if where is None:
            return
        key, segment, phase, phase_end = where
        memo = view.memo
        if memo.get("phase") != key:
            _enter(memo, key, segment, view, spot)
        _texture(state, phase, memo, ts)
        _glide(state, phase, memo, spot, phase_end - view.elapsed)
        _oi(state, phase, memo, view)

    def _locate(self, elapsed: float) -> tuple[tuple[int, int, int], Segment, Phase, float] | None:
        total = self.seconds
        if elapsed < 0 or total <= 0 or (elapsed >= total and not self.loop):
            return None
        cycle, t = divmod(elapsed, total)
        start = 0.0
        for i, segment in enumerate(self.segments):
            for j, phase in enumerate(segment.phases):
                if t < start + phase.seconds:
                    return (int(cycle), i, j), segment, phase, cycle * total + start + phase.seconds
                start += phase.seconds
        return None


def _enter(memo: dict, key: tuple[int, int, int], segment: Segment, view: mm.MarketView, spot: float) -> None:
    """Phase entry: remember where it began; a new segment pins its level from the live OI."""
    previous = memo.get("phase")
    memo["phase"], memo["entry"] = key, spot
    if previous is None or previous[:2] != key[:2]:
        memo["open"] = spot
        memo["level"] = pick_level(segment.level, view) if segment.level else None
        memo["level_kind"] = segment.level
        if segment.level:
            memo[segment.level] = memo["level"]


def pick_level(kind: LevelKind, view: mm.MarketView) -> float | None:
    """The strike 0.15-0.6 % beyond spot with the most OI of the defending side (puts below for
    support, calls above for resistance): the nearby wall a sweep, hunt or trap plays against."""
    lo, hi = LEVEL_GAP_PCT
    strikes, spot = view.strikes, view.spot
    if kind == "support":
        band, oi = (strikes <= spot * (1 - lo)) & (strikes >= spot * (1 - hi)), view.put_oi
    else:
        band, oi = (strikes >= spot * (1 + lo)) & (strikes <= spot * (1 + hi)), view.call_oi
    idx = np.flatnonzero(band)
    if not len(idx):
        return None
    # Most OI first, then the strike nearest spot.
    best = max(idx, key=lambda i: (oi[i], -abs(strikes[i] - spot)))
    return float(strikes[best])


def _texture(state: mm.StepState, phase: Phase, memo: dict, ts: float) -> None:
    regime = mm.REGIMES[phase.regime]
    state.regime = regime.name
    state.vol = regime.vol
    state.drift_per_s = 0.0
    state.jumps_per_session = 0.0  # the script is the jump: random ones would blur the phenomenon
    state.front_iv_premium = regime.front_iv_premium
    state.activity = regime.activity * phase.activity
    dt = ts - memo.get("ts", ts)
    memo["ts"] = ts
    ease = min(1.0, dt / EASE_TAU_S) if "iv" in memo else 1.0
    for name, target in (
        ("iv", regime.iv_mult * phase.iv),
        ("spread", regime.spread_mult * phase.spread),
        ("depth", regime.depth_mult * phase.depth),
    ):
        memo[name] = memo.get(name, target) + (target - memo.get(name, target)) * ease
    state.iv_mult, state.spread_mult, state.depth_mult = memo["iv"], memo["spread"], memo["depth"]


def _glide(state: mm.StepState, phase: Phase, memo: dict, spot: float, remaining_s: float) -> None:
    if phase.to is None:
        return
    anchor, frac = phase.to
    base = memo.get(anchor)
    if base is None:  # a level-relative phase in a segment whose level could not be found
        base = memo["entry"]
    target = base * (1.0 + frac)
    state.drift_per_s = math.log(target / spot) / max(remaining_s, GLIDE_MIN_S)


def _oi(state: mm.StepState, phase: Phase, memo: dict, view: mm.MarketView) -> None:
    state.oi_interval_s = phase.oi_every_s
    level = memo.get("level")
    calls, puts = phase.calls, phase.puts
    call_at, put_at = _strike(phase.call_at, memo, view), _strike(phase.put_at, memo, view)
    if phase.tilt is not None:
        calls, puts, call_at, put_at = _tilt_flows(phase.tilt, view)
    if phase.build and level is not None:
        extra = _build_flow(memo["level_kind"], level, view)
        if memo["level_kind"] == "support":
            puts, put_at = puts + extra, level
        else:
            calls, call_at = calls + extra, level
        phase = replace(phase, width=BUILD_WIDTH)
    state.call_oi_flow, state.put_oi_flow = calls, puts
    state.oi_focus, state.put_oi_focus = call_at, put_at
    state.oi_focus_strikes = phase.width


def _tilt_flows(tilt: float, view: mm.MarketView) -> tuple[float, float, float, float]:
    """Flows that move the near-money put/call OI mix towards e**tilt: puts added and calls closed
    (or the reverse) around ATM, in proportion to the remaining gap."""
    weight = np.exp(-0.5 * ((view.strikes - view.spot) / (TILT_WIDTH * view.step)) ** 2)
    calls, puts = float(np.sum(view.call_oi * weight)), float(np.sum(view.put_oi * weight))
    gap = tilt - math.log(puts / calls) if calls > 0 and puts > 0 else 0.0
    flow = float(np.clip(TILT_GAIN * gap, -TILT_MAX_FLOW, TILT_MAX_FLOW))
    atm = round(view.spot / view.step) * view.step
    # New positions go on next to the money; the other side is closed further out, so the nearby
    # walls that sweeps, hunts and traps play against survive a change of dealer regime.
    if flow >= 0:
        return -flow, flow, atm + TILT_CLOSE_STRIKES * view.step, atm - view.step
    return -flow, flow, atm + view.step, atm - TILT_CLOSE_STRIKES * view.step


def _strike(focus: Focus | None, memo: dict, view: mm.MarketView) -> float | None:
    if focus is None:
        return None
    where, offset = focus
    base = memo.get(where) if where != "atm" else None
    if base is None:
        base = round(view.spot / view.step) * view.step
    return base + offset * view.step


def _build_flow(kind: LevelKind, level: float, view: mm.MarketView) -> float:
    """Writing at `level` that makes it the wall on its side of spot, with a margin, then stops."""
    strikes = view.strikes
    side = strikes <= view.spot if kind == "support" else strikes >= view.spot
    oi = view.put_oi if kind == "support" else view.call_oi
    at = np.flatnonzero(strikes == level)
    others = oi[side & (strikes != level)]
    if not len(at) or not len(others) or oi[at[0]] <= 0:
        return 0.0
    need = BUILD_MARGIN * float(others.max()) / float(oi[at[0]]) - 1.0
    return float(np.clip(need, 0.0, BUILD_MAX_FLOW))


def mirror(segment: Segment) -> Segment:
    """The same script the other way up: targets negated, calls and puts swapped, levels swapped."""
    kind: LevelKind | None = {"support": "resistance", "resistance": "support", None: None}[segment.level]
    phases = tuple(
        replace(
            p,
            to=(p.to[0], -p.to[1]) if p.to else None,
            calls=p.puts,
            puts=p.calls,
            call_at=_flip(p.put_at),
            put_at=_flip(p.call_at),
            tilt=-p.tilt if p.tilt is not None else None,
        )
        for p in segment.phases
    )
    return Segment(kind, phases)


def _flip(focus: Focus | None) -> Focus | None:
    if focus is None:
        return None
    where = {"support": "resistance", "resistance": "support"}.get(focus[0], focus[0])
    return (where, -focus[1])  # type: ignore[return-value]


# The library. Times are event seconds; fractions are of the anchor price (0.001 = 0.1 %).
# Warm-up phases give the engines' yardsticks (1-minute sigma over >= 5 minutes, 10-minute
# medians of depth and spread) a quiet market to measure before the event.
WARM_S = 330.0
FAST_OI = 20.0  # exchange OI every 20 s while a flow phenomenon runs (the demo compresses time)

AT_LEVEL: Focus = ("level", 0)

SWEEP_SUPPORT = Segment("support", (
    Phase(150, build=True, oi_every_s=30, to=("level", 0.003)),  # writers build the support
    Phase(120, to=("level", 0.001)),  # drift down onto it
    Phase(30, "volatile", to=("level", -0.0022), activity=2.0),  # through it: the stops under it run
    # Back above within 75 s while writers add puts at the level: they defended it.
    Phase(75, "volatile", to=("level", 0.002), activity=1.5, puts=0.03, put_at=AT_LEVEL, oi_every_s=FAST_OI),
    Phase(200, oi_every_s=60),
))  # fmt: skip

HUNT_BELOW = Segment("support", (
    Phase(180, build=True, oi_every_s=30, to=("level", 0.003)),
    Phase(180, to=("level", 0.0006)),  # resting just above the support
    Phase(25, "volatile", to=("level", -0.0016), activity=2.5),  # a flush through it
    # Stops filled and positions closed at the level (OI falls) as price comes straight back.
    Phase(30, "volatile", to=("level", 0.0004), activity=1.5, puts=-0.03, put_at=AT_LEVEL, oi_every_s=FAST_OI),
    Phase(60, to=("entry", 0.0), puts=-0.03, put_at=AT_LEVEL, oi_every_s=FAST_OI),
    Phase(135, oi_every_s=60),
))  # fmt: skip

BULL_TRAP = Segment("resistance", (
    Phase(150, build=True, oi_every_s=30, to=("level", -0.003)),
    Phase(90, to=("level", -0.0008)),
    # The breakout comes on thin volume and writers sell calls at the broken strike.
    Phase(60, "trending", to=("level", 0.003), activity=0.7, calls=0.03, call_at=AT_LEVEL, oi_every_s=FAST_OI),
    Phase(150, to=("level", 0.0028), activity=0.6, calls=0.03, call_at=AT_LEVEL, oi_every_s=30),
    Phase(120, "trending", to=("level", -0.0025), activity=0.8, calls=0.02, call_at=AT_LEVEL, oi_every_s=30),
    Phase(150, oi_every_s=60),
))  # fmt: skip

VACUUM_UP = Segment(None, (
    Phase(WARM_S + 60),
    Phase(20, iv=2.0, spread=3.0, depth=0.17),  # market makers pull their quotes
    Phase(40, "volatile", to=("entry", 0.0025), iv=1.4, spread=1.4, depth=0.3, activity=1.5),
    Phase(60, "volatile", to=("entry", 0.0), iv=1.2, spread=1.1, depth=0.6),
    Phase(180),  # books refill
))  # fmt: skip

# Dealers are short gamma when put OI dominates near the money (GEX: calls +, puts -).
SHORT_GAMMA_SETUP = {"tilt": 1.0, "oi_every_s": 30}
LONG_GAMMA_SETUP = {"tilt": -1.0, "oi_every_s": 30}

SQUEEZE_UP = Segment(None, (
    Phase(180, **SHORT_GAMMA_SETUP),
    # Calls bought from ATM up towards the wall; short-gamma dealers buy spot to hedge.
    Phase(240, "trending", to=("entry", 0.005), iv=1.1, activity=1.6, calls=0.04, call_at=("atm", 2),
          oi_every_s=FAST_OI),
    Phase(120, to=("entry", 0.0)),
))  # fmt: skip

SQUEEZE_DOWN = Segment(None, (
    Phase(180, **SHORT_GAMMA_SETUP),
    Phase(240, "trending", to=("entry", -0.005), iv=1.1, activity=1.6, puts=0.04, put_at=("atm", -2),
          oi_every_s=FAST_OI),
    Phase(120, to=("entry", 0.0)),
))  # fmt: skip

FLIP_CROSSING = Segment(None, (
    Phase(150, to=("entry", 0.002), **LONG_GAMMA_SETUP),  # call writers pin it: dealers long gamma
    Phase(60),
    # A sell-off with puts bought and calls closed carries spot below the flip: short gamma.
    Phase(270, "trending", to=("open", -0.004), **{**SHORT_GAMMA_SETUP, "tilt": 1.1}),
    Phase(120, to=("entry", 0.0)),
))  # fmt: skip

PUT_WRITING = Segment(None, (
    Phase(60),
    Phase(240, to=("entry", 0.0015), iv=0.95, puts=0.04, put_at=("atm", -2), oi_every_s=30),
    Phase(300, to=("entry", 0.0), puts=0.01, put_at=("atm", -2), oi_every_s=60),
))  # fmt: skip


def _spike_and_back(
    level: LevelKind, through: float, back: float, hold: float, build_s: float, activity: float, flows: dict
) -> Segment:
    """A thin-book flush through the level and a fast snap back: hunt, sweep, trap and vacuum at once.
    `flows` is the OI at the level during the snap back (writers defending, or stops closing out)."""
    sign = -1.0 if level == "support" else 1.0
    thin = {"regime": "volatile", "iv": 1.3, "depth": 0.3, "spread": 1.4}
    return Segment(
        level,
        (
            Phase(build_s, build=True, to=("level", -sign * 0.0006), oi_every_s=FAST_OI),
            Phase(25, to=("level", sign * through), activity=activity, **thin),
            Phase(35, to=("level", -sign * back), oi_every_s=FAST_OI, **thin, **flows),
            Phase(hold, to=("entry", 0.0), oi_every_s=FAST_OI, **flows),
        ),
    )


UNWIND_AT_LEVEL = {"calls": 0.03, "call_at": AT_LEVEL, "puts": -0.2, "put_at": ("level", 1), "width": 0.6}

# Ten minutes that show every engine's signals: call writers, then put writers, take the near
# strikes (BEARISH then BULLISH; LONG then SHORT_GAMMA), option buyers chase both ways (squeezes),
# then a flush through support and a spike through resistance, each snapped back (sweeps, hunts,
# traps, vacuums). Short phases and 20-second OI keep it inside ten minutes; the flush starts at
# minute 5, once the hunt and vacuum engines have the 1-minute sigma they measure moves by.
DEMO = (
    Segment(None, (
        Phase(90, to=("entry", -0.0008), iv=0.97, **{**LONG_GAMMA_SETUP, "tilt": -1.1, "oi_every_s": FAST_OI}),
        Phase(110, to=("entry", 0.0012), iv=0.97, **{**SHORT_GAMMA_SETUP, "tilt": 1.5, "oi_every_s": FAST_OI}),
        Phase(50, to=("entry", 0.0006), activity=1.5, calls=0.05, call_at=("atm", 2), oi_every_s=FAST_OI),
        Phase(50, to=("entry", -0.0006), activity=1.5, puts=0.05, put_at=("atm", -2), oi_every_s=FAST_OI),
    )),
    # Put writers defend the support they lost for a moment.
    _spike_and_back("support", 0.0025, 0.0012, 30, 40, 2.5, {"puts": 0.05, "put_at": AT_LEVEL}),
    # The spike through resistance runs on little volume through an empty book; put holders just
    # above the strike close out while call writers sell the failed breakout.
    _spike_and_back("resistance", 0.006, 0.002, 40, 70, 0.7, UNWIND_AT_LEVEL),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """A registry entry: call it for a fresh scenario; `description` is the System page's line."""

    factory: Callable[[], mm.Scenario]
    description: str

    def __call__(self) -> mm.Scenario:
        return self.factory()


ALL_SIGNALS = (
    "SWEEP_UP", "SWEEP_DOWN", "HUNT_UP", "HUNT_DOWN", "BULLISH", "BEARISH", "SQUEEZE_UP", "SQUEEZE_DOWN",
    "BULL_TRAP", "BEAR_TRAP", "LONG_GAMMA", "SHORT_GAMMA", "LIQUIDITY_VACUUM_UP", "LIQUIDITY_VACUUM_DOWN",
)  # fmt: skip


# name: (segments, the signals it shows, their window in event seconds, description)
_LIBRARY: dict[str, tuple[tuple[Segment, ...], tuple[str, ...], tuple[float, float], str]] = {
    "liquidity_sweep_support": (
        (SWEEP_SUPPORT,), ("SWEEP_UP",), (300, 480),
        "support is built, swept by 0.2 % and reclaimed within 2 minutes (SWEEP_UP)",
    ),
    "liquidity_sweep_resistance": (
        (mirror(SWEEP_SUPPORT),), ("SWEEP_DOWN",), (300, 480),
        "resistance is built, swept by 0.2 % and lost again within 2 minutes (SWEEP_DOWN)",
    ),
    "stop_hunt_down": (
        (HUNT_BELOW,), ("HUNT_UP",), (380, 520),
        "a 25-second flush through support, retraced within 90 s (HUNT_UP)",
    ),
    "stop_hunt_up": (
        (mirror(HUNT_BELOW),), ("HUNT_DOWN",), (380, 520),
        "a 25-second spike through resistance, retraced within 90 s (HUNT_DOWN)",
    ),
    "gamma_squeeze_up": (
        (SQUEEZE_UP,), ("SQUEEZE_UP",), (180, 480),
        "puts pile up (dealers short gamma), then calls are bought into a 0.5 % rally (SQUEEZE_UP)",
    ),
    "gamma_squeeze_down": (
        (SQUEEZE_DOWN,), ("SQUEEZE_DOWN",), (0, 480),
        "puts are bought (dealers short gamma), then more into a 0.5 % sell-off (SQUEEZE_DOWN)",
    ),
    "bull_trap": (
        (BULL_TRAP,), ("BULL_TRAP",), (450, 720),
        "a 0.3 % breakout above resistance on thin volume, sold by call writers, fails (BULL_TRAP)",
    ),
    "bear_trap": (
        (mirror(BULL_TRAP),), ("BEAR_TRAP",), (450, 720),
        "a 0.3 % breakdown under support on thin volume, bought by put writers, fails (BEAR_TRAP)",
    ),
    "liquidity_vacuum_up": (
        (VACUUM_UP,), ("LIQUIDITY_VACUUM_UP",), (390, 480),
        "near-ATM books empty, spreads triple, price lifts 0.25 % in 40 s (LIQUIDITY_VACUUM_UP)",
    ),
    "liquidity_vacuum_down": (
        (mirror(VACUUM_UP),), ("LIQUIDITY_VACUUM_DOWN",), (390, 480),
        "near-ATM books empty, spreads triple, price drops 0.25 % in 40 s (LIQUIDITY_VACUUM_DOWN)",
    ),
    "gamma_flip_crossing": (
        (FLIP_CROSSING,), ("LONG_GAMMA", "SHORT_GAMMA"), (0, 600),
        "call writers pin the market, then a sell-off with put buying crosses the flip (LONG -> SHORT_GAMMA)",
    ),
    "put_writing_wave": (
        (PUT_WRITING,), ("BULLISH",), (60, 420),
        "puts written at and below ATM while premiums bleed, PCR rising (BULLISH)",
    ),
    "call_writing_wave": (
        (mirror(PUT_WRITING),), ("BEARISH",), (60, 420),
        "calls written at and above ATM while premiums bleed, PCR falling (BEARISH)",
    ),
    "demo": (DEMO, ALL_SIGNALS, (0, 600), "every engine's signals within 10 minutes, then again (1 wall minute at 10x)"),
}  # fmt: skip


def _scripted(name: str, loop: bool = False) -> Callable[[], mm.Scenario]:
    segments, signals, window, _ = _LIBRARY[name]
    return lambda: ScriptedScenario(name, segments, signals, window, loop)


def _regime(name: str, regime: str | None) -> Callable[[], mm.Scenario]:
    return lambda: mm.RegimeScenario(name, regime)


SCENARIOS: dict[str, ScenarioSpec] = {
    "calm": ScenarioSpec(_regime("calm", "calm"), "quiet range-bound market"),
    "trending": ScenarioSpec(_regime("trending", "trending"), "steady directional drift"),
    "volatile": ScenarioSpec(_regime("volatile", "volatile"), "high vol, wide spreads, thin books, jumps"),
    "switching": ScenarioSpec(_regime("switching", None), "regimes switch at random (Markov)"),
    **{
        name: ScenarioSpec(_scripted(name, loop=name == "demo"), entry[3]) for name, entry in _LIBRARY.items()
    },
}
