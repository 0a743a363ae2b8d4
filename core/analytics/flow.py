"""Open interest: positioning (PCR, max pain, walls), per-leg OI steps, flow and build-up.

Arrays are shaped (2, n): row 0 calls, row 1 puts, columns aligned with ascending strikes.
OI in units (contracts x lot size), premiums in rupees, times in event epoch seconds.
Exchange OI moves in steps (about every 3 minutes), so a leg's flow is measured between its own
last two OI changes, never per tick.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from core.analytics import numeric

CALL, PUT = 0, 1
BUILDUP_KINDS = ("LONG_BUILDUP", "SHORT_BUILDUP", "SHORT_COVERING", "LONG_UNWINDING")
_BUILDUP_NAMES = np.array(("", *BUILDUP_KINDS), dtype=object)
# Below this |imbalance| neither side dominates and the flow is called "balanced".
BALANCED_IMBALANCE = 0.2


@dataclass(frozen=True, slots=True)
class LegFlow:
    """Each leg's latest OI step: d_oi (units), d_premium (rupees), dt_s (seconds between its OI steps).

    d_oi is 0 for a leg seen earlier whose OI has not moved since, NaN for a leg seen only now.
    """

    d_oi: np.ndarray
    d_premium: np.ndarray
    dt_s: np.ndarray


class OiFlowTracker:
    """Per-leg OI step history for one (symbol, expiry); strikes may appear or vanish between calls."""

    __slots__ = ("_strikes", "_oi", "_premium", "_ts", "_d_oi", "_d_premium", "_dt")

    def __init__(self) -> None:
        self._strikes = np.empty(0)
        empty = np.empty((2, 0))
        self._oi = self._premium = self._ts = self._d_oi = self._d_premium = self._dt = empty

    @property
    def settled(self) -> bool:
        """Every leg seen has a step (zero if its OI never moved): recording the OI last recorded
        again, at any later time, would change nothing."""
        return not bool((np.isfinite(self._oi) & np.isnan(self._d_oi)).any())

    def _align(self, strikes: np.ndarray) -> None:
        if np.array_equal(strikes, self._strikes):
            return
        pos = np.searchsorted(self._strikes, strikes)
        pos = np.minimum(pos, max(len(self._strikes) - 1, 0))
        found = (
            np.zeros(len(strikes), dtype=bool) if not len(self._strikes) else self._strikes[pos] == strikes
        )

        def take(old: np.ndarray) -> np.ndarray:
            new = np.full((2, len(strikes)), np.nan)
            new[:, found] = old[:, pos[found]]
            return new

        self._oi, self._premium, self._ts = take(self._oi), take(self._premium), take(self._ts)
        self._d_oi, self._d_premium, self._dt = take(self._d_oi), take(self._d_premium), take(self._dt)
        self._strikes = strikes.copy()

    def update(self, ts: float, strikes: np.ndarray, oi: np.ndarray, premium: np.ndarray) -> LegFlow:
        """Record the chain's OI at `ts`; legs whose OI changed get a new step. Returns copies."""
        self._align(strikes)
        seen = np.isfinite(self._oi)
        first = np.isfinite(oi) & ~seen
        changed = np.isfinite(oi) & seen & (oi != self._oi)
        self._d_oi = np.where(changed, oi - self._oi, self._d_oi)
        self._d_premium = np.where(changed, premium - self._premium, self._d_premium)
        self._dt = np.where(changed, ts - self._ts, self._dt)
        # A leg seen at an earlier time whose OI has not moved has had zero flow, not unknown flow.
        still = seen & ~changed & np.isnan(self._d_oi) & (self._ts < ts)
        self._d_oi = np.where(still, 0.0, self._d_oi)
        self._d_premium = np.where(still, 0.0, self._d_premium)
        step = changed | first
        self._oi = np.where(step, oi, self._oi)
        self._premium = np.where(step, premium, self._premium)
        self._ts = np.where(step, ts, self._ts)
        return LegFlow(self._d_oi.copy(), self._d_premium.copy(), self._dt.copy())


@dataclass(frozen=True, slots=True)
class FlowSummary:
    """Aggregated flow over the near-ATM window; None where it cannot be computed."""

    call_velocity: float | None  # units per minute
    put_velocity: float | None
    imbalance: float | None  # (callD - putD) / (|callD| + |putD|)
    direction: str | None
    call_d_oi: float | None
    put_d_oi: float | None


def _side_direction(name: str, d_oi: float, premium_sign: float) -> str:
    if d_oi < 0:
        return f"{name}_unwinding"
    return f"{name}_buying" if premium_sign > 0 else f"{name}_writing"


