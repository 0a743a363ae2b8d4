"""The simulator's scenario library: scripted markets that reproduce each engine's phenomenon.

The scripting machinery (Phase, Segment, ScriptedScenario) lives in core/feed/script.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from core.feed import market_model as mm
from core.feed.script import Flow, Focus, LevelKind, Phase, ScriptedScenario, Segment, Steer, Texture, mirror

__all__ = ["ALL_SIGNALS", "SCENARIOS", "ScenarioSpec", "ScriptedScenario"]


# The library. Times are event seconds from the script start, which comes after the simulator's
# warm-up (FeedConfig.warmup_s, 15 minutes of the baseline market): the engines' yardsticks
# (1-minute sigma, 10-minute medians of depth and spread) and look-back windows (OI flow over
# 5-10 minutes, the straddle over 15) are filled before a script starts. Fractions are of the
# anchor price (0.001 = 0.1 %). A state (a smart-money bias, a dealer-gamma regime) is emitted once
# it has held EngineConfig.state_hold_s (3 minutes), so a phase that sets one lasts well beyond that.
WARM_S = 330.0  # the vacuum's own quiet lead-in (from before the warm-up existed; it still times it)
FAST_OI = 20.0  # exchange OI every 20 s while a flow phenomenon runs (the demo compresses time)

AT_LEVEL: Focus = ("level", 0)


class Writers(Flow, Steer, total=False):
    """Writers on both sides at once, at their own OI pace."""


class DemoWriters(Steer, total=False):
    """The demo's writing waves: dealer gamma steered while IV firms or eases."""

    iv: float


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

# Dealers are short gamma when put OI dominates near the money (GEX: calls +, puts -). A setup
# lasts long enough for the regime to settle (3 minutes held) before the move it explains. The puts
# pile up as spot edges higher and IV eases all along (no switch to the trending regime's richer IV
# either), so they read as written, never bought, and the squeeze's options gain from its move alone.
SHORT_GAMMA_SETUP: Steer = {"tilt": 1.0, "oi_every_s": 30}
LONG_GAMMA_SETUP: Steer = {"tilt": -1.0, "oi_every_s": 30}


def _squeeze(side: float) -> Segment:
    """Five minutes of puts piling up near the money, then options bought into a 0.5 % move
    (`side` +1 calls into a rally, -1 puts into a sell-off)."""
    buy: Flow = {"calls": 0.04, "call_at": ("atm", 2)} if side > 0 else {"puts": 0.04, "put_at": ("atm", -2)}
    return Segment(None, (
        Phase(150, to=("entry", 0.001), iv=0.98, **SHORT_GAMMA_SETUP),
        Phase(150, to=("entry", 0.0005), iv=0.965, **SHORT_GAMMA_SETUP),
        # Short-gamma dealers hedge the options sold to the buyers by chasing spot.
        Phase(240, to=("entry", side * 0.005), iv=0.95, activity=1.6, oi_every_s=FAST_OI, **buy),
        Phase(120, to=("entry", 0.0), iv=0.95),
    ))  # fmt: skip


SQUEEZE_UP, SQUEEZE_DOWN = _squeeze(1.0), _squeeze(-1.0)

FLIP_CROSSING = Segment(None, (
    Phase(240, to=("entry", 0.002), **LONG_GAMMA_SETUP),  # call writers pin it: dealers long gamma
    Phase(60),
    # A sell-off with puts bought and calls closed carries spot below the flip: short gamma.
    Phase(300, "trending", to=("open", -0.004), **(SHORT_GAMMA_SETUP | Steer(tilt=1.3))),
    Phase(120, to=("entry", 0.0)),
))  # fmt: skip

# Put writers sell next to the money while call holders close above it, spot lifts and IV eases:
# put premiums bleed, PCR rises, the straddle falls. Six minutes of it, then a slower fade.
PUT_WRITERS: Writers = {
    "puts": 0.08,
    "put_at": ("atm", -1),
    "calls": -0.06,
    "call_at": ("atm", 3),
    "oi_every_s": 30,
}
PUT_WRITING = Segment(None, (
    Phase(60),
    Phase(60, to=("entry", 0.003), iv=0.94, **PUT_WRITERS),
    Phase(300, to=("entry", 0.0005), iv=0.94, **PUT_WRITERS),
    Phase(240, to=("entry", 0.0), iv=0.94, puts=0.01, put_at=("atm", -2), oi_every_s=60),
))  # fmt: skip


def _firm_iv(segment: Segment, iv: float) -> Segment:
    """The segment with IV firming to `iv` wherever it eased: call writers sell into demand for
    protection, so the straddle rises (the mirror of a put-writing wave would bleed it)."""
    return Segment(segment.level, tuple(replace(p, iv=iv) if p.iv < 1.0 else p for p in segment.phases))


