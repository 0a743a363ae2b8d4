"""What a trader's option chain shows beyond LiveMetrics: leg greeks, per-strike PCR, the max-pain
curve, days to expiry and the probability of spot touching a level before expiry.

Pure numpy functions of per-strike arrays (aligned with ascending strikes); the chain page and the
Live page call them, so `app/` computes no analytics of its own.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
from scipy.special import ndtr

from core.analytics import greeks
from core.market_calendar import expiry_close_epoch

SECONDS_PER_DAY = 86_400.0


def leg_greeks(
    strikes: np.ndarray,
    call_iv: np.ndarray,
    put_iv: np.ndarray,
    forward: float | None,
    t_years: float | None,
    rate: float,
) -> dict[str, np.ndarray]:
    """Black-76 gamma, theta and vega per leg, in the units a chain shows them.

    gamma: change of delta per 1 point of the forward; theta: rupees per calendar day; vega: rupees
    per 1 vol point (sigma + 0.01). Keys `call_gamma`, `put_gamma`, `call_theta`, ... ; NaN where
    the leg has no IV or there is no forward / time to expiry.
    """
    n = len(strikes)
    if not forward or not t_years or forward <= 0 or t_years <= 0:
        return {
            f"{side}_{g}": np.full(n, np.nan) for side in ("call", "put") for g in ("gamma", "theta", "vega")
        }
    out: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for side, flag, iv in (("call", 1.0, call_iv), ("put", -1.0, put_iv)):
            sigma = np.asarray(iv, dtype=float)
            args = (flag, forward, strikes, t_years, rate, sigma)
            out[f"{side}_gamma"] = greeks.gamma(*args)
            out[f"{side}_theta"] = greeks.theta(*args)
            out[f"{side}_vega"] = greeks.vega(*args) / 100.0
    return out


def strike_pcr(call_oi: np.ndarray, put_oi: np.ndarray) -> np.ndarray:
    """Put OI / call OI per strike; NaN where call OI is zero or either side is unreported."""
    call_oi, put_oi = np.asarray(call_oi, dtype=float), np.asarray(put_oi, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(call_oi > 0, put_oi / call_oi, np.nan)


def pain_curve(strikes: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray) -> np.ndarray:
    """Option writers' total payout in rupees if the index settles at each strike (OI in units).

    sum callOI * (X - K)+ + putOI * (K - X)+ ; its minimum is max pain (core.analytics.flow.max_pain).
    """
    strikes = np.asarray(strikes, dtype=float)
    call_oi = np.nan_to_num(np.asarray(call_oi, dtype=float))
    put_oi = np.nan_to_num(np.asarray(put_oi, dtype=float))
    diff = strikes[:, None] - strikes[None, :]
    payout: np.ndarray = np.maximum(diff, 0.0) @ call_oi + np.maximum(-diff, 0.0) @ put_oi
    return payout


def days_to_expiry(ts: float, expiry: date) -> float:
    """Calendar days from event time `ts` to 15:30 IST on `expiry` (0 once it has passed)."""
    return max(0.0, (expiry_close_epoch(expiry) - ts) / SECONDS_PER_DAY)


def touch_probability(
    spot: float, level: float, sigma: float, t_years: float, forward: float | None = None
) -> float | None:
    """P(spot touches `level` at any time before expiry), lognormal spot with the forward's drift.

    ln S_t = ln S + nu t + sigma W_t with nu = ln(F/S)/T - sigma^2/2 (F = S without a forward); the
    reflection principle gives the first-passage probability of a Brownian motion with drift. Unlike
    P(|move| > 1 sigma), which is ~32 % by construction, it depends on where the level is.
    """
    if not (spot > 0 and level > 0 and sigma > 0 and t_years > 0):
        return None
    if not (math.isfinite(spot) and math.isfinite(level) and math.isfinite(sigma) and math.isfinite(t_years)):
        return None
    b = math.log(level / spot)
    if b == 0.0:
        return 1.0
    sd = sigma * math.sqrt(t_years)
    fwd = forward if forward and forward > 0 else spot
    nu = math.log(fwd / spot) / t_years - 0.5 * sigma * sigma
    sign = 1.0 if b > 0 else -1.0  # mirror a level below spot to one above with the drift negated
    b, nu = sign * b, sign * nu
    reflect = math.exp(min(2.0 * nu * b / (sigma * sigma), 700.0))
    p = ndtr((-b + nu * t_years) / sd) + reflect * ndtr((-b - nu * t_years) / sd)
    return float(min(1.0, max(0.0, p)))


def nearest_level(spot: float | None, levels: dict[str, float | None]) -> tuple[str, float] | None:
    """The named level closest to spot (e.g. support, resistance, gamma flip), or None if none is known."""
    known = [(name, value) for name, value in levels.items() if value]
    if spot is None or not known:
        return None
    return min(known, key=lambda item: abs(item[1] - spot))
