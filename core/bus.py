"""SignalBus: bounded in-memory series the UI reads live (signals, spot path, engine confidence)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.domain import LiveMetrics, Signal
from core.engines.base import EngineResult


@dataclass(frozen=True, slots=True)
class SpotPoint:
    """One metrics cycle's levels, for the spot chart overlays."""

    ts: float
    spot: float | None
    support: float | None
    resistance: float | None
    gamma_flip: float | None
    max_pain: float | None
    em_bands: tuple[float, float, float, float] | None


@dataclass(frozen=True, slots=True)
class ConfidencePoint:
    ts: float
    engine: str
    direction: str
    raw_score: float
    active: bool


class SignalBus:
    """Ring buffers per symbol. Written by the feed thread, read by UI threads.

    Appends and snapshot reads go through one lock; readers get tuples, never the live deques.
    """

    def __init__(self, signals_per_symbol: int = 500, points_per_symbol: int = 3600) -> None:
        self._signals_len = signals_per_symbol
        self._points_len = points_per_symbol
        self._signals: dict[str, deque[Signal]] = {}
        self._spot: dict[str, deque[SpotPoint]] = {}
        self._confidence: dict[str, deque[ConfidencePoint]] = {}
        # Wall time each kept signal was published: pages say "12 s ago" in wall time, not in event
        # time (which runs 20x on a fast simulator).
        self._published_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def publish_signals(self, signals: Iterable[Signal]) -> None:
        now = time.time()
        with self._lock:
            for s in signals:
                dq = self._signals.setdefault(s.symbol, deque(maxlen=self._signals_len))
                if len(dq) == dq.maxlen:
                    self._published_at.pop(dq[0].id, None)
                dq.append(s)
                self._published_at[s.id] = now

    def published_at(self, signal_id: str) -> float | None:
        """Wall-clock epoch seconds at which the signal reached the bus (None if unknown or evicted)."""
        with self._lock:
            return self._published_at.get(signal_id)

    def record_cycle(self, metrics: LiveMetrics, results: Mapping[str, EngineResult]) -> None:
        """Append the spot levels and every engine's score of one metrics cycle."""
        point = SpotPoint(
            metrics.ts,
            metrics.spot,
            metrics.support,
            metrics.resistance,
            metrics.gamma_flip,
            metrics.max_pain,
            metrics.em_bands,
        )
        conf = [
            ConfidencePoint(metrics.ts, engine, r.direction, r.raw_score, r.active)
            for engine, r in results.items()
        ]
        with self._lock:
            self._spot.setdefault(metrics.symbol, deque(maxlen=self._points_len)).append(point)
            dq = self._confidence.setdefault(
                metrics.symbol, deque(maxlen=self._points_len * max(1, len(conf)))
            )
            dq.extend(conf)

    def signals(self, symbol: str | None = None, limit: int = 100) -> list[Signal]:
        """Newest first."""
        with self._lock:
            if symbol is None:
                pool = [s for dq in self._signals.values() for s in dq]
            else:
                pool = list(self._signals.get(symbol, ()))
        pool.sort(key=lambda s: s.ts, reverse=True)
        return pool[:limit]

    def spot_series(self, symbol: str) -> tuple[SpotPoint, ...]:
        with self._lock:
            return tuple(self._spot.get(symbol, ()))

    def confidence_series(self, symbol: str) -> tuple[ConfidencePoint, ...]:
        with self._lock:
            return tuple(self._confidence.get(symbol, ()))
