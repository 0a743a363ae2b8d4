"""GammaSqueezeEngine: short-gamma dealers forced to chase a move into the flip or a wall (SQUEEZE_UP/_DOWN)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from core.domain import LiveMetrics
from core.engines.base import EngineParams, EngineResult, Scorecard, Side, not_evaluable, num
from core.engines.history import EngineHistory


@dataclass(frozen=True, slots=True)
class GammaSqueezeParams(EngineParams):
    """SPEC section 6 defaults: short gamma 0.25, near flip/wall 0.20, momentum 0.20, buying 0.20,
    volatility spike 0.15.

    Where the SPEC gives no number: "dealers short gamma" is a regime, not a sign, so it needs the
    normalised net GEX g = net_gex / gross_gex below -0.15 (`LiveMetrics.dealer_gamma`, the one
    definition, band `AnalyticsConfig.gamma_band`), held for the state debounce
    (`EngineHistory.dealer_gamma`); a chain whose g merely hovers around zero, or dips for a
    moment on a half-updated streamed chain, has no dealers forced to chase. "Buying" needs
    the ATM-wall band's OI up by flow_min_rel (5 %) over flow_window_s with premiums up: ordinary
    OI drift is about 0.5 % per 3-minute step, and a trending market rolls positions towards the
    new ATM at up to ~3 % per 5 minutes; 0.2 % fired on every other update.
    """

    threshold: float = 0.5
    near_pct: float = 0.005  # within 0.5 % of the flip or the wall
    through_window_s: float = 300.0  # "through" = crossed the level within this many seconds
    momentum_min: float = 0.003  # 5-minute return beyond 0.3 % (ret_5m is a fraction)
    default_band_strikes: int = 3  # ATM..wall band when the wall is missing or on the wrong side
    flow_window_s: float = 300.0
    flow_min_rel: float = 0.05
    vol_spike_min: float = 1.5  # realised vol 5 min / 30 min
    w_short_gamma: float = 0.25
    w_near_level: float = 0.20
    w_momentum: float = 0.20
    w_buying: float = 0.20
    w_vol_spike: float = 0.15


class GammaSqueezeEngine:
    """Option buying in the ATM-wall band is the pattern: someone must be buying the options that
    dealers then hedge by chasing spot. Momentum, short gamma, proximity to the flip or wall and a
    volatility spike add to a side only when that side has it, so a plain trend into short gamma
    (momentum + short gamma + near flip, 0.65) is a trend, not a squeeze."""

    name: ClassVar[str] = "GammaSqueezeEngine"
    params_type: ClassVar[type[EngineParams]] = GammaSqueezeParams

    def evaluate(
        self, metrics: LiveMetrics, history: EngineHistory, params: GammaSqueezeParams | None = None
    ) -> EngineResult:
        p = params or GammaSqueezeParams()
        spot = metrics.spot
        if spot is None:
            return EngineResult.inactive({"spot": None})
        ret = metrics.ret_5m
        features: dict[str, Any] = {
            "spot": num(spot),
            "net_gex": num(metrics.net_gex),
            "g": num(metrics.gex_ratio),
            "dealer_gamma": history.dealer_gamma,
            "gamma_flip": num(metrics.gamma_flip),
            "call_wall": num(metrics.call_wall),
            "put_wall": num(metrics.put_wall),
            "ret_5m": num(ret),
            "vol_spike_ratio": num(metrics.vol_spike_ratio),
        }
        card = Scorecard()
        for side in ("up", "down"):
            sign = 1.0 if side == "up" else -1.0
            momentum = ret is not None and sign * ret > p.momentum_min
            buying = _buying(metrics, history, p, side, features)
            features[f"{side}_momentum"] = momentum
            if not buying:
                continue
            card.add(side, f"momentum_{side}", p.w_momentum, momentum)
            card.add(side, "call_buying" if side == "up" else "put_buying", p.w_buying, True)
            _context(card, side, metrics, history, p, features)
        return card.decide(p.threshold, "SQUEEZE_UP", "SQUEEZE_DOWN", features)


def _context(
    card: Scorecard,
    side: Side,
    m: LiveMetrics,
    history: EngineHistory,
    p: GammaSqueezeParams,
    features: dict[str, Any],
) -> None:
    # Held and still current: a regime settled across a data gap is not evidence of now.
    short = history.dealer_gamma == "short" and m.dealer_gamma == "short"
    card.add(side, "dealers_short_gamma", p.w_short_gamma, short)
    wall = m.call_wall if side == "up" else m.put_wall
    near = [
        kind
        for kind, lv in (("flip", m.gamma_flip), ("wall", wall))
        if _near_or_through(m, history, p, side, lv)
    ]
    card.add(side, f"near_{near[0]}" if near else "", p.w_near_level, bool(near))
    ratio = m.vol_spike_ratio
    card.add(side, "vol_spike", p.w_vol_spike, ratio is not None and ratio >= p.vol_spike_min)
    features[f"{side}_near"] = ",".join(near) or None


def _near_or_through(
    m: LiveMetrics, history: EngineHistory, p: GammaSqueezeParams, side: Side, level: float | None
) -> bool:
    spot = m.spot
    if level is None or spot is None or not spot > 0:
        return False
    if abs(spot - level) / spot <= p.near_pct:
        return True
    span = history.min_max(p.through_window_s)
    if span is None:
        return False
    # Through: crossed the level in the move's direction within the window and still beyond it.
    return spot > level > span[0] if side == "up" else spot < level < span[1]


def _buying(
    m: LiveMetrics, history: EngineHistory, p: GammaSqueezeParams, side: Side, features: dict[str, Any]
) -> bool:
    """Call buying between ATM and the call wall (put buying between the put wall and ATM)."""
    atm, step = m.atm_strike, m.strike_step
    if atm is None or history.last_ts is None:
        return False
    default = p.default_band_strikes * step
    if side == "up":
        right, lo = "CE", atm
        hi = m.call_wall if m.call_wall is not None and m.call_wall > atm else atm + default
    else:
        right, hi = "PE", atm
        lo = m.put_wall if m.put_wall is not None and m.put_wall < atm else atm - default
    flow, why = history.oi_flow_over(m, right, lo, hi, p.flow_window_s)
    if flow is None:
        not_evaluable(features, f"{side}_buying", why)
    features[f"{side}_band_oi_change"] = num(flow.d_oi) if flow else None
    features[f"{side}_band_premium_change"] = num(flow.d_premium) if flow else None
    return flow is not None and flow.buying(p.flow_min_rel)
