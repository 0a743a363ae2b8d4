"""Regimes and alerts: spot features, volatility regime, structural regime, structural alerts.

Pure functions of arrays and numbers, plus `RegimeDebounce`, the one piece of state that decides
when a regime change is announced. Spot in rupees, returns as fractions (0.003 = 0.3 %), times in
event epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.domain import Alert, Severity
from core.market_calendar import TRADING_SECONDS_PER_YEAR
from core.state.history import TIME_TOL, edge_slack, observation_interval_s

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
# Dealers are long (short) gamma when the normalised net GEX g = net / gross lies beyond +-band.
GAMMA_BAND = 0.15
DealerGamma = Literal["long", "short", "neutral"]


def normalised_gex(net_gex: float | None, gross_gex: float | None) -> float | None:
    """g = net GEX / gross GEX in -1..1; None without a positive gross GEX."""
    if net_gex is None or gross_gex is None or not gross_gex > 0:
        return None
    return max(-1.0, min(1.0, net_gex / gross_gex))


def dealer_gamma(g: float | None, band: float = GAMMA_BAND) -> DealerGamma | None:
    """The one definition of "dealers long / short gamma", used by every engine, the structural
    regime and the UI: g beyond +band is long, beyond -band short, else neutral; None unknown.

    The bare sign of net GEX is not a regime: a quiet chain's g hovers around zero and flips sign
    on every OI step, and on a half-updated streamed chain.
    """
    if g is None:
        return None
    if g > band:
        return "long"
    if g < -band:
        return "short"
    return "neutral"


@dataclass(frozen=True, slots=True)
class SpotFeatures:
    """Spot-path features; None where the history does not cover the window, or is sampled too
    coarsely for it (reason in `missing`)."""

    ret_1m: float | None
    ret_5m: float | None
    range_5m: float | None  # points (rupees), high - low over 5 minutes
    realized_vol_30m: float | None  # annualised over trading time
    vol_spike_ratio: float | None  # realised vol 5 min / 30 min
    missing: dict[str, str]


def _covered(ts: np.ndarray, now: float, seconds: float) -> bool:
    return len(ts) > 0 and ts[0] <= now - WINDOW_COVERAGE * seconds


def _sparse(interval: float | None, finest_s: float, what: str) -> str:
    """Why a covered window still has too few samples: the feed (observed every `interval` s) is
    coarser than `finest_s`, or a gap."""
    if interval is not None and interval > finest_s * (1 + TIME_TOL):
        return f"not evaluable at this resolution: spot observed every ~{interval:.0f} s; {what}"
    return f"gap in the spot history: {what}"


def _ret(
    ts: np.ndarray, spot: np.ndarray, now: float, seconds: float, interval: float | None
) -> tuple[float | None, str]:
    """Simple return over `seconds` from the sample whose age is nearest the horizon, among those
    (1 - TIME_TOL) to 2 horizons old: a feed's clock wobbles, and the snapshot stamped 299 s back
    is the 5-minute-old one when the one before it is 10 minutes old. (None, why) without one."""
    young, old = now - (1 - TIME_TOL) * seconds, now - 2 * seconds
    lo, hi = int(np.searchsorted(ts, old, side="left")), int(np.searchsorted(ts, young, side="right"))
    if lo >= hi:
        if ts[0] > young:
            return None, f"spot history does not cover {seconds:.0f} s yet"
        return None, _sparse(interval, seconds, f"no sample {now - young:.0f}-{now - old:.0f} s old")
    i = lo + int(np.argmin(np.abs(now - ts[lo:hi] - seconds)))
    return float(spot[-1] / spot[i] - 1.0), ""


def _realized_vol(
    ts: np.ndarray, spot: np.ndarray, now: float, seconds: float, interval: float | None
) -> tuple[float | None, str]:
    """Annualised realised vol from consecutive log returns over the window, per second of event
    time; (None, why) with fewer than MIN_RETURNS returns. The returns start at the last sample at
    or before the window (not older than two windows): the one that opens its first return. The
    window's start is read half an observation interval later (`edge_slack`, see `spot_features`)."""
    if not _covered(ts, now, seconds):
        return None, f"spot history does not cover {seconds:.0f} s yet"
    a = int(np.searchsorted(ts, now - seconds + edge_slack(interval, seconds), side="right")) - 1
    a = a if a >= 0 and ts[a] >= now - 2 * seconds else a + 1
    t, s = ts[a:], spot[a:]
    if len(t) - 1 < MIN_RETURNS or t[-1] <= t[0]:
        what = f"{len(t) - 1} of the {MIN_RETURNS} returns it needs in {seconds:.0f} s"
        return None, _sparse(interval, seconds / MIN_RETURNS, what)
    r = np.diff(np.log(s))
    return float(np.sqrt(np.sum(r * r) / (t[-1] - t[0]) * TRADING_SECONDS_PER_YEAR)), ""


