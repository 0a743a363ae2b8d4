"""The contract every feed keeps: yield normalised items to a sink, never raise into the runtime."""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.domain import FeedItem, FeedStatus


def backoff_delay(attempt: int, rng: random.Random, initial_s: float = 0.5, cap_s: float = 30.0) -> float:
    """Seconds to wait before reconnect `attempt` (0-based): doubling from `initial_s` up to `cap_s`,
    plus up to 25 % jitter so many clients dropped together do not reconnect in lockstep. Every
    reconnecting feed (protocol-v1 WebSocket, broker sessions) waits this."""
    base = min(cap_s, initial_s * (2.0 ** min(attempt, 30)))
    return min(cap_s, base * (1.0 + 0.25 * rng.random()))


class FeedSink(Protocol):
    """Where a feed delivers. Called only from the feed thread."""

    def on_items(self, items: Sequence[FeedItem]) -> None:
        """One frame's (or batch's) worth of items; the sink publishes once per call."""

    def on_status(self, status: FeedStatus) -> None:
        """A connection state change."""


@dataclass
class FeedStats:
    """Counters a feed keeps for the System page. Written by the feed thread only."""

    frames: int = 0
    items: int = 0
    ignored: int = 0
    reconnects: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    last_rejects: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=20))
    last_error: str = ""
    state: str = "connecting"
    last_recv_ts: float = 0.0
    last_event_ts: float = 0.0

    def reject(self, reason: str, sample: str = "") -> None:
        self.rejected[reason] += 1
        self.last_rejects.append((reason, sample[:200]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "frames": self.frames,
            "items": self.items,
            "ignored": self.ignored,
            "reconnects": self.reconnects,
            "rejected": dict(self.rejected),
            "rejected_total": sum(self.rejected.values()),
            "last_rejects": list(self.last_rejects),
            "last_error": self.last_error,
            "lag_s": (self.last_recv_ts - self.last_event_ts) if self.last_event_ts else None,
        }


class Feed(Protocol):
    """A market feed. `run` blocks until `stop` is set or the feed ends, delivering to `sink`.

    `mode` is what the UI shows: SIMULATED, LIVE or REPLAY. `describe()` is safe to display
    (credentials masked).
    """

    mode: str
    stats: FeedStats

    def run(self, sink: FeedSink, stop: threading.Event) -> None: ...

    def describe(self) -> str: ...
