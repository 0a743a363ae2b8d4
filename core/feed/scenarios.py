"""The simulator's scenario library: scripted markets that reproduce each engine's phenomenon.

The scripting machinery (Phase, Segment, ScriptedScenario) lives in core/feed/script.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.feed import market_model as mm
from core.feed.script import Focus, LevelKind, Phase, ScriptedScenario, Segment, mirror

__all__ = ["ALL_SIGNALS", "SCENARIOS", "ScenarioSpec", "ScriptedScenario"]


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
            Phase(hold, to=("level", -sign * back), oi_every_s=FAST_OI, **flows),  # stays back
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
