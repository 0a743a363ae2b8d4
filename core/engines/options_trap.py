"""OptionsTrapEngine: a breakout that fails back through its level (BULL_TRAP points DOWN, BEAR_TRAP UP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from core.domain import LiveMetrics
from core.engines.base import EngineParams, EngineResult, Scorecard, Side, not_evaluable, num
from core.engines.history import EngineHistory, Pierce, StrikeFlow
from core.engines.history import Side as Through
from core.engines.smart_money import SmartMoneyEngine, SmartMoneyParams
from core.state.market_state import nearest_strike


@dataclass(frozen=True, slots=True)
class OptionsTrapParams(EngineParams):
    """SPEC section 6 defaults: breakout >= 0.2 % beyond the level that falls back within 10 minutes."""

    threshold: float = 0.5
    window_s: float = 600.0
    min_breakout_pct: float = 0.002
    # OI growth at the breakout strike that counts as writing: the breakout may be 10 minutes old,
    # and ordinary drift (~0.5 % per 3-minute step, more while a trend rolls positions) reaches
    # ~3 % in that time; at 0.2 % every breakout looked "written against".
    flow_min_rel: float = 0.05
    volume_baseline_s: float = 600.0  # volume rate before the breakout, for "falling volume"
    # "Falling" means at most this fraction of the baseline rate; an unchanged rate is noise.
    falling_volume_ratio: float = 0.8
    # "Positive net GEX (mean reversion)" needs dealers long gamma as a regime
    # (`EngineHistory.dealer_gamma`, debounced), not a sign that every quiet chain shows.
    w_failed_breakout: float = 0.35
    w_flow_contradicts: float = 0.25
    w_falling_volume: float = 0.15
    w_weak_smart_money: float = 0.10
    w_positive_gex: float = 0.15
    # The SmartMoney reading the "weak smart-money bias" rule uses; the pipeline passes the
    # configured SmartMoneyEngine params here (not overridable under OptionsTrapEngine itself).
    smart_money: SmartMoneyParams | None = None


class OptionsTrapEngine:
    """Buyers of a breakout above resistance are trapped when it falls back (BULL_TRAP, DOWN); the
    mirror at support is a BEAR_TRAP (UP). The failed breakout is the pattern; the other rules only
    add to a side that has it; when both sides failed within the window, the later failure wins.
    Smart-money bias comes from SmartMoneyEngine with the configured SmartMoney params (the pipeline
    sets `smart_money` from config, so both engines read the same bias)."""

    name: ClassVar[str] = "OptionsTrapEngine"
    params_type: ClassVar[type[EngineParams]] = OptionsTrapParams

    def evaluate(
        self, metrics: LiveMetrics, history: EngineHistory, params: OptionsTrapParams | None = None
    ) -> EngineResult:
        p = params or OptionsTrapParams()
        if metrics.spot is None:
            return EngineResult.inactive({"spot": None})
        features: dict[str, Any] = {"spot": num(metrics.spot), "net_gex": num(metrics.net_gex)}
        # Origin, breakout and failure are three spot samples, two sampling intervals within the
        # window: a coarser feed cannot show a trap, and every other rule only adds to one.
        coarse = history.too_coarse(p.window_s, samples=3)
        if coarse:
            not_evaluable(features, "failed_breakout", coarse)
            return Scorecard().decide(p.threshold, "BEAR_TRAP", "BULL_TRAP", features)
        # A failed break above resistance traps bulls (down); a failed break below support traps bears.
        sides: tuple[tuple[Side, Through], ...] = (("down", "above"), ("up", "below"))
        traps = {
            side: pierce
            for side, through in sides
            if (pierce := _failed_breakout(metrics, history, p, through)) is not None
        }
        if len(traps) == 2:
            # Both failed within the window: the later failure is the market's latest word.
            stale = min(traps, key=lambda side: _failed_at(history, traps[side]))
            del traps[stale]
            features["superseded"] = stale
        card = Scorecard()
        bias = SmartMoneyEngine().evaluate(metrics, history, p.smart_money).signal if traps else None
        for side, pierce in traps.items():
            _score_trap(card, side, pierce, bias or "", metrics, history, p, features)
        features["smart_money_bias"] = bias
        episodes = {side: pierce.extreme_ts for side, pierce in traps.items()}
        return card.decide(p.threshold, "BEAR_TRAP", "BULL_TRAP", features, episodes)


def _failed_at(history: EngineHistory, pierce: Pierce) -> float:
    """When spot first came back through the level after the breakout's extreme."""
    back: Through = "below" if pierce.side == "above" else "above"
    at = history.first_reach(pierce.extreme_ts, pierce.level, back)
    return pierce.extreme_ts if at is None else at


