"""LiquidityEngine: a level swept and reclaimed (SWEEP_UP below support, SWEEP_DOWN above resistance)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from core.domain import LiveMetrics
from core.engines.base import EngineParams, EngineResult, Scorecard, Side, not_evaluable, num, vol_weight
from core.engines.history import EngineHistory, Pierce, StrikeFlow
from core.engines.history import Side as Through
from core.state.market_state import nearest_strike


@dataclass(frozen=True, slots=True)
class LiquidityParams(EngineParams):
    """SPEC section 6 defaults: pierce by >= 0.1 % and close back within 3 minutes."""

    threshold: float = 0.5
    window_s: float = 180.0  # pierce and reclaim within this many seconds
    min_pierce_pct: float = 0.001  # trade through the level by at least 0.1 %
    recent_extreme_s: float = 1800.0  # the "recent 30-min low/high" level
    reclaim_frac: float = 0.5  # close back beyond the level by >= 50 % of the pierce depth
    volume_spike_mult: float = 2.0  # pierce-minute volume vs median minute volume (30 min)
    # "OI at the level rising" must beat the day's ordinary build-up (~0.5 % per 3-minute step):
    # writers defending a swept level add at least this fraction of the strike's OI.
    oi_defend_min_rel: float = 0.02
    w_pierce: float = 0.40
    w_reclaim: float = 0.20
    w_volume: float = 0.15
    w_vol_elevated: float = 0.10
    w_vol_extreme: float = 0.15
    w_oi_defend: float = 0.15


class LiquidityEngine:
    """Stops below a level were taken and price came straight back: expect the opposite move."""

    name: ClassVar[str] = "LiquidityEngine"
    params_type: ClassVar[type[EngineParams]] = LiquidityParams

    def evaluate(
        self, metrics: LiveMetrics, history: EngineHistory, params: LiquidityParams | None = None
    ) -> EngineResult:
        p = params or LiquidityParams()
        spot = metrics.spot
        if spot is None:
            return EngineResult.inactive({"spot": None})
        card = Scorecard()
        features: dict[str, Any] = {"spot": num(spot), "volatility_regime": metrics.volatility_regime}
        # Origin, pierce and reclaim are three spot samples, two sampling intervals within the
        # window: a coarser feed cannot show a sweep, and every other rule only adds to one.
        coarse = history.too_coarse(p.window_s, samples=3)
        if coarse:
            not_evaluable(features, "pierce_reclaim", coarse)
            return card.decide(p.threshold, "SWEEP_UP", "SWEEP_DOWN", features)
        # Stops under support fuel a sweep that points UP; stops over resistance point DOWN.
        episodes: dict[Side, float] = {}
        sides: tuple[tuple[Side, Through], ...] = (("up", "below"), ("down", "above"))
        for side, through in sides:
            found = _find_sweep(metrics, history, p, through)
            if found is not None:
                _score_sweep(card, side, found[0], found[1], metrics, history, p, features)
                episodes[side] = found[1].extreme_ts
        return card.decide(p.threshold, "SWEEP_UP", "SWEEP_DOWN", features, episodes)


def _levels(
    metrics: LiveMetrics, history: EngineHistory, p: LiquidityParams, through: Through
) -> list[tuple[str, float | None]]:
    recent = _recent_range(history, p)
    if through == "below":
        return [
            ("support", metrics.support),
            ("put_wall", metrics.put_wall),
            ("recent_low", recent and recent[0]),
        ]
    return [
        ("resistance", metrics.resistance),
        ("call_wall", metrics.call_wall),
        ("recent_high", recent and recent[1]),
    ]


def _recent_range(history: EngineHistory, p: LiquidityParams) -> tuple[float, float] | None:
    """The "recent 30-minute" low and high a sweep is measured against: spot's range over the
    `recent_extreme_s` that end `window_s` before the current spot was observed.

    Anchored to that observation, not to the clock, so the level holds between two observations
    as the clock runs on; and the edges sit half an observation interval later (`window_slack`),
    between two samples, so a sample stamped a little early or late, or read with a leg streamed
    in the same second, falls on the same side whether the market came as snapshots or a stream.
    """
    observed = history.spot_changed_ts
    if observed is None:
        return None
    end = observed - p.window_s + history.window_slack(p.window_s)
    return history.min_max(p.recent_extreme_s, end_ts=end)


def _find_sweep(
    metrics: LiveMetrics, history: EngineHistory, p: LiquidityParams, through: Through
) -> tuple[str, Pierce] | None:
    """The first level (in priority order) pierced within the window and now reclaimed."""
    spot = metrics.spot
    assert spot is not None  # evaluate() returns before looking for a sweep without a spot
    for kind, level in _levels(metrics, history, p, through):
        if level is None:
            continue
        pierce = history.pierce(float(level), through, p.window_s, p.min_pierce_pct)
        if pierce is None:
            continue
        reclaimed = spot > pierce.level if through == "below" else spot < pierce.level
        if reclaimed:
            return kind, pierce
    return None


def _score_sweep(
    card: Scorecard,
    side: Side,
    kind: str,
    pierce: Pierce,
    metrics: LiveMetrics,
    history: EngineHistory,
    p: LiquidityParams,
    features: dict[str, Any],
) -> None:
    assert metrics.spot is not None  # evaluate() returns before scoring without a spot
    spot = float(metrics.spot)
    depth_pts = abs(pierce.level - pierce.extreme)
    reclaim = abs(spot - pierce.level) / depth_pts if depth_pts > 0 else 0.0
    card.add(side, f"pierce_reclaim_{kind}", p.w_pierce)
    card.add(side, "reclaim_half", p.w_reclaim, reclaim >= p.reclaim_frac)

    minute = history.volume_rate(pierce.extreme_ts - 30.0, pierce.extreme_ts + 30.0)  # units / min
    typical = history.median_minute_volume(pierce.cross_ts)
    spike = (
        minute is not None
        and typical is not None
        and bool(typical)
        and minute >= p.volume_spike_mult * typical
    )
    card.add(side, "volume_spike", p.w_volume, spike)
    tag, weight = vol_weight(metrics.volatility_regime, p.w_vol_elevated, p.w_vol_extreme)
    card.add(side, tag, weight, bool(tag))
    level_oi = _level_oi_change(metrics, history, pierce)
    defended = level_oi is not None and level_oi.rel_oi >= p.oi_defend_min_rel
    card.add(side, "oi_defending_level", p.w_oi_defend, defended)

    features.update(
        {
            f"{side}_level_kind": kind,
            f"{side}_level": num(pierce.level),
            f"{side}_extreme": num(pierce.extreme),
            f"{side}_pierce_pct": num(pierce.depth_pct),
            f"{side}_reclaim_ratio": num(reclaim),
            f"{side}_pierce_age_s": num((history.last_ts or pierce.extreme_ts) - pierce.extreme_ts),
            f"{side}_minute_volume": num(minute),
            f"{side}_median_minute_volume": num(typical),
            f"{side}_level_oi_change": num(level_oi.d_oi) if level_oi else None,
        }
    )


def _level_oi_change(metrics: LiveMetrics, history: EngineHistory, pierce: Pierce) -> StrikeFlow | None:
    """Put OI change at a swept support strike (call OI at resistance) since the pierce began;
    writers adding there are defending the level."""
    strike = nearest_strike(metrics.strikes, pierce.level)
    if strike is None:
        return None
    right = "PE" if pierce.side == "below" else "CE"
    return history.oi_flow(metrics, right, strike, strike, pierce.cross_ts)
