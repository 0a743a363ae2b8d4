"""Pacing: when to deliver an event-time stream in wall time, at a speed factor."""

from __future__ import annotations

import time
from collections.abc import Callable

REANCHOR_GAP_S = 5.0  # simulator: an event-time gap larger than this is a session jump, not paced


class Pacer:
    """Maps event time to wall time at `speed` x; a jump in event time (overnight) is not waited out.

    A gap in event time longer than `reanchor_gap_s` is a jump to another session: the next item is
    delivered at once and pacing restarts from it. Shorter gaps are paced like any other interval.
    """

    def __init__(
        self,
        speed: float,
        clock: Callable[[], float] = time.monotonic,
        reanchor_gap_s: float = REANCHOR_GAP_S,
    ) -> None:
        self.speed = speed
        self.clock = clock
        self.reanchor_gap_s = reanchor_gap_s
        self._anchor_wall = 0.0
        self._anchor_event: float | None = None
        self._last_event = 0.0

    def delay(self, event_ts: float) -> float:
        """Seconds of wall time to wait before delivering the item stamped `event_ts` (0 = now)."""
        if self.speed <= 0:
            return 0.0
        if self._anchor_event is None or event_ts - self._last_event > self.reanchor_gap_s:
            self._anchor_wall, self._anchor_event = self.clock(), event_ts
        self._last_event = event_ts
        due = self._anchor_wall + (event_ts - self._anchor_event) / self.speed
        return max(0.0, due - self.clock())
