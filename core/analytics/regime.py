"""Regimes and alerts: spot features, volatility regime, structural regime, structural alerts.

Pure functions of arrays and numbers, plus `RegimeDebounce`, the one piece of state that decides
when a regime change is announced. Spot in rupees, returns as fractions (0.003 = 0.3 %), times in
event epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.domain import Alert

TRADING_SECONDS_PER_YEAR = 252 * 375 * 60.0  # 252 sessions of 09:15-15:30
# A window counts as covered when the history reaches back this fraction of it (feeds have gaps).
WINDOW_COVERAGE = 0.8
MIN_RETURNS = 5
IV_PERCENTILE_MIN_SAMPLES = 20
VOL_REGIMES = ((0.10, "low"), (0.20, "normal"), (0.35, "elevated"))
BULLISH_FLOWS = frozenset({"put_writing", "call_buying", "call_unwinding"})
BEARISH_FLOWS = frozenset({"call_writing", "put_buying", "put_unwinding"})
MOMENTUM_RET = 0.0015  # |5-min return| that counts as a directional move
NEAR_WALL = 0.0025
FLIP_NEAR = 0.002
FLOW_SPIKE = 0.6
PIN_NEAR = 0.003
MAGNET_MINUTES = 120.0
REGIME_DEBOUNCE_S = 300.0


@dataclass(frozen=True, slots=True)
class SpotFeatures:
    """Spot-path features; None where the history does not cover the window (reason in `missing`)."""

    ret_1m: float | None
    ret_5m: float | None
    range_5m: float | None  # points (rupees), high - low over 5 minutes
    realized_vol_30m: float | None  # annualised over trading time
    vol_spike_ratio: float | None  # realised vol 5 min / 30 min
    missing: dict[str, str]


def _covered(ts: np.ndarray, now: float, seconds: float) -> bool:
    return len(ts) > 0 and ts[0] <= now - WINDOW_COVERAGE * seconds


def _ret(ts: np.ndarray, spot: np.ndarray, now: float, seconds: float) -> float | None:
    """Simple return from the last sample at or before now - seconds (not older than 2x the horizon)."""
    i = int(np.searchsorted(ts, now - seconds, side="right")) - 1
    if i < 0 or ts[i] < now - 2 * seconds or spot[i] <= 0:
        return None
    return float(spot[-1] / spot[i] - 1.0)


def _realized_vol(ts: np.ndarray, spot: np.ndarray, now: float, seconds: float) -> float | None:
    """Annualised realised vol from consecutive log returns in the window, per second of event time."""
    mask = ts > now - seconds
    t, s = ts[mask], spot[mask]
    if len(t) <= MIN_RETURNS or not _covered(ts, now, seconds) or t[-1] <= t[0]:
        return None
    r = np.diff(np.log(s))
    return float(np.sqrt(np.sum(r * r) / (t[-1] - t[0]) * TRADING_SECONDS_PER_YEAR))


def spot_features(ts: np.ndarray, spot: np.ndarray, now: float) -> SpotFeatures:
    """Returns over 1 and 5 minutes, 5-minute range, 30-minute realised vol, 5m/30m vol ratio."""
    keep = (ts <= now) & np.isfinite(spot) & (spot > 0)
    ts, spot = ts[keep], spot[keep]
    missing: dict[str, str] = {}
    if len(ts) < 2:
        reason = "spot history has fewer than 2 samples"
        names = ("ret_1m", "ret_5m", "range_5m", "realized_vol_30m", "vol_spike_ratio")
        return SpotFeatures(None, None, None, None, None, dict.fromkeys(names, reason))
    ret_1m, ret_5m = _ret(ts, spot, now, 60.0), _ret(ts, spot, now, 300.0)
    window = spot[ts > now - 300.0]
    range_5m = float(window.max() - window.min()) if _covered(ts, now, 300.0) else None
    rv30, rv5 = _realized_vol(ts, spot, now, 1800.0), _realized_vol(ts, spot, now, 300.0)
    spike = rv5 / rv30 if rv5 is not None and rv30 else None
    for name, value, window_s in (
        ("ret_1m", ret_1m, 60),
        ("ret_5m", ret_5m, 300),
        ("range_5m", range_5m, 300),
        ("realized_vol_30m", rv30, 1800),
        ("vol_spike_ratio", spike, 1800),
    ):
        if value is None:
            missing[name] = f"spot history does not cover {window_s} s yet"
    return SpotFeatures(ret_1m, ret_5m, range_5m, rv30, spike, missing)


def volatility_regime(atm_iv: float) -> str:
    """ATM IV (decimal) to low (< 10 %), normal (< 20 %), elevated (< 35 %) or extreme."""
    for bound, name in VOL_REGIMES:
        if atm_iv < bound:
            return name
    return "extreme"


def iv_percentile(history: np.ndarray, current: float) -> float | None:
    """Percent (0-100) of past ATM IV samples at or below `current`; None with too little history."""
    history = history[np.isfinite(history)]
    if len(history) < IV_PERCENTILE_MIN_SAMPLES:
        return None
    return float(100.0 * np.count_nonzero(history <= current) / len(history))


@dataclass(frozen=True, slots=True)
class RegimeInputs:
    """What the structural regime and the alerts look at; None = unknown (the rule cannot fire)."""

    ts: float
    spot: float
    net_gex: float | None = None
    gamma_flip: float | None = None
    flow_imbalance: float | None = None
    flow_direction: str | None = None
    ret_5m: float | None = None
    vol_spike_ratio: float | None = None
    volatility_regime: str | None = None
    support: float | None = None
    resistance: float | None = None
    max_pain: float | None = None
    max_oi_strike: float | None = None
    expected_move: float | None = None
    minutes_to_close: float | None = None  # minutes to 15:30 IST when today is expiry day, else None


def _near(spot: float, level: float | None, fraction: float) -> bool:
    return level is not None and abs(spot - level) <= fraction * spot


def pin_distance(x: RegimeInputs) -> float | None:
    """Farther of |spot - max pain| and |spot - max-OI strike| as a fraction, on expiry day only."""
    if x.minutes_to_close is None or x.max_pain is None or x.max_oi_strike is None:
        return None
    return max(abs(x.spot - x.max_pain), abs(x.spot - x.max_oi_strike)) / x.spot


def _move_sign(x: RegimeInputs) -> int:
    if x.ret_5m is None or abs(x.ret_5m) < MOMENTUM_RET:
        return 0
    return 1 if x.ret_5m > 0 else -1


def _scores(x: RegimeInputs) -> dict[str, float]:
    """Each regime sums the weights of the rules that hold (weights add to 1.0 per regime).

    range: long gamma, quiet tape, balanced flow, calm vol. trend: short gamma, a 5-min move,
    OI flow agreeing with it, spot beyond the flip in its direction. breakout: spot at the wall it
    is moving into, short gamma, a volatility spike, a one-sided flow.
    """
    move = _move_sign(x)
    flow_sign = 1 if x.flow_direction in BULLISH_FLOWS else -1 if x.flow_direction in BEARISH_FLOWS else 0
    long_gamma, short_gamma = x.net_gex is not None and x.net_gex > 0, x.net_gex is not None and x.net_gex < 0
    wall_ahead = x.resistance if move > 0 else x.support if move < 0 else None
    beyond_flip = x.gamma_flip is not None and move != 0 and (x.spot - x.gamma_flip) * move > 0
    imbalance = abs(x.flow_imbalance) if x.flow_imbalance is not None else None
    return {
        "range": 0.35 * long_gamma
        + 0.25 * (x.ret_5m is not None and move == 0)
        + 0.2 * (imbalance is not None and imbalance < 0.3)
        + 0.2 * (x.volatility_regime in ("low", "normal")),
        "trend": 0.3 * short_gamma
        + 0.3 * (move != 0)
        + 0.2 * (move != 0 and flow_sign == move)
        + 0.2 * beyond_flip,
        "breakout": 0.3 * (move != 0 and _near(x.spot, wall_ahead, NEAR_WALL))
        + 0.25 * short_gamma
        + 0.25 * (x.vol_spike_ratio is not None and x.vol_spike_ratio >= 1.5)
        + 0.2 * (imbalance is not None and imbalance >= FLOW_SPIKE),
    }


def classify_regime(x: RegimeInputs) -> tuple[str, float] | None:
    """(regime, confidence 0-1) among range / trend / breakout / pin_risk; None without GEX or returns.

    pin_risk wins on expiry day when spot sits within 0.3 % of both max pain and the largest OI
    strike; otherwise each regime sums the weights of its rules and the highest score wins.
    """
    pin = pin_distance(x)
    if pin is not None and pin <= PIN_NEAR:
        return "pin_risk", round(0.6 + 0.4 * (1.0 - pin / PIN_NEAR), 4)
    if x.net_gex is None and x.ret_5m is None:
        return None
    scores = _scores(x)
    best = max(scores, key=lambda k: scores[k])
    return best, round(min(1.0, scores[best]), 4)


class RegimeDebounce:
    """Announces a regime change at most once per 5 minutes of event time; the first regime is silent."""

    __slots__ = ("announced", "announced_ts")

    def __init__(self) -> None:
        self.announced: str | None = None
        self.announced_ts = float("-inf")

    def update(self, ts: float, regime: str | None) -> Alert | None:
        if regime is None or regime == self.announced:
            return None
        if self.announced is None:
            self.announced, self.announced_ts = regime, ts
            return None
        if ts - self.announced_ts < REGIME_DEBOUNCE_S:
            return None
        previous, self.announced, self.announced_ts = self.announced, regime, ts
        severity = "high" if regime in ("breakout", "pin_risk") else "medium"
        return Alert("REGIME_CHANGE", severity, f"structural regime {previous} -> {regime}", ts)


def structural_alerts(x: RegimeInputs, previous: RegimeInputs | None = None) -> list[Alert]:
    """Alerts that hold at `x.ts`: GAMMA_FLIP_BREAK, FLOW_IMBALANCE_SPIKE, PIN_RISK, EXPIRY_MAGNET.

    `previous` is the last evaluation of the same symbol and expiry, used to see a flip crossing.
    """
    out: list[Alert] = []
    if x.gamma_flip is not None:
        crossed = (
            previous is not None
            and previous.gamma_flip is not None
            and (previous.spot - previous.gamma_flip) * (x.spot - x.gamma_flip) < 0
        )
        if crossed or _near(x.spot, x.gamma_flip, FLIP_NEAR):
            short = x.net_gex is not None and x.net_gex < 0
            severity = ("critical" if short else "high") if crossed else "medium"
            what = "crossed" if crossed else "is within 0.2 % of"
            out.append(
                Alert("GAMMA_FLIP_BREAK", severity, f"spot {what} gamma flip {x.gamma_flip:.1f}", x.ts)
            )
    if x.flow_imbalance is not None and abs(x.flow_imbalance) > FLOW_SPIKE:
        severity = "high" if abs(x.flow_imbalance) > 0.85 else "medium"
        message = f"OI flow imbalance {x.flow_imbalance:+.2f} ({x.flow_direction})"
        out.append(Alert("FLOW_IMBALANCE_SPIKE", severity, message, x.ts))
    pin = pin_distance(x)
    if pin is not None and pin <= PIN_NEAR:
        severity = "high" if x.minutes_to_close is not None and x.minutes_to_close <= 60 else "medium"
        message = f"expiry-day pin: spot within {pin:.2%} of max pain {x.max_pain:g} and OI peak {x.max_oi_strike:g}"
        out.append(Alert("PIN_RISK", severity, message, x.ts))
    elif _magnet(x):
        severity = "medium" if x.minutes_to_close is not None and x.minutes_to_close <= 60 else "low"
        message = f"largest OI strike {x.max_oi_strike:g} within the expected move into expiry"
        out.append(Alert("EXPIRY_MAGNET", severity, message, x.ts))
    return out


def _magnet(x: RegimeInputs) -> bool:
    """Expiry day, last 2 hours: the largest-OI strike lies within the 1-sigma expected move."""
    if x.minutes_to_close is None or x.minutes_to_close > MAGNET_MINUTES or x.max_oi_strike is None:
        return False
    return x.expected_move is not None and abs(x.spot - x.max_oi_strike) <= x.expected_move
