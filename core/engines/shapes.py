"""What spot did around a level or into an extreme, as the engines' history finds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["below", "above"]


@dataclass(frozen=True, slots=True)
class Pierce:
    """Spot traded through `level` to `extreme`, having been on the origin side at `cross_ts`."""

    level: float
    side: Side  # "below": traded under the level from above; "above": the mirror
    extreme: float
    extreme_ts: float
    cross_ts: float  # last sample on the origin side before the extreme
    depth_pct: float  # |extreme - level| / level, as a fraction


@dataclass(frozen=True, slots=True)
class Spike:
    """The move into the window's extreme: from `start` (within `lead_s` before it) to `extreme`."""

    side: Side  # "below": a down-spike to a low; "above": an up-spike to a high
    start: float
    start_ts: float
    extreme: float
    extreme_ts: float
    rebound: float  # the furthest price back from the extreme since it was made

    @property
    def move_pct(self) -> float:
        return abs(self.extreme - self.start) / self.start

    @property
    def retrace(self) -> float:
        """Fraction of the spike given back at best since the extreme (0 = none, 1 = all)."""
        span = abs(self.start - self.extreme)
        return abs(self.rebound - self.extreme) / span if span > 0 else 0.0
