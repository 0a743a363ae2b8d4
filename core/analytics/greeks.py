"""Black-76 pricing, greeks, implied volatility and dealer gamma exposure, numpy-vectorised.

Conventions (py_vollib style, every argument broadcasts against the others):
- `flag`: +1 call / -1 put, or "CE"/"PE" (also "c"/"p", "call"/"put"), scalar or array;
- `F` forward price and `K` strike in rupees; `T` time to expiry in years (365-day);
- `r` continuously compounded annual rate (0.055 = 5.5 %); `sigma` annual volatility as a decimal.
Prices are discounted premiums in rupees. Invalid inputs give NaN, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy.special import ndtr

from core.analytics.numeric import median

SIGMA_MIN = 0.01
SIGMA_MAX = 3.0
DAYS_PER_YEAR = 365.0
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
# Dealer positioning convention for GEX on (2, n) call/put arrays: dealers long calls (+), short puts (-).
SIGN = np.array([[1.0], [-1.0]])
FLIP_RANGE = 0.05  # the gamma-flip grid spans spot -+ 5 %
MAX_GRID_POINTS = 2001  # bounds the work when spot and strike step are out of proportion

# Reason codes of implied_vol, one per leg ("" = solved).
OK = ""
NO_PRICE = "no_price"  # price missing, zero, negative or NaN; or F/K/T not usable
BELOW_INTRINSIC = "below_intrinsic"  # below the discounted intrinsic value (arbitrage)
ABOVE_BOUND = "above_bound"  # above the no-arbitrage upper bound (e^-rT F call, e^-rT K put)
OUT_OF_RANGE = "out_of_range"  # arbitrage-free, but its vol is outside [SIGMA_MIN, SIGMA_MAX]
NO_CONVERGENCE = "no_convergence"

_CALL_NAMES = ("CE", "C", "CALL")
_PUT_NAMES = ("PE", "P", "PUT")


def flag_sign(flag: Any) -> np.ndarray:
    """+1.0 for calls and -1.0 for puts; accepts +1/-1 or CE/PE-style strings. Unknown -> ValueError."""
    arr = np.asarray(flag)
    if arr.dtype.kind in "USO":
        upper = np.char.upper(arr.astype(str))
        sign = np.where(np.isin(upper, _CALL_NAMES), 1.0, np.where(np.isin(upper, _PUT_NAMES), -1.0, 0.0))
    else:
        sign = np.sign(arr.astype(float))
    if np.any(sign == 0.0):
        raise ValueError(f"option flag must be +1/-1 or CE/PE, got {flag!r}")
    return sign


def _d1_d2(F: Any, K: Any, T: Any, sigma: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d1, d2 and sigma*sqrt(T) (dimensionless); NaN where F, K, T or sigma is not positive."""
    F, K, T, sigma = (np.asarray(x, dtype=float) for x in (F, K, T, sigma))
    valid = (F > 0) & (K > 0) & (T > 0) & (sigma > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        vol_t = np.where(valid, sigma * np.sqrt(np.where(valid, T, 1.0)), np.nan)
        d1 = (np.log(np.where(valid, F / K, np.nan)) + 0.5 * vol_t * vol_t) / vol_t
    return d1, d1 - vol_t, vol_t


def _pdf(x: np.ndarray) -> np.ndarray:
    # Tails clamped at exp(-700): the result is still ~0, and denormal floats are an order slower.
    pdf: np.ndarray = _INV_SQRT_2PI * np.exp(np.maximum(-0.5 * x * x, -700.0))
    return pdf


class Greeks(NamedTuple):
    """Discounted premium and its greeks, each in the units of the function of the same name."""

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray
    vega: np.ndarray


def black76_greeks(flag: Any, F: Any, K: Any, T: Any, r: Any, sigma: Any) -> Greeks:
    """Premium, delta, gamma, theta and vega at once: d1, N(d1) and phi(d1) are computed one time.

    The formulas are those of the single-greek functions below, which return fields of this."""
    w = flag_sign(flag)
    d1, d2, vol_t = _d1_d2(F, K, T, sigma)
    F, K, T, r = (np.asarray(x, dtype=float) for x in (F, K, T, r))
    disc = np.exp(-r * T)
    n1, pdf = ndtr(w * d1), _pdf(d1)
    price = disc * w * (F * n1 - K * ndtr(w * d2))
    disc_f_pdf = disc * F * pdf
    # dV/dT = -r V + e^-rT F phi(d1) sigma / (2 sqrt T); sigma / sqrt(T) = vol_t / T.
    decay = disc_f_pdf * vol_t / (2.0 * T)
    return Greeks(
        price=price,
        delta=w * disc * n1,
        gamma=disc * pdf / (F * vol_t),
        theta=(r * price - decay) / DAYS_PER_YEAR,
        vega=disc_f_pdf * np.sqrt(np.where(T > 0, T, np.nan)),
    )


def black76_greeks_chains(
    chains: Sequence[tuple[float, np.ndarray, float, np.ndarray]], r: float
) -> list[Greeks]:
    """black76_greeks(SIGN, F, strikes, T, r, sigma) of each (F, strikes, T, sigma) chain, sigma (2, n), in one call.

    Element by element the same arithmetic as one call per chain, so the same values; each field
    comes back as a C-contiguous (2, n) array.
    """
    if not chains:
        return []
    fwd = np.concatenate([np.full(len(K), F) for F, K, _, _ in chains])
    years = np.concatenate([np.full(len(K), T) for _, K, T, _ in chains])
    found = black76_greeks(SIGN, fwd, np.concatenate([K for _, K, _, _ in chains]), years, r,
                           np.concatenate([sigma for *_, sigma in chains], axis=1))  # fmt: skip
    ends = np.cumsum([len(K) for _, K, _, _ in chains]).tolist()
    return [
        Greeks(*(np.ascontiguousarray(x[:, end - len(K) : end]) for x in found))
        for (_, K, _, _), end in zip(chains, ends, strict=True)
    ]


def black76_price(flag: Any, F: Any, K: Any, T: Any, r: Any, sigma: Any) -> np.ndarray:
    """Discounted Black-76 premium in rupees: e^-rT [w F N(w d1) - w K N(w d2)], w = +1 call / -1 put."""
    return black76_greeks(flag, F, K, T, r, sigma).price


def delta(flag: Any, F: Any, K: Any, T: Any, r: Any, sigma: Any) -> np.ndarray:
    """dPrice/dF (per rupee of forward): e^-rT N(d1) for calls, -e^-rT N(-d1) for puts."""
    return black76_greeks(flag, F, K, T, r, sigma).delta


def gamma(flag: Any, F: Any, K: Any, T: Any, r: Any, sigma: Any) -> np.ndarray:
    """d2Price/dF2 (per rupee squared), same for calls and puts: e^-rT phi(d1) / (F sigma sqrt(T))."""
    return black76_greeks(flag, F, K, T, r, sigma).gamma


def vega(flag: Any, F: Any, K: Any, T: Any, r: Any, sigma: Any) -> np.ndarray:
    """dPrice/dsigma in rupees per 1.00 of sigma (divide by 100 for per vol point): e^-rT F phi(d1) sqrt(T)."""
    return black76_greeks(flag, F, K, T, r, sigma).vega


def theta(flag: Any, F: Any, K: Any, T: Any, r: Any, sigma: Any) -> np.ndarray:
    """Price change in rupees per calendar day that passes (F fixed): -dPrice/dT / 365."""
    return black76_greeks(flag, F, K, T, r, sigma).theta


class _Legs(NamedTuple):
    """The solver's per-leg constants, 1-D: flag (+1/-1), forward, strike, ln(F/K) and sqrt(T)."""

    w: np.ndarray
    F: np.ndarray
    K: np.ndarray
    log_fk: np.ndarray
    sqrt_t: np.ndarray

    def take(self, idx: np.ndarray) -> _Legs:
        return _Legs(*(x[idx] for x in self))


def _undiscounted(legs: _Legs, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undiscounted Black-76 price and vega (per 1.00 sigma), for the solver."""
    w, F, K, log_fk, sqrt_t = legs
    vol_t = sigma * sqrt_t
    d1 = (log_fk + 0.5 * vol_t * vol_t) / vol_t
    d2 = d1 - vol_t
    price = w * (F * ndtr(w * d1) - K * ndtr(w * d2))
    return price, F * _pdf(d1) * sqrt_t


def implied_vol(
    price: Any, F: Any, K: Any, T: Any, r: Any, flag: Any, rtol: float = 1e-10, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Black-76 implied volatility (decimal) of discounted premiums, in [SIGMA_MIN, SIGMA_MAX].

    Returns (iv, reason): iv is NaN where the leg cannot be solved and `reason` holds the code
    (NO_PRICE, BELOW_INTRINSIC, ABOVE_BOUND, OUT_OF_RANGE, NO_CONVERGENCE; "" when solved).
    Newton steps inside a shrinking bisection bracket, so every leg converges or is flagged.
    `rtol` is the relative price error accepted (relative, so deep out-of-the-money legs worth
    fractions of a paisa still solve accurately).
    """
    w = flag_sign(flag)
    inputs = [np.asarray(x, dtype=float) for x in (price, F, K, T, r)] + [w]
    shape = np.broadcast_shapes(*(x.shape for x in inputs))
    price, F, K, T, r, w = (_flat_copy(x, shape) for x in inputs)
    iv = np.full(price.shape, np.nan)
    code = np.full(price.shape, _NO_PRICE)
    usable = np.isfinite(price) & (price > 0) & (F > 0) & (K > 0) & (T > 0) & np.isfinite(F * K * T * r)
    target = np.where(usable, price * np.exp(np.where(usable, r * T, 0.0)), np.nan)
    intrinsic = np.maximum(w * (F - K), 0.0)
    upper = np.where(w > 0, F, K)
    with np.errstate(invalid="ignore"):
        below, above = usable & (target < intrinsic), usable & (target >= upper)
    code[below], code[above] = _BELOW_INTRINSIC, _ABOVE_BOUND
    todo = np.flatnonzero(usable & ~below & ~above)
    if todo.size:
        iv[todo], code[todo] = _solve(target[todo], F[todo], K[todo], T[todo], w[todo], rtol, max_iter)
    # Strings only at the end, as narrow as the longest reason present (the width astype(str) gives).
    width = int(_REASON_WIDTH[code].max(initial=1))
    return iv.reshape(shape), _REASONS[code].astype(f"<U{width}").reshape(shape)


def implied_vol_chains(
    chains: Sequence[tuple[np.ndarray, float, np.ndarray, float]], r: float, rtol: float = 1e-10
) -> list[tuple[np.ndarray, np.ndarray]]:
    """implied_vol(premium, F, strikes, T, r, SIGN, rtol) of each (premium, F, strikes, T) chain, in one solve.

    `premium` is (2, n) (calls, puts) over `strikes` (n,). Every solver step is element by element,
    so each leg goes through the arithmetic of its own chain's call and gets the same IV and reason;
    the solver's cost is mostly per numpy call, not per leg, so one solve for the expiries of a
    snapshot costs little more than one. The reason arrays share the widest reason's string width.
    """
    if not chains:
        return []
    price = np.concatenate([p.ravel() for p, *_ in chains])
    fwd = np.concatenate([np.full(p.size, F) for p, F, _, _ in chains])
    strike = np.concatenate([np.broadcast_to(K, p.shape).ravel() for p, _, K, _ in chains])
    years = np.concatenate([np.full(p.size, T) for p, _, _, T in chains])
    w = np.concatenate([np.broadcast_to(SIGN, p.shape).ravel() for p, *_ in chains])
    iv, reason = implied_vol(price, fwd, strike, years, r, w, rtol)
    ends = np.cumsum([p.size for p, *_ in chains])
    return [
        (iv[end - p.size : end].reshape(p.shape), reason[end - p.size : end].reshape(p.shape))
        for (p, *_), end in zip(chains, ends.tolist(), strict=True)
    ]


def _flat_copy(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A 1-D float copy of `x` broadcast to `shape` (cheaper than np.broadcast_arrays for a few arrays)."""
    out = np.empty(shape)
    out[...] = x
    return out.ravel()


_START_GRID = np.array([SIGMA_MIN, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, SIGMA_MAX])
# implied_vol works on integer codes and turns them into the reason strings once, at the end.
_SOLVED, _OUT_OF_RANGE, _NO_CONVERGENCE, _NO_PRICE, _BELOW_INTRINSIC, _ABOVE_BOUND = range(6)
_REASONS = np.array([OK, OUT_OF_RANGE, NO_CONVERGENCE, NO_PRICE, BELOW_INTRINSIC, ABOVE_BOUND])
_REASON_WIDTH = np.array([max(len(text), 1) for text in _REASONS])


def _start(
    target: np.ndarray, legs: _Legs, rtol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Price every leg on a coarse vol grid at once: out-of-range mask, bracket and a start inside it.

    The start interpolates ln(price) linearly in sigma between
    the bracketing grid points, which leaves Newton two or three steps.
    """
    grid = _START_GRID[:, None]
    prices = _undiscounted(legs, grid)[0]
    below = np.count_nonzero(prices < target, axis=0)
    j = np.clip(below - 1, 0, len(_START_GRID) - 2)
    cols = np.arange(len(target))
    p_lo, p_hi = prices[j, cols], prices[j + 1, cols]
    lo, hi = _START_GRID[j], _START_GRID[j + 1]
    frac = np.log(target / p_lo) / np.log(p_hi / p_lo)
    sigma = np.where(np.isfinite(frac) & (frac > 0) & (frac < 1), lo + frac * (hi - lo), 0.5 * (lo + hi))
    tol = rtol * target
    out = (target <= 0) | (target < prices[0] - tol) | (target > prices[-1] + tol)
    return out, lo, hi, sigma


def _solve(
    target: np.ndarray, F: np.ndarray, K: np.ndarray, T: np.ndarray, w: np.ndarray, rtol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bracketed Newton; inputs are 1-D, undiscounted and arbitrage-free.

    Every leg is first turned into its out-of-the-money twin by parity (C - P = F - K undiscounted),
    whose price is small and log-price nearly linear in sigma, so Newton on ln(price) converges in a
    few steps even for deep legs; a step leaving the bracket falls back to bisection. Legs drop out
    of the working arrays as they finish. Each step is a few dozen numpy calls on ~100 legs, so the
    call count, not the arithmetic, is the cost: per-leg constants are computed once.
    """
    target = target - np.maximum(w * (F - K), 0.0)
    w = np.where(K >= F, 1.0, -1.0)
    code = np.full(target.shape, _NO_CONVERGENCE)
    sigma_out = np.full(target.shape, np.nan)
    with np.errstate(all="ignore"):
        legs = _Legs(w, F, K, np.log(F / K), np.sqrt(T))
        out, lo, hi, sigma = _start(target, legs, rtol)
        code[out] = _OUT_OF_RANGE
        pos = np.flatnonzero(~out)
        t, tol, lo, hi, sigma = target[pos], rtol * target[pos], lo[pos], hi[pos], sigma[pos]
        legs = legs.take(pos)
        for _ in range(max_iter):
            if not pos.size:
                break
            p, v = _undiscounted(legs, sigma)
            done = np.abs(p - t) <= tol
            hi = np.where(p > t, sigma, hi)
            lo = np.where(p < t, sigma, lo)
            step = sigma - np.log(p / t) * p / v
            inside = np.isfinite(step) & (step > lo) & (step < hi)
            sigma = np.where(done, sigma, np.where(inside, step, 0.5 * (lo + hi)))
            # A bracket narrower than 1e-12 vol is converged even if the price tolerance is unreachable.
            finished = done | (hi - lo < 1e-12)
            if finished.any():
                code[pos[finished]], sigma_out[pos[finished]] = _SOLVED, sigma[finished]
                keep = ~finished
                pos, t, tol, lo, hi, sigma = (x[keep] for x in (pos, t, tol, lo, hi, sigma))
                legs = legs.take(keep)
    return sigma_out, code


def parity_forward(
    strikes: np.ndarray, call_px: np.ndarray, put_px: np.ndarray, anchor: float, T: float, r: float
) -> float | None:
    """Median of K + e^{rT}(C - P) over the 3 strikes nearest `anchor` that have both premiums."""
    both = np.flatnonzero(np.isfinite(call_px) & np.isfinite(put_px))
    if not both.size:
        return None
    nearest = both[np.argsort(np.abs(strikes[both] - anchor), kind="stable")[:3]]
    value = median(strikes[nearest] + math.exp(r * T) * (call_px[nearest] - put_px[nearest]))
    return value if value > 0 else None


def parity_anchor(strikes: np.ndarray, premium: np.ndarray) -> float | None:
    """Without spot or ATM, the strike where call and put premiums are closest sits nearest the forward."""
    gap = np.abs(premium[0] - premium[1])
    return float(strikes[np.nanargmin(gap)]) if np.isfinite(gap).any() else None


def breach_probability(S: float, F: float, sigma: float, T: float, move: float) -> float | None:
    """P(S_T outside [S - move, S + move]) with ln S_T ~ N(ln F - sigma^2 T/2, sigma^2 T).

    Lognormal around the forward, so carry and skew of the terminal distribution are counted;
    with move = S sigma sqrt(T) it stays near 2(1 - N(1)) = 0.317 but moves with sigma sqrt(T) and F/S.
    """
    sd = sigma * math.sqrt(T)
    if not (sd > 0 and math.isfinite(sd) and math.isfinite(S + move) and F > 0 and math.isfinite(F)):
        return None
    mean = math.log(F) - 0.5 * sd * sd
    upper = 1.0 - ndtr((math.log(S + move) - mean) / sd)
    lower = ndtr((math.log(S - move) - mean) / sd) if move < S else 0.0
    return float(upper + lower)


def gex_per_leg(gamma: np.ndarray, oi: np.ndarray, spot: float) -> np.ndarray:
    """Rupees per 1 % spot move: gamma * OI_units * S^2 * 0.01, calls +, puts -; 0 where unknown."""
    gex = SIGN * gamma * oi * spot * spot * 0.01
    return np.where(np.isfinite(gex), gex, 0.0)


def gex_profile(
    strikes: np.ndarray, iv: np.ndarray, oi: np.ndarray, F: float, S: float, T: float, r: float, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """(grid spots, net GEX in rupees per 1 % move at each) on S*(1 +- 5 %), at most `step` apart.

    Each leg keeps its IV and T; the forward moves with spot (F/S basis kept). Legs without IV or
    OI contribute nothing.
    """
    with np.errstate(all="ignore"):
        intervals = 2 * FLIP_RANGE * S / step if step > 0 else math.inf
        points = int(math.ceil(intervals)) + 1 if intervals < MAX_GRID_POINTS else MAX_GRID_POINTS
        grid = np.linspace(S * (1 - FLIP_RANGE), S * (1 + FLIP_RANGE), max(points, 3))
        use = np.isfinite(iv) & (iv > 0) & (oi > 0) & (strikes > 0)
        rows, cols = np.nonzero(use)
        vol_t = iv[rows, cols] * math.sqrt(T)
        fwd = F * grid / S
        # One (grid x legs) matrix, updated in place: it is the hot loop of the whole engine.
        z = np.subtract.outer(np.log(fwd), np.log(strikes[cols]) - 0.5 * vol_t * vol_t)
        z /= vol_t
        np.square(z, out=z)
        # Clamp far tails at exp(-700) (negligible, still a normal float): denormals are ~10x slower.
        np.minimum(z, 1400.0, out=z)
        z *= -0.5
        np.exp(z, out=z)
        profile = z @ (SIGN[rows, 0] * oi[rows, cols] / vol_t)
        profile *= math.exp(-r * T) / math.sqrt(2 * math.pi) * grid * grid * 0.01 / fwd
    return grid, profile


def gamma_flip(grid: np.ndarray, profile: np.ndarray, spot: float) -> tuple[float | None, str]:
    """Linearly interpolated zero of the GEX profile nearest spot, or (None, 'all positive'/'all negative')."""
    a, b = profile[:-1], profile[1:]
    cross = np.flatnonzero((a * b < 0) | ((a == 0) & (b != 0)))
    if not cross.size:
        return None, "all positive" if np.nansum(profile) >= 0 else "all negative"
    points = grid[cross] - a[cross] * (grid[cross + 1] - grid[cross]) / (b[cross] - a[cross])
    return float(points[np.argmin(np.abs(points - spot))]), "crossing"


def straddle_theta_vega(
    F: float, K: float, T: float, r: float, sigma: np.ndarray
) -> tuple[float, float] | None:
    """Theta (rupees per calendar day) and vega (rupees per vol point) of one call plus one put at
    strike K, per unit of the underlying; `sigma` is (call IV, put IV). None without both IVs."""
    sigma = np.asarray(sigma, dtype=float)
    if not (F > 0 and T > 0 and np.isfinite(sigma).all()):
        return None
    found = black76_greeks(SIGN[:, 0], F, K, T, r, sigma)
    return float(np.sum(found.theta)), float(np.sum(found.vega)) / 100.0