def _spike_and_back(
    level: LevelKind, through: float, back: float, hold: float, build_s: float, activity: float, flows: Flow
) -> Segment:
    """A thin-book flush through the level and a fast snap back: hunt, sweep, trap, vacuum and a
    squeeze at once. Options at the level are bought into the flush (the squeeze); `flows` is the
    OI at the level during the snap back (writers defending, or stops closing out)."""
    sign = -1.0 if level == "support" else 1.0
    thin: Texture = {"regime": "volatile", "iv": 1.3, "depth": 0.3, "spread": 1.4}
    chase: Flow = (
        {"puts": 0.08, "put_at": AT_LEVEL} if level == "support" else {"calls": 0.08, "call_at": AT_LEVEL}
    )
    return Segment(
        level,
        (
            Phase(build_s, build=True, to=("level", -sign * 0.0006), oi_every_s=FAST_OI),
            Phase(25, to=("level", sign * through), activity=activity, oi_every_s=FAST_OI, **thin, **chase),
            Phase(35, to=("level", -sign * back), oi_every_s=FAST_OI, **thin, **flows),
            Phase(hold, to=("level", -sign * back), oi_every_s=FAST_OI, **flows),  # stays back
        ),
    )


UNWIND_AT_LEVEL: Flow = {
    "calls": 0.03,
    "call_at": AT_LEVEL,
    "puts": -0.2,
    "put_at": ("level", 1),
    "width": 0.6,
}
# The demo's writers: call writers take the near strikes while put holders close below (dealers
# long gamma, PCR falling), spot slides and IV firms, so call premiums bleed while the straddle
# rises; then put writers do the mirror image (short gamma, PCR rising, the straddle falls).
DEMO_CALL_WRITERS: DemoWriters = {"iv": 1.05, "tilt": -0.9, "oi_every_s": FAST_OI}
DEMO_PUT_WRITERS: DemoWriters = {"iv": 0.93, "tilt": 1.2, "oi_every_s": FAST_OI}

# Twenty minutes that show every engine's signals on every symbol: first a flush through support
# and a spike through resistance, each snapped back (sweeps, hunts, traps, vacuums, a squeeze down),
# measured against the warm-up's quiet market, so the demo opens with action; then call writers
# (BEARISH, LONG_GAMMA) and put writers (BULLISH, SHORT_GAMMA), five and seven minutes so each
# state holds its three minutes; last, calls bought into the short-gamma dealers (SQUEEZE_UP). The
# writers' 0.45 % glides outweigh the spikes still inside the 10-minute flow window, so premiums
# bleed against it on every seed.
DEMO = (
    # Put writers defend the support they lost for a moment.
    _spike_and_back("support", 0.0025, 0.0012, 30, 40, 2.5, {"puts": 0.05, "put_at": AT_LEVEL}),
    # The spike through resistance runs on little volume through an empty book; put holders just
    # above the strike close out while call writers sell the failed breakout.
    _spike_and_back("resistance", 0.006, 0.002, 40, 70, 0.7, UNWIND_AT_LEVEL),
    Segment(None, (
        Phase(90, to=("entry", -0.0045), **DEMO_CALL_WRITERS),
        Phase(210, to=("entry", -0.0005), **DEMO_CALL_WRITERS),
        Phase(90, to=("entry", 0.0045), **DEMO_PUT_WRITERS),
        Phase(330, to=("entry", 0.0005), **DEMO_PUT_WRITERS),
        Phase(180, to=("entry", 0.005), iv=0.93, activity=1.6, calls=0.05, call_at=("atm", 2), oi_every_s=FAST_OI),
    )),
)  # fmt: skip
DEMO_S = 1200.0


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
        (SQUEEZE_UP,), ("SQUEEZE_UP",), (300, 600),
        "puts pile up for 5 minutes (dealers short gamma), then calls are bought into a 0.5 % rally (SQUEEZE_UP)",
    ),
    "gamma_squeeze_down": (
        (SQUEEZE_DOWN,), ("SQUEEZE_DOWN",), (300, 600),
        "puts pile up for 5 minutes (dealers short gamma), then puts are bought into a 0.5 % sell-off (SQUEEZE_DOWN)",
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
        (FLIP_CROSSING,), ("LONG_GAMMA", "SHORT_GAMMA"), (0, 720),
        "call writers pin the market for 4 minutes, then a sell-off with put buying crosses the flip (LONG -> SHORT_GAMMA)",
    ),
    "put_writing_wave": (
        (PUT_WRITING,), ("BULLISH",), (180, 600),
        "puts written next to ATM for 6 minutes while premiums bleed, PCR rising (BULLISH)",
    ),
    "call_writing_wave": (
        (_firm_iv(mirror(PUT_WRITING), 1.05),), ("BEARISH",), (180, 600),
        "calls written next to ATM for 6 minutes while premiums bleed, PCR falling (BEARISH)",
    ),
    "demo": (
        DEMO, ALL_SIGNALS, (0, DEMO_S),
        "every engine's signals on every symbol within 20 minutes, then again (2 wall minutes at 10x)",
    ),
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
