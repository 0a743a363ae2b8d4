"""One expiry's option legs as (2, n) numpy arrays, and the pricing clock (calendar time to expiry).

Arrays shaped (2, n) hold calls in row 0 and puts in row 1, columns on ascending strikes; the
structural engine builds them once per compute call and every kernel reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter

import numpy as np

from core.domain import ChainSnapshot, Right, Tick
from core.market_calendar import expiry_close_epoch

MINUTES_PER_YEAR = 365 * 24 * 60.0
MIN_T_YEARS = 60.0 / MINUTES_PER_YEAR  # T is floored at one hour so expiry-day greeks stay finite
# Tick fields copied into the (2, n) arrays, in this order.
FIELDS: tuple[str, ...] = ("ltp", "bid", "ask", "bid_qty", "ask_qty", "oi", "prev_oi", "volume", "prev_close")
FIELDS += ("iv", "delta", "gamma", "ts")
_FIELD_GETTER = attrgetter(*FIELDS)
_ROW: dict[Right | None, int] = {"CE": 0, "PE": 1}


@dataclass(frozen=True, slots=True)
class ChainArrays:
    """One expiry's legs as (2, n) float arrays per FIELDS name; NaN where a leg or value is missing.

    Read-only: the structural engine keeps one between calls while its legs do not change."""

    strikes: np.ndarray
    data: np.ndarray  # (len(FIELDS), 2, n)
    # Quote mid where both sides are positive and uncrossed, else LTP; NaN if neither is positive.
    premium: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bid, ask, ltp = self["bid"], self["ask"], self["ltp"]
        with np.errstate(invalid="ignore"):
            quoted = (bid > 0) & (ask > 0) & (ask >= bid)
            premium = np.where(quoted, 0.5 * (bid + ask), np.where(ltp > 0, ltp, np.nan))
        for arr in (self.strikes, self.data, premium):
            arr.flags.writeable = False
        object.__setattr__(self, "premium", premium)

    @classmethod
    def from_legs(cls, legs: list[Tick]) -> ChainArrays:
        return _place(legs)[0]

    def __getitem__(self, name: str) -> np.ndarray:
        series: np.ndarray = self.data[FIELDS.index(name)]
        return series


def _place(legs: list[Tick]) -> tuple[ChainArrays, np.ndarray, np.ndarray]:
    """The arrays, and each input leg's (row, column) in them (-1 for a leg without strike or right)."""
    rows = np.array([_ROW.get(t.right, -1) if t.strike is not None else -1 for t in legs], dtype=np.intp)
    kept = np.flatnonzero(rows >= 0)
    leg_strikes = np.array([legs[i].strike for i in kept], dtype=float)
    strikes = np.unique(leg_strikes)
    cols = np.full(len(legs), -1, dtype=np.intp)
    data = np.full((len(FIELDS), 2, len(strikes)), np.nan)
    if kept.size:
        cols[kept] = np.searchsorted(strikes, leg_strikes)
        values = np.array([_FIELD_GETTER(legs[i]) for i in kept], dtype=float)
        data[:, rows[kept], cols[kept]] = values.T
    return ChainArrays(strikes, data), rows, cols


class ChainCache:
    """The ChainArrays of one (symbol, expiry) from its last Ticks, rebuilt only where a Tick changed.

    Each snapshot lists every leg, but a leg that did not tick is the very Tick object of the
    previous snapshot. Same objects -> the same (read-only) ChainArrays, so anything derived from
    it can be kept by identity; new Ticks on the same legs -> a copy with only their cells rewritten.
    """

    __slots__ = ("_legs", "_chain", "_rows", "_cols", "_patchable")

    def __init__(self) -> None:
        self._legs: list[Tick] = []
        self._chain: ChainArrays | None = None
        self._rows = self._cols = np.empty(0, dtype=np.intp)
        self._patchable = False

    def build(self, legs: list[Tick]) -> ChainArrays:
        chain, old = self._chain, self._legs
        if chain is not None and self._patchable and len(legs) == len(old):
            changed = [i for i, (new, was) in enumerate(zip(legs, old, strict=True)) if new is not was]
            if not changed:
                return chain
            if all(legs[i].strike == old[i].strike and legs[i].right == old[i].right for i in changed):
                placed = [i for i in changed if self._rows[i] >= 0]
                data = chain.data.copy()
                if placed:
                    values = np.array([_FIELD_GETTER(legs[i]) for i in placed], dtype=float)
                    data[:, self._rows[placed], self._cols[placed]] = values.T
                self._legs, self._chain = legs, ChainArrays(chain.strikes, data)
                return self._chain
        self._chain, self._rows, self._cols = _place(legs)
        self._legs = legs
        # Two legs in one cell (never from a snapshot, whose legs are keyed by strike and right):
        # the last one wins a full build, so a patch of the first could differ. Never patch those.
        known = self._rows >= 0
        cells = self._rows[known] * len(self._chain.strikes) + self._cols[known]
        self._patchable = len(np.unique(cells)) == len(cells)
        return self._chain


def legs_by_expiry(snapshot: ChainSnapshot, expiries: Sequence[date | None]) -> dict[date, list[Tick]]:
    """snapshot.legs_for(e) of each expiry e of `expiries`, with one pass over the legs for several."""
    wanted = [e for e in expiries if e is not None]
    if len(wanted) < 2:  # legs_for's comparisons cost less than grouping every expiry listed
        return {e: snapshot.legs_for(e) for e in wanted}
    found: dict[date, list[Tick]] = {}
    for key, tick in snapshot.legs.items():
        group = found.get(key[0])
        if group is None:
            group = found[key[0]] = []
        group.append(tick)
    return found


def time_to_expiry_years(ts: float, expiry: date) -> float:
    """Minutes from ts to 15:30 IST on expiry, over 525 600, floored at one hour.

    Calendar time is the pricing clock: NSE quotes IV on it. Expected moves use trading time
    (core.analytics.expected_move)."""
    return max((expiry_close_epoch(expiry) - ts) / 60.0 / MINUTES_PER_YEAR, MIN_T_YEARS)
