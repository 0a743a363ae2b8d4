"""What the dashboard pages read from a live source, whichever process computes it.

`Runtime` (an in-process feed and engines) and `DbLiveSource` (a replica reading what a worker
publishes to `live_chain_state`) both satisfy `LiveSource`; pages type against it, never against
either class. What only a Runtime has (its logger, alert service, signal publish times) pages read
with `getattr(..., None)` and degrade without.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from core.bus import ConfidencePoint, SpotPoint
from core.domain import ChainSnapshot, LiveMetrics, Signal

if TYPE_CHECKING:
    from core.config import Config


@dataclass(frozen=True, slots=True)
class LiveView:
    """What a live page needs for one symbol, read in one go."""

    symbol: str
    snapshot: ChainSnapshot | None
    metrics: dict[date, LiveMetrics]
    default_expiry: date | None
    engine_states: dict[str, Any]
    feed_mode: str
    feed_state: str
    feed_reason: str


class LiveFeedInfo(Protocol):
    """The feed as the System page shows it."""

    @property
    def mode(self) -> str:
        """SIMULATED, LIVE, REPLAY or DB."""
        ...

    def describe(self) -> str:
        """Where the data comes from, safe to display (no credentials)."""
        ...


class LiveBus(Protocol):
    """Recent signals and the series the Live page charts."""

    def signals(self, symbol: str | None = None, limit: int = 100) -> list[Signal]: ...

    def spot_series(self, symbol: str) -> tuple[SpotPoint, ...]: ...

    def confidence_series(self, symbol: str) -> tuple[ConfidencePoint, ...]: ...


@runtime_checkable
class LiveSource(Protocol):
    """The live surface every page reads; see the module docstring."""

    @property
    def config(self) -> Config: ...

    @property
    def feed(self) -> LiveFeedInfo: ...

    @property
    def bus(self) -> LiveBus: ...

    @property
    def run_id(self) -> str | None:
        """The run this source stores rows under; None for a replica, which stores nothing."""
        ...

    @property
    def source(self) -> str | None: ...

    @property
    def symbols(self) -> tuple[str, ...]: ...

    def view(self, symbol: str) -> LiveView: ...

    def health(self) -> dict[str, Any]: ...

    def stop(self, timeout: float = ...) -> bool: ...
