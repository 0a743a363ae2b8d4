"""The no-skill baselines a hit rate is judged against, from the run's own recorded price path.

Every stored market snapshot of a session is the start of one window per horizon; the spot at the
window's end is the latest snapshot at or before start + horizon (as of), and a window that runs
past the end of the session (the last snapshot, or the exchange close) is left out. Each window is
scored with the learning code's own rule (core.learning.outcomes.evaluate_outcome), so a window
counts exactly as a signal at that moment would:

- directional calls: the window scored as an UP call is an up-move (CORRECT), a down-move (WRONG)
  or inside the neutral band (NEUTRAL, like a signal's NEUTRAL it is not decided). With p_up the
  share of up-moves among decided windows, always calling the majority direction has hit rate
  max(p_up, 1 - p_up): the directional baseline;
- range calls (direction NONE): the share of windows, scored as a NONE call (|move| stays under half
  the horizon's expected move from the ATM IV at the start), in which the range held.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from core.learning.outcomes import CORRECT, WRONG, evaluate_outcome
from core.learning.spot_paths import SpotPath, session_close_for
from core.market_calendar import MarketCalendar


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Window verdicts at one horizon: directional (as UP calls) and range (as NONE calls)."""

    up: int = 0
    down: int = 0
    flat: int = 0
    range_held: int = 0
    range_broke: int = 0

    def __add__(self, other: WindowCounts) -> WindowCounts:
        return WindowCounts(
            self.up + other.up,
            self.down + other.down,
            self.flat + other.flat,
            self.range_held + other.range_held,
            self.range_broke + other.range_broke,
        )

    @property
    def p_up(self) -> float | None:
        decided = self.up + self.down
        return self.up / decided if decided else None

    @property
    def directional(self) -> float | None:
        """Hit rate of always calling the majority direction: max(p_up, 1 - p_up)."""
        p = self.p_up
        return None if p is None else max(p, 1.0 - p)

    @property
    def range(self) -> float | None:
        """Share of range-scored windows in which the range held."""
        n = self.range_held + self.range_broke
        return self.range_held / n if n else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "up": self.up,
            "down": self.down,
            "flat": self.flat,
            "p_up": self.p_up,
            "directional_baseline": self.directional,
            "range_held": self.range_held,
            "range_broke": self.range_broke,
            "range_baseline": self.range,
        }


def window_counts(path: SpotPath, horizon_s: int, calendar: MarketCalendar) -> WindowCounts:
    """Score every window of `path` (one session's snapshots) at `horizon_s`."""
    up = down = flat = held = broke = 0
    n = len(path)
    for i in range(n):
        start, spot = float(path.ts[i]), float(path.spot[i])
        end = start + horizon_s
        close = session_close_for(calendar, start)
        if end > path.ts[-1] or (close is not None and end > close) or not spot > 0:
            continue
        # The samples from the start through the first one past the end: what evaluate_outcome needs
        # to see the window and know that the horizon was reached.
        stop = min(int(np.searchsorted(path.ts, end, side="right")) + 1, n)
        ts, spots = path.ts[i:stop], path.spot[i:stop]
        as_up = evaluate_outcome("UP", start, spot, ts, spots, horizon_s)
        if as_up is None:
            continue
        if as_up.outcome == CORRECT:
            up += 1
        elif as_up.outcome == WRONG:
            down += 1
        else:
            flat += 1
        as_range = evaluate_outcome("NONE", start, spot, ts, spots, horizon_s, atm_iv=path.atm_iv_at(start))
        if as_range is not None:
            held += as_range.outcome == CORRECT
            broke += as_range.outcome == WRONG
    return WindowCounts(up, down, flat, held, broke)


def baselines(
    paths: Iterable[SpotPath], horizons: Iterable[int], calendar: MarketCalendar
) -> dict[int, WindowCounts]:
    """Window counts per horizon, summed over sessions (each path is one session of one symbol)."""
    paths = list(paths)
    out: dict[int, WindowCounts] = {}
    for horizon in horizons:
        total = WindowCounts()
        for path in paths:
            total = total + window_counts(path, horizon, calendar)
        out[horizon] = total
    return out