def _failed_breakout(
    metrics: LiveMetrics, history: EngineHistory, p: OptionsTrapParams, through: Through
) -> Pierce | None:
    if through == "above":
        levels = [metrics.resistance, *(k for k, _ in metrics.resistance_walls)]
    else:
        levels = [metrics.support, *(k for k, _ in metrics.support_walls)]
    assert metrics.spot is not None  # evaluate() returns before looking for a trap without a spot
    spot = float(metrics.spot)
    for level in dict.fromkeys(lv for lv in levels if lv is not None):
        pierce = history.pierce(float(level), through, p.window_s, p.min_breakout_pct)
        if pierce is not None and (spot < pierce.level if through == "above" else spot > pierce.level):
            return pierce
    return None


def _score_trap(
    card: Scorecard,
    side: Side,
    pierce: Pierce,
    bias: str,
    metrics: LiveMetrics,
    history: EngineHistory,
    p: OptionsTrapParams,
    features: dict[str, Any],
) -> None:
    bull_trap = pierce.side == "above"
    card.add(side, "failed_breakout" if bull_trap else "failed_breakdown", p.w_failed_breakout)

    flow = _strike_flow(metrics, history, pierce)
    tag = "call_writing_at_breakout" if bull_trap else "put_writing_at_breakdown"
    card.add(side, tag, p.w_flow_contradicts, flow is not None and flow.writing(p.flow_min_rel))
    during, before = _volume_rates(history, pierce, p)
    falling = during is not None and before is not None and during <= p.falling_volume_ratio * before
    card.add(side, "falling_volume", p.w_falling_volume, falling)
    weak = bias != ("BULLISH" if bull_trap else "BEARISH")
    card.add(side, "weak_smart_money", p.w_weak_smart_money, weak)
    long_gamma = history.dealer_gamma == "long" and metrics.dealer_gamma == "long"  # held and current
    card.add(side, "dealers_long_gamma", p.w_positive_gex, long_gamma)
    features.update(
        {
            f"{side}_level": num(pierce.level),
            f"{side}_extreme": num(pierce.extreme),
            f"{side}_breakout_pct": num(pierce.depth_pct),
            f"{side}_breakout_age_s": num((history.last_ts or pierce.extreme_ts) - pierce.cross_ts),
            f"{side}_strike_oi_change": num(flow.d_oi) if flow else None,
            f"{side}_strike_premium_change": num(flow.d_premium) if flow else None,
            f"{side}_volume_rate_breakout": num(during),
            f"{side}_volume_rate_before": num(before),
        }
    )


def _strike_flow(metrics: LiveMetrics, history: EngineHistory, pierce: Pierce) -> StrikeFlow | None:
    """Calls at the broken resistance strike (puts at support) since the breakout began; writers
    selling there do not believe the breakout."""
    strike = nearest_strike(metrics.strikes, pierce.level)
    if strike is None:
        return None
    right = "CE" if pierce.side == "above" else "PE"
    return history.oi_flow(metrics, right, strike, strike, pierce.cross_ts)


def _volume_rates(
    history: EngineHistory, pierce: Pierce, p: OptionsTrapParams
) -> tuple[float | None, float | None]:
    """Units per minute during the breakout leg (at least one minute) and before it."""
    end = max(pierce.extreme_ts, pierce.cross_ts + 60.0)
    during = history.volume_rate(pierce.cross_ts, end)
    before = history.volume_rate(pierce.cross_ts - p.volume_baseline_s, pierce.cross_ts)
    return during, before
