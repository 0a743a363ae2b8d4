"""SmartMoneyEngine: institutional positioning from writing flow, PCR and dealer gamma (BULLISH/BEARISH/NEUTRAL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from core.analytics import numeric
from core.domain import LiveMetrics
from core.engines.base import EngineParams, EngineResult, Scorecard, not_evaluable, num
from core.engines.history import EngineHistory
from core.state.history import TIME_TOL


@dataclass(frozen=True, slots=True)
class SmartMoneyParams(EngineParams):
    """SPEC section 6 defaults; the flow, z-score and straddle windows are event seconds.

    Noise floors the SPEC leaves open: writing needs the band's OI up by flow_min_rel (3 %) over
    flow_window_s, above the day's ordinary build-up (about 0.5 % per 3-minute OI step, so up to
    ~2 % in 10 minutes on both sides at once); the PCR shift z-score divides by at least
    pcr_z_min_std (0.02 of PCR), so a PCR creeping along with that build-up is not a "shift".
    """

    threshold: float = 0.5
    atm_band_strikes: int = 5  # writing counted at/below (puts) or at/above (calls) ATM, this many strikes
    flow_window_s: float = 600.0  # OI/premium change measured against the OI snapshot this old
    flow_min_rel: float = 0.03  # OI must grow by >= 3 % of the band's OI to count as writing
    pcr_strong_high: float = 1.3
    pcr_strong_low: float = 0.7
    pcr_mild_high: float = 1.1
    pcr_mild_low: float = 0.9
    pcr_z_window_s: float = 1800.0
    pcr_z_min: float = 1.0
    pcr_z_min_samples: int = 10
    pcr_z_step_s: float = 60.0  # the PCR is sampled on this grid over the z window
    pcr_z_min_std: float = 0.02  # a flat or slowly creeping baseline must not divide by ~0
    straddle_window_s: float = 900.0
    straddle_change_min: float = 0.02  # relative change of the ATM straddle over the window
    oi_accel_step_s: float = 300.0
    w_writing: float = 0.30
    w_pcr_strong: float = 0.20
    w_pcr_mild: float = 0.10
    w_pcr_shift: float = 0.20
    w_gex: float = 0.15
    w_straddle: float = 0.15


@dataclass(frozen=True, slots=True)
class SmartMoneyReading:
    """One smart-money evaluation; the runtime stores it as a SmartMoneyPrediction row."""

    ts: float
    symbol: str
    bias: str  # BULLISH | BEARISH | NEUTRAL
    confidence: float
    pcr: float | None
    pcr_shift_z: float | None
    atm_straddle: float | None
    straddle_change: float | None  # relative change over straddle_window_s
    oi_acceleration: float | None  # units per minute squared, total OI
    iv_regime: str | None


class SmartMoneyEngine:
    """Writers are the informed side in index options: put writing is bullish, call writing bearish.

    Rules: put writing near/below ATM (call writing above) 0.30; PCR > 1.3 / < 0.7 0.20 (1.1 / 0.9:
    0.10); PCR shift z over 30 min beyond +-1 0.20; dealers long / short gamma (the one regime
    definition, `core.analytics.regime.dealer_gamma`; SPEC says net GEX sign) 0.15; ATM straddle
    falling (sellers in control) bullish / rising bearish 0.15. Below threshold the verdict is
    NEUTRAL, active whenever PCR is known, with raw score 1 - the stronger side's score.

    Deviations from SPEC section 6, kept for the real recordings (issue 14):
    - "net GEX sign" is the debounced dealer-gamma regime: the sign flips on every OI step of a
      quiet chain and on a half-updated streamed one.
    - The bias is a state: the pipeline emits BULLISH / BEARISH once a reading has held
      `state_hold_s` (180 s); NEUTRAL is the tile's state and the SmartMoneyPrediction row's bias,
      never a signal (it has no view to score).
    - The writing window runs back from the chain's last change, not the clock, and the PCR
      z-score samples a fixed 60 s grid; both are not evaluable until the history covers them.
    - Writing, PCR and straddle windows are measured on complete observations of the chain,
      stamped when each was observed (`ChainObservations`), and the bias is debounced on them
      with the hold met within TIME_TOL (10 %): a chain streamed leg by leg over a minute gives
      the bias its snapshots give (issue 14, delivery invariance; docs/backtest.md).
    """

    name: ClassVar[str] = "SmartMoneyEngine"
    params_type: ClassVar[type[EngineParams]] = SmartMoneyParams
    kind: ClassVar[str] = "state"  # a bias held over time: debounced, NEUTRAL is never a signal

    def evaluate(
        self, metrics: LiveMetrics, history: EngineHistory, params: SmartMoneyParams | None = None
    ) -> EngineResult:
        p = params or SmartMoneyParams()
        card = Scorecard()
        features: dict[str, Any] = {"pcr": num(metrics.pcr_oi), "iv_regime": metrics.volatility_regime}
        _writing_rules(card, metrics, history, p, features)
        _pcr_rules(card, metrics, history, p, features)
        gamma = history.dealer_gamma
        card.add("up", "dealers_long_gamma", p.w_gex, gamma == "long")
        card.add("down", "dealers_short_gamma", p.w_gex, gamma == "short")
        _straddle_rule(card, metrics, history, p, features)
        features["net_gex"] = num(metrics.net_gex)
        features["dealer_gamma"] = gamma
        features["oi_acceleration"] = num(oi_acceleration(history, p.oi_accel_step_s))
        result = card.decide(p.threshold, "BULLISH", "BEARISH", features)
        if result.active:
            return result
        calm = round(1.0 - result.raw_score, 9)
        return EngineResult(
            "NEUTRAL", "NONE", calm, calm, ("no_dominant_bias",), result.features, metrics.pcr_oi is not None
        )


def reading(metrics: LiveMetrics, result: EngineResult) -> SmartMoneyReading:
    """The SmartMoneyPrediction payload of one evaluation."""
    f = result.features
    return SmartMoneyReading(
        ts=metrics.ts,
        symbol=metrics.symbol,
        bias=result.signal or "NEUTRAL",
        confidence=result.raw_score,
        pcr=f.get("pcr"),
        pcr_shift_z=f.get("pcr_shift_z"),
        atm_straddle=num(metrics.atm_straddle),
        straddle_change=f.get("straddle_change"),
        oi_acceleration=f.get("oi_acceleration"),
        iv_regime=metrics.volatility_regime,
    )


def oi_acceleration(history: EngineHistory, step_s: float) -> float | None:
    """Change of the total-OI rate between the last two steps, in units per minute squared."""
    a, b, c = (history.value_ago("total_oi", k * step_s) for k in (0, 1, 2))
    if a is None or b is None or c is None:
        return None
    minutes = step_s / 60.0
    return ((a - b) - (b - c)) / (minutes * minutes)


def _writing_rules(
    card: Scorecard, m: LiveMetrics, history: EngineHistory, p: SmartMoneyParams, features: dict[str, Any]
) -> None:
    if m.atm_strike is None or history.last_ts is None:
        return
    band = p.atm_band_strikes * m.strike_step
    puts, why_puts = history.oi_flow_over(m, "PE", m.atm_strike - band, m.atm_strike, p.flow_window_s)
    calls, why_calls = history.oi_flow_over(m, "CE", m.atm_strike, m.atm_strike + band, p.flow_window_s)
    if puts is None or calls is None:
        not_evaluable(features, "writing", why_puts or why_calls)
    card.add("up", "put_writing", p.w_writing, puts is not None and puts.writing(p.flow_min_rel))
    card.add("down", "call_writing", p.w_writing, calls is not None and calls.writing(p.flow_min_rel))
    features["put_oi_change"] = num(puts.d_oi) if puts else None
    features["put_premium_change"] = num(puts.d_premium) if puts else None
    features["call_oi_change"] = num(calls.d_oi) if calls else None
    features["call_premium_change"] = num(calls.d_premium) if calls else None


def _pcr_rules(
    card: Scorecard, m: LiveMetrics, history: EngineHistory, p: SmartMoneyParams, features: dict[str, Any]
) -> None:
    pcr = m.pcr_oi
    if pcr is not None:
        if not card.add("up", "pcr_above_1.3", p.w_pcr_strong, pcr > p.pcr_strong_high):
            card.add("up", "pcr_above_1.1", p.w_pcr_mild, pcr > p.pcr_mild_high)
        if not card.add("down", "pcr_below_0.7", p.w_pcr_strong, pcr < p.pcr_strong_low):
            card.add("down", "pcr_below_0.9", p.w_pcr_mild, pcr < p.pcr_mild_low)
    z = pcr_shift_z(history, p)
    features["pcr_shift_z"] = num(z)
    if z is None:
        not_evaluable(features, "pcr_shift", f"PCR history does not cover {p.pcr_z_window_s:.0f} s")
    card.add("up", "pcr_rising", p.w_pcr_shift, z is not None and z > p.pcr_z_min)
    card.add("down", "pcr_falling", p.w_pcr_shift, z is not None and z < -p.pcr_z_min)


def pcr_shift_z(history: EngineHistory, p: SmartMoneyParams) -> float | None:
    """z-score of the latest PCR against the preceding window's PCR, sampled as of each point of a
    fixed grid (pcr_z_step_s), so the number of samples does not depend on how often the feed
    delivered; None while the history does not cover the whole window.

    A function of the PCR series, the chain's last change and the z parameters: computed again
    only when one of them changed (the chain is observed every minute or so, engines run on
    every update)."""
    z = (p.pcr_z_window_s, p.pcr_z_step_s, p.pcr_z_min_samples, p.pcr_z_min_std)
    key = ("pcr_shift_z", history.data_ts, *z)
    return history.kept("pcr_oi", key, lambda: _pcr_shift_z(history, p))


def _pcr_shift_z(history: EngineHistory, p: SmartMoneyParams) -> float | None:
    now_ts = history.data_ts  # the chain's last change: PCR is a function of the chain
    if now_ts is None:
        return None
    steps = int(p.pcr_z_window_s // p.pcr_z_step_s)
    grid = now_ts - p.pcr_z_step_s * np.arange(steps, -1, -1)
    # As of each point within TIME_TOL of a step: an observation stamped a second after the
    # point (a streamed chain's first leg) is the one a snapshot at the point would give.
    values = history.sample("pcr_oi", grid + TIME_TOL * p.pcr_z_step_s)
    if not np.isfinite(values[0]) or len(values) < p.pcr_z_min_samples + 1:
        return None
    base, now = values[:-1], float(values[-1])
    std = max(numeric.std(base), p.pcr_z_min_std)
    return (now - numeric.mean(base)) / std


def _straddle_rule(
    card: Scorecard, m: LiveMetrics, history: EngineHistory, p: SmartMoneyParams, features: dict[str, Any]
) -> None:
    now = m.atm_straddle
    # Back from the chain's last change, not the clock: a verdict changes when data does.
    back = p.straddle_window_s - history.window_slack(p.straddle_window_s)
    then = history.value_ago("atm_straddle", back, end_ts=history.data_ts)
    change = (now - then) / then if now is not None and then else None
    features["straddle_change"] = num(change)
    if then is None:
        not_evaluable(features, "straddle", f"straddle history does not cover {p.straddle_window_s:.0f} s")
    # Option sellers in control bleed the straddle; a rising straddle is demand for protection.
    card.add("up", "straddle_falling", p.w_straddle, change is not None and change <= -p.straddle_change_min)
    card.add("down", "straddle_rising", p.w_straddle, change is not None and change >= p.straddle_change_min)
