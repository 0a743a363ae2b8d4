"""All-expiry dealer gamma: net GEX by strike summed over every listed expiry, and its gamma flip.

Dealers hedge their whole book, not one expiry: a far-month wall can hold a level that the weekly
chain alone does not explain. The structural engine already computes, per expiry, the net GEX of
each strike and the net-GEX profile over hypothetical spots (core.analytics.structural); this
module adds those up. The flip is the zero of the *combined* profile, never an average of the
per-expiry flips: two expiries can each be all positive while their sum crosses zero, or the
reverse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from core.analytics import greeks
from core.domain import LiveMetrics


@dataclass(frozen=True, slots=True)
class AllExpiryGex:
    """The combined profile of one symbol at one moment (rupees per 1 % move, dealers long calls,
    short puts). `expiries` are those that contributed; `skipped` says why the others did not."""

    spot: float | None
    expiries: tuple[date, ...]
    strikes: np.ndarray  # union of every contributing expiry's strikes, ascending
    gex_by_strike: np.ndarray  # summed net GEX per strike (0 where an expiry lists no such strike)
    net_gex: float | None
    gross_gex: float | None
    profile_spot: np.ndarray  # the hypothetical-spot grid of the combined profile
    profile: np.ndarray  # summed net GEX at each grid spot
    gamma_flip: float | None
    flip_state: str  # "crossing" | "all positive" | "all negative" | "" (no profile)
    profile_expiries: tuple[date, ...] = ()  # the expiries whose profile is in `profile`
    skipped: Mapping[date, str] = field(default_factory=dict)


def _usable(m: LiveMetrics) -> str | None:
    """Why this expiry cannot contribute, or None when it can."""
    if not len(m.strikes) or len(m.gex_by_strike) != len(m.strikes):
        return m.unavailable.get("net_gex") or "no GEX by strike"
    return None


def _sum_by_strike(metrics: list[LiveMetrics]) -> tuple[np.ndarray, np.ndarray]:
    strikes = np.unique(np.concatenate([np.asarray(m.strikes, dtype=float) for m in metrics]))
    total = np.zeros(len(strikes))
    for m in metrics:
        cols = np.searchsorted(strikes, np.asarray(m.strikes, dtype=float))
        np.add.at(total, cols, np.nan_to_num(np.asarray(m.gex_by_strike, dtype=float)))
    return strikes, total


def _sum_profiles(base: LiveMetrics, metrics: list[LiveMetrics]) -> tuple[np.ndarray, np.ndarray]:
    """Every expiry's profile on `base`'s grid, summed. The runtime computes all expiries from one
    snapshot, so the grids are the same and interpolation is exact; a grid that differs (another
    spot) is interpolated, and grid points outside any expiry's own grid are dropped, since that
    expiry's GEX there is unknown."""
    grid = np.asarray(base.gex_profile_spot, dtype=float)
    total = np.zeros(len(grid))
    inside = np.ones(len(grid), dtype=bool)
    for m in metrics:
        x, y = np.asarray(m.gex_profile_spot, dtype=float), np.asarray(m.gex_profile, dtype=float)
        if len(x) < 2 or len(x) != len(y):
            continue
        if len(x) == len(grid) and np.array_equal(x, grid):
            total += np.nan_to_num(y)
        else:
            inside &= (grid >= x[0]) & (grid <= x[-1])
            total += np.interp(grid, x, np.nan_to_num(y))
    return grid[inside], total[inside]


def all_expiry_gex(by_expiry: Mapping[date, LiveMetrics], selected: date | None = None) -> AllExpiryGex:
    """Net GEX by strike and the net-GEX profile summed over every expiry in `by_expiry`.

    The profile grid and the spot are the `selected` expiry's (else the nearest expiry's with a
    profile); an expiry whose profile is missing still adds its GEX by strike, and is named in
    `skipped` only when it has no GEX at all; `profile_expiries` lists those in the profile."""
    skipped: dict[date, str] = {}
    used: list[LiveMetrics] = []
    for expiry in sorted(by_expiry):
        reason = _usable(by_expiry[expiry])
        if reason is None:
            used.append(by_expiry[expiry])
        else:
            skipped[expiry] = reason
    empty = np.array([])
    if not used:
        spot = by_expiry[selected].spot if selected is not None and selected in by_expiry else None
        return AllExpiryGex(spot, (), empty, empty, None, None, empty, empty, None, "", (), skipped)
    strikes, by_strike = _sum_by_strike(used)
    with_profile = [m for m in used if len(m.gex_profile_spot) >= 2]
    base = next((m for m in with_profile if m.expiry == selected), with_profile[0] if with_profile else None)
    spot = base.spot if base is not None else used[0].spot
    grid, profile, flip, state = empty, empty, None, ""
    if base is not None and spot is not None:
        grid, profile = _sum_profiles(base, with_profile)
        if len(grid) >= 2:
            flip, state = greeks.gamma_flip(grid, profile, spot)
    net = [m.net_gex for m in used if m.net_gex is not None]
    gross = [m.gross_gex for m in used if m.gross_gex is not None]
    return AllExpiryGex(
        spot=spot,
        expiries=tuple(m.expiry for m in used if m.expiry is not None),
        strikes=strikes,
        gex_by_strike=by_strike,
        net_gex=float(sum(net)) if net else None,
        gross_gex=float(sum(gross)) if gross else None,
        profile_spot=grid,
        profile=profile,
        gamma_flip=flip,
        flip_state=state,
        profile_expiries=tuple(m.expiry for m in with_profile if m.expiry is not None and len(grid)),
        skipped=skipped,
    )
