"""LiquidityVacuumEngine: a fast move into thin, wide near-ATM books (LIQUIDITY_VACUUM_UP / _DOWN)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from core.domain import LiveMetrics
from core.engines.base import EngineParams, EngineResult, Scorecard, Side, not_evaluable, num, vol_weight
from core.engines.history import EngineHistory

FAST_MOVE_S = 60.0  # the horizon of `LiveMetrics.ret_1m`, the fast-move rule's return


@dataclass(frozen=True, slots=True)
class LiquidityVacuumParams(EngineParams):
    """SPEC section 6 defaults; threshold 0.6 (higher than the other engines)."""

    threshold: float = 0.6
    depth_thin: float = 0.5  # near-ATM depth / its 10-minute median
    depth_very_thin: float = 0.3
    spread_wide: float = 2.0  # near-ATM relative spread / its 10-minute median
    fast_sigmas: float = 2.0  # 1-minute return beyond this many 1-minute sigmas
    sigma_window_s: float = 1800.0
    min_sigma_1m: float = 0.0002  # floor so a dead-quiet tape cannot make a tick look "fast"
    w_depth_thin: float = 0.30
    w_depth_very_thin: float = 0.40
    w_spread_wide: float = 0.20
    w_fast_move: float = 0.30
    w_vol_elevated: float = 0.10
    w_vol_extreme: float = 0.20


class LiquidityVacuumEngine:
    """The fast move gives the direction; thin depth, wide spreads and the volatility regime add to
    the side of the move only, since a thin book alone says nothing about where price goes."""

    name: ClassVar[str] = "LiquidityVacuumEngine"
    params_type: ClassVar[type[EngineParams]] = LiquidityVacuumParams

    def evaluate(
        self, metrics: LiveMetrics, history: EngineHistory, params: LiquidityVacuumParams | None = None
    ) -> EngineResult:
        p = params or LiquidityVacuumParams()
        now = history.last_ts
        sigma = history.sigma_1m(p.sigma_window_s, end_ts=now - 60.0) if now is not None else None
        ret = metrics.ret_1m
        depth, spread = metrics.depth_ratio, metrics.spread_ratio
        features: dict[str, Any] = {
            "ret_1m": num(ret),
            "sigma_1m": num(sigma),
            "depth_ratio": num(depth),
            "spread_ratio": num(spread),
            "volatility_regime": metrics.volatility_regime,
        }
        card = Scorecard()
        _book_not_evaluable(metrics, features)
        # The fast move is two spot samples within a minute; it alone gives the direction.
        coarse = history.too_coarse(FAST_MOVE_S, samples=2)
        if coarse:
            not_evaluable(features, "fast_move", coarse)
            return card.decide(p.threshold, "LIQUIDITY_VACUUM_UP", "LIQUIDITY_VACUUM_DOWN", features)
        if ret is None or sigma is None:
            return card.decide(p.threshold, "LIQUIDITY_VACUUM_UP", "LIQUIDITY_VACUUM_DOWN", features)
        limit = p.fast_sigmas * max(sigma, p.min_sigma_1m)
        features["ret_sigmas"] = num(ret / max(sigma, p.min_sigma_1m))
        side: Side | None = "up" if ret > limit else "down" if ret < -limit else None
        if side is not None:
            card.add(side, f"fast_move_{side}", p.w_fast_move)
            if not card.add(
                side, "depth_very_thin", p.w_depth_very_thin, depth is not None and depth < p.depth_very_thin
            ):
                card.add(side, "depth_thin", p.w_depth_thin, depth is not None and depth < p.depth_thin)
            card.add(side, "spread_wide", p.w_spread_wide, spread is not None and spread > p.spread_wide)
            tag, weight = vol_weight(metrics.volatility_regime, p.w_vol_elevated, p.w_vol_extreme)
            card.add(side, tag, weight, bool(tag))
        return card.decide(p.threshold, "LIQUIDITY_VACUUM_UP", "LIQUIDITY_VACUUM_DOWN", features)


def _book_not_evaluable(metrics: LiveMetrics, features: dict[str, Any]) -> None:
    """Record the book rules this update cannot evaluate: a feed without bid/ask depth (NSE's
    page, a Kite quote poll) cannot show a thin book, which is not the same as showing a full one."""
    for rule, name, ratio, raw in (
        ("depth_thin", "depth_ratio", metrics.depth_ratio, metrics.depth),
        ("spread_wide", "spread_ratio", metrics.spread_ratio, metrics.spread_rel),
    ):
        if ratio is None:
            reason = "feed has no bid/ask depth" if raw is None else metrics.unavailable.get(name, "")
            not_evaluable(features, rule, reason or f"{name} unavailable")