def summarize_flow(flow: LegFlow, window: np.ndarray) -> FlowSummary:
    """OI velocity, imbalance and direction over strikes where `window` (n,) is True.

    Velocity sums each leg's own rate (dOI / its OI-step interval) in units per minute.
    Direction comes from the side with the larger |dOI|: OI up with premium down is writing, OI up
    with premium up is buying, OI down is unwinding; a small imbalance is "balanced".
    """
    d_oi = np.where(window, flow.d_oi, np.nan)
    valid = np.isfinite(d_oi)
    if not valid.any():
        return FlowSummary(None, None, None, None, None, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(d_oi == 0, 0.0, np.where(valid & (flow.dt_s > 0), d_oi / (flow.dt_s / 60.0), np.nan))
    velocity = [float(np.nansum(rate[i])) if np.isfinite(rate[i]).any() else None for i in (CALL, PUT)]
    side_d = np.nansum(d_oi, axis=1)
    gross = abs(side_d[CALL]) + abs(side_d[PUT])
    imbalance = float((side_d[CALL] - side_d[PUT]) / gross) if gross > 0 else None
    if imbalance is None:
        direction = None
    elif abs(imbalance) < BALANCED_IMBALANCE:
        direction = "balanced"
    else:
        side = CALL if abs(side_d[CALL]) >= abs(side_d[PUT]) else PUT
        weights = np.abs(np.where(valid[side], d_oi[side], 0.0))
        premium_move = float(np.nansum(weights * np.nan_to_num(flow.d_premium[side])))
        direction = _side_direction("call" if side == CALL else "put", float(side_d[side]), premium_move)
    return FlowSummary(
        velocity[CALL], velocity[PUT], imbalance, direction, float(side_d[CALL]), float(side_d[PUT])
    )


def buildup_classes(d_price: np.ndarray, d_oi: np.ndarray) -> np.ndarray:
    """Per-leg build-up class ("" when a change is zero or unknown), same shape as the inputs.

    price up + OI up LONG_BUILDUP, price down + OI up SHORT_BUILDUP, price up + OI down
    SHORT_COVERING, price down + OI down LONG_UNWINDING.
    """
    with np.errstate(invalid="ignore"):
        up_p, dn_p, up_oi, dn_oi = d_price > 0, d_price < 0, d_oi > 0, d_oi < 0
    # The four cases exclude each other: each leg's index into _BUILDUP_NAMES, then one lookup
    # (four masked writes into an object array cost more).
    code = (up_p & up_oi) + 2 * (dn_p & up_oi) + 3 * (up_p & dn_oi) + 4 * (dn_p & dn_oi)
    names: np.ndarray = _BUILDUP_NAMES[code]
    return names


def buildup_counts(classes: np.ndarray) -> dict[str, int]:
    """How many legs fall in each build-up class (every class present, zeros included)."""
    found = Counter(classes.ravel().tolist())
    return {kind: found[kind] for kind in BUILDUP_KINDS}


def ratio(num: float, den: float) -> float | None:
    return float(num / den) if den and np.isfinite(num) and np.isfinite(den) else None


def max_pain(strikes: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray) -> float | None:
    """Strike minimising writers' payout sum callOI*(X-K)+ + putOI*(K-X)+; lowest strike on ties."""
    call_oi, put_oi = np.where(np.isnan(call_oi), 0.0, call_oi), np.where(np.isnan(put_oi), 0.0, put_oi)
    if not len(strikes) or call_oi.sum() + put_oi.sum() <= 0:
        return None
    diff = strikes[:, None] - strikes[None, :]
    pain = np.maximum(diff, 0.0) @ call_oi + np.maximum(-diff, 0.0) @ put_oi
    return float(strikes[int(np.argmin(pain))])


def oi_walls(
    strikes: np.ndarray, oi: np.ndarray, side: np.ndarray, top: int = 3
) -> tuple[tuple[float, float], ...]:
    """(strike, OI) of the `top` largest positive OI among strikes where `side` is True, largest first."""
    idx = np.flatnonzero(side & (oi > 0))
    idx = idx[np.argsort(-oi[idx], kind="stable")[:top]]
    return tuple(zip(strikes[idx].astype(float).tolist(), oi[idx].astype(float).tolist(), strict=True))


def near_atm_liquidity(
    bid: np.ndarray, ask: np.ndarray, bid_qty: np.ndarray, ask_qty: np.ndarray
) -> tuple[float | None, float | None]:
    """(mean relative spread (ask - bid) / mid over two-sided quotes, depth = sum of bid+ask qty units).

    Both None when no leg has a positive, uncrossed two-sided quote.
    """
    with np.errstate(invalid="ignore"):
        quoted = (bid > 0) & (ask > 0) & (ask >= bid)
    if not quoted.any():
        return None, None
    spread = numeric.mean(((ask - bid) / (0.5 * (ask + bid)))[quoted])
    return spread, float(np.nansum(bid_qty) + np.nansum(ask_qty))