def spot_features(ts: np.ndarray, spot: np.ndarray, now: float) -> SpotFeatures:
    """Returns over 1 and 5 minutes, 5-minute range, 30-minute realised vol, 5m/30m vol ratio.

    Computed from spot *observations* (a sample repeating the previous value is no observation)
    and anchored at the latest one: a feature changes only when spot does. A chain streamed leg
    by leg re-publishes an unchanged spot every second; evaluated as the clock runs on, the same
    market would otherwise show a drifting realised vol and a 1-minute return of zero that a
    snapshot replay of it never shows.
    """
    return observed_features(*spot_observations(ts, spot, now))


def spot_observations(ts: np.ndarray, spot: np.ndarray, now: float) -> tuple[np.ndarray, np.ndarray]:
    """The finite, positive samples at or before `now` that differ from the sample before them."""
    keep = (ts <= now) & np.isfinite(spot) & (spot > 0)
    ts, spot = ts[keep], spot[keep]
    if not len(ts):
        return ts, spot
    changed = np.concatenate(([True], spot[1:] != spot[:-1]))
    return ts[changed], spot[changed]


def observed_features(ts: np.ndarray, spot: np.ndarray) -> SpotFeatures:
    """spot_features of spot observations (`spot_observations`), anchored at the last one: a
    function of these two arrays alone."""
    if len(ts) < 2:
        reason = "spot history has fewer than 2 samples"
        names = ("ret_1m", "ret_5m", "range_5m", "realized_vol_30m", "vol_spike_ratio")
        return SpotFeatures(None, None, None, None, None, dict.fromkeys(names, reason))
    now = float(ts[-1])
    # One interval for every feature (and every reason why one is missing): a median of the gaps.
    interval = observation_interval_s(ts, spot)
    ret_1m, why_1m = _ret(ts, spot, now, 60.0, interval)
    ret_5m, why_5m = _ret(ts, spot, now, 300.0, interval)
    # Window starts fall half an observation interval after the instant `seconds` back: between two
    # observations, not on one. On 1-minute snapshots the instant 5 minutes back is an observation's
    # own time, and a stream stamps each observation with the update that brought it (up to a second
    # later, with the legs of that second), so a start exactly there would take or leave that
    # observation by the jitter of the stamps, not by the market.
    window = spot[ts > now - 300.0 + edge_slack(interval, 300.0)]
    range_5m = float(window.max() - window.min()) if _covered(ts, now, 300.0) else None
    rv30, why_30 = _realized_vol(ts, spot, now, 1800.0, interval)
    rv5, why_5 = _realized_vol(ts, spot, now, 300.0, interval)
    spike = rv5 / rv30 if rv5 is not None and rv30 else None
    why_spike = f"5-minute vol: {why_5}" if rv5 is None else f"30-minute vol: {why_30 or 'zero'}"
    missing = {
        name: reason
        for name, value, reason in (
            ("ret_1m", ret_1m, why_1m),
            ("ret_5m", ret_5m, why_5m),
            ("range_5m", range_5m, "spot history does not cover 300 s yet"),
            ("realized_vol_30m", rv30, why_30),
            ("vol_spike_ratio", spike, why_spike),
        )
        if value is None
    }
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
    dealer_gamma: DealerGamma | None = None
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
    long_gamma, short_gamma = x.dealer_gamma == "long", x.dealer_gamma == "short"
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
    if x.dealer_gamma is None and x.ret_5m is None:
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
        severity: Severity = "high" if regime in ("breakout", "pin_risk") else "medium"
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
            short = x.dealer_gamma == "short"
            severity: Severity = ("critical" if short else "high") if crossed else "medium"
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
