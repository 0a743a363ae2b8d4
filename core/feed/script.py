"""Scenario scripting: phases, segments and the ScriptedScenario that plays them against live levels.

A script is a sequence of segments; a segment pins one price level (the support or resistance it
plays against, read from the live OI when the segment starts) and runs phases in event time from
the script start. A phase gives the market a regime's texture (vol, spreads, depth, activity, IV),
glides spot towards a target relative to the level or to where the phase began, and steers OI flow.
Prices never jump: a glide sets a drift that closes the gap by the phase end, on top of the regime's
own noise, and IV, spreads and depth ease towards their new values over a few seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal, TypedDict

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


# Keyword sets the scenario library shares between phases (`Phase(..., **SETUP)`), by role.
class Texture(TypedDict, total=False):
    regime: str
    iv: float
    spread: float
    depth: float


class Flow(TypedDict, total=False):
    calls: float
    puts: float
    call_at: Focus | None
    put_at: Focus | None
    width: float


class Steer(TypedDict, total=False):
    tilt: float | None
    oi_every_s: float | None


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


def _enter(
    memo: dict[str, Any], key: tuple[int, int, int], segment: Segment, view: mm.MarketView, spot: float
) -> None:
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


def _texture(state: mm.StepState, phase: Phase, memo: dict[str, Any], ts: float) -> None:
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


def _glide(state: mm.StepState, phase: Phase, memo: dict[str, Any], spot: float, remaining_s: float) -> None:
    if phase.to is None:
        return
    anchor, frac = phase.to
    base = memo.get(anchor)
    if base is None:  # a level-relative phase in a segment whose level could not be found
        base = memo["entry"]
    target = base * (1.0 + frac)
    state.drift_per_s = math.log(target / spot) / max(remaining_s, GLIDE_MIN_S)


def _oi(state: mm.StepState, phase: Phase, memo: dict[str, Any], view: mm.MarketView) -> None:
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


def _strike(focus: Focus | None, memo: dict[str, Any], view: mm.MarketView) -> float | None:
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
    kind, strikes = focus
    if kind == "support":
        return ("resistance", -strikes)
    if kind == "resistance":
        return ("support", -strikes)
    return (kind, -strikes)
