"""DealerGammaEngine: the dealers' gamma regime from normalised net GEX (LONG/SHORT_GAMMA, GAMMA_NEUTRAL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from core.analytics.regime import GAMMA_BAND
from core.domain import Direction, LiveMetrics
from core.engines.base import EngineParams, EngineResult, num
from core.engines.history import EngineHistory


@dataclass(frozen=True, slots=True)
class DealerGammaParams(EngineParams):
    """The regime is `LiveMetrics.dealer_gamma` (g = net_gex / gross_gex beyond the analytics'
    gamma band, 0.15): the one definition every engine, the structural regime and the UI share.

    Confidence = w_g * min(|g| / g_full, 1) + w_flip * min(distance to flip / flip_full_pct, 1) for
    LONG/SHORT; for GAMMA_NEUTRAL the complements (small |g|, close to the flip).

    No hysteresis band of its own: the pipeline debounces the regime in event time
    (EngineConfig.state_hold_s), so a g hovering at the band, or crossing it for a moment on a
    half-updated streamed chain, is no regime change. (An exit band read from history latched
    such transients: the first crossing entered the regime and held it.)
    """

    g_full: float = 0.6  # |g| at which the gamma part of confidence saturates
    flip_full_pct: float = 0.01  # distance from the flip (fraction of spot) at which it saturates
    w_g: float = 0.7
    w_flip: float = 0.3


class DealerGammaEngine:
    """A classifier, not a two-sided score: every update with GEX has a regime (active); the
    pipeline emits LONG_GAMMA / SHORT_GAMMA when the debounced regime changes into them.
    GAMMA_NEUTRAL is a state (shown on the tile, stored with predictions), never a signal."""

    name: ClassVar[str] = "DealerGammaEngine"
    params_type: ClassVar[type[EngineParams]] = DealerGammaParams
    kind: ClassVar[str] = "state"

    def evaluate(
        self, metrics: LiveMetrics, history: EngineHistory, params: DealerGammaParams | None = None
    ) -> EngineResult:
        p = params or DealerGammaParams()
        g = metrics.gex_ratio
        flip_dist = _flip_distance(metrics)
        features: dict[str, Any] = {
            "net_gex": num(metrics.net_gex),
            "gross_gex": num(metrics.gross_gex),
            "g": num(g),
            "dealer_gamma": metrics.dealer_gamma,
            "gamma_flip": num(metrics.gamma_flip),
            "flip_state": metrics.flip_state or None,
            "flip_distance_pct": num(flip_dist),
            "ret_5m": num(metrics.ret_5m),
        }
        if g is None or metrics.dealer_gamma is None:
            return EngineResult.inactive(features)
        far = min((flip_dist if flip_dist is not None else 0.0) / p.flip_full_pct, 1.0)
        flip_tag = "far_from_flip" if far >= 0.5 else "near_flip"
        if metrics.dealer_gamma == "neutral":
            score = p.w_g * (1.0 - min(abs(g) / GAMMA_BAND, 1.0)) + p.w_flip * (1.0 - far)
            return _result("GAMMA_NEUTRAL", "NONE", score, abs(g), ("g_within_band", flip_tag), features)
        score = p.w_g * min(abs(g) / p.g_full, 1.0) + p.w_flip * far
        if metrics.dealer_gamma == "long":
            return _result("LONG_GAMMA", "NONE", score, abs(g), ("g_above_band", flip_tag), features)
        ret = metrics.ret_5m
        # Short-gamma dealers hedge with the move, so it extends: the direction is the recent move's.
        direction: Direction = (
            "UP" if ret is not None and ret > 0 else "DOWN" if ret is not None and ret < 0 else "NONE"
        )
        return _result("SHORT_GAMMA", direction, score, abs(g), ("g_below_band", flip_tag), features)


def _flip_distance(m: LiveMetrics) -> float | None:
    """|spot - flip| / spot as a fraction; with no crossing on the grid the flip is far away (inf)."""
    if m.spot is None or not m.spot > 0:
        return None
    if m.gamma_flip is None:
        return float("inf") if m.flip_state in ("all positive", "all negative") else None
    return abs(m.spot - m.gamma_flip) / m.spot


def _result(
    signal: str,
    direction: Direction,
    score: float,
    strength: float,
    reasons: tuple[str, ...],
    features: dict[str, Any],
) -> EngineResult:
    score = round(max(0.0, min(1.0, score)), 9)
    return EngineResult(signal, direction, score, round(min(strength, 1.0), 9), reasons, features, True)
