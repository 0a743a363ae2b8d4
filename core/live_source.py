"""Live data for Streamlit replicas from PostgreSQL (`STRIKEIQ_LIVE_SOURCE=db`), no in-process feed.

A headless `python -m core worker --live-state` upserts each symbol's state into `live_chain_state`;
any number of dashboard processes read it here through the LiveSource protocol (core.live) the
pages use on a Runtime.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.bus import ConfidencePoint, SpotPoint
from core.clock import to_datetime, to_epoch
from core.config import Config, mask_url
from core.domain import Signal
from core.live import LiveView
from core.live_state import parse_live_state
from core.storage.database import SessionLocal, configure_database
from core.storage.models import LiveChainState, MarketSnapshot


class _Feed:
    mode = "DB"

    def describe(self) -> str:
        return "live_chain_state (published by a worker process)"


class DbLiveSource:
    """Reads the latest published state; a row the worker wrote more than `stale_after_s` wall
    seconds ago is STALE."""

    # A replica stores nothing, so it is no run: history pages default to every run but backtests.
    run_id: str | None = None
    source: str | None = None

    def __init__(self, config: Config, stale_after_s: float = 15.0, cache_s: float = 0.5) -> None:
        configure_database(config.database_url)
        self.config = config
        self.feed = _Feed()
        self.bus = _DbBus(self)
        self.stale_after_s = stale_after_s
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, tuple[datetime, dict[str, Any]] | None]] = {}
        self._lock = threading.Lock()

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.config.feed.symbols

    def _row(self, symbol: str) -> tuple[datetime, dict[str, Any]] | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(symbol)
            if hit and now - hit[0] < self._cache_s:
                return hit[1]
        with SessionLocal() as session:
            row = session.get(LiveChainState, symbol)
            value = (row.updated_at, row.snapshot) if row else None
        with self._lock:
            self._cache[symbol] = (now, value)
        return value

    def view(self, symbol: str) -> LiveView:
        row = self._row(symbol)
        if row is None:
            return LiveView(symbol, None, {}, None, {}, "DB", "disconnected",
                            f"no worker has published {symbol} to live_chain_state yet")  # fmt: skip
        updated_at, payload = row
        by_expiry, default, states, _signals, feed = parse_live_state(payload)
        # The worker's wall clock when it wrote the row (rows from before it carried one: its stamp).
        age = time.time() - float(feed.get("published_at", to_epoch(updated_at)))
        state, reason = feed.get("state", "connected"), feed.get("reason", "")
        if age > self.stale_after_s:
            state, reason = "stale", f"no update from the worker for {age:,.0f} s"
        return LiveView(symbol, None, by_expiry, default, states, feed.get("mode", "DB"), state, reason)

    def signals(self, symbol: str | None, limit: int) -> list[Signal]:
        symbols = self.symbols if symbol is None else (symbol,)
        out: list[Signal] = []
        for s in symbols:
            row = self._row(s)
            if row is not None:
                out.extend(parse_live_state(row[1])[3])
        out.sort(key=lambda s: s.ts, reverse=True)
        return out[:limit]

    def health(self) -> dict[str, Any]:
        symbols = {}
        for s in self.symbols:
            row = self._row(s)
            symbols[s] = None if row is None else {
                "updated_at": row[0].isoformat(),
                "age_s": round(time.time() - to_epoch(row[0]), 1),
            }  # fmt: skip
        return {"live_source": "db", "symbols": symbols, "database": mask_url(self.config.database_url)}

    def stop(self, timeout: float = 0.0) -> bool:
        return True


class _DbBus:
    """The SignalBus surface the Live page reads, served from the database."""

    def __init__(self, source: DbLiveSource, window_s: float = 3600.0) -> None:
        self._source = source
        self._window_s = window_s

    def signals(self, symbol: str | None = None, limit: int = 100) -> list[Signal]:
        return self._source.signals(symbol, limit)

    def spot_series(self, symbol: str) -> tuple[SpotPoint, ...]:
        """The last hour of stored market snapshots (every snapshot interval, not every second)."""
        m = MarketSnapshot
        with SessionLocal() as session:
            last = session.execute(sa.select(sa.func.max(m.ts)).where(m.symbol == symbol)).scalar()
            if last is None:
                return ()
            since = to_datetime(to_epoch(last) - self._window_s)
            rows = session.execute(
                sa.select(m.ts, m.spot, m.support, m.resistance, m.gamma_flip, m.max_pain, m.expected_move)
                .where(m.symbol == symbol, m.ts >= since)
                .order_by(m.ts)
            ).all()
        return tuple(
            SpotPoint(to_epoch(ts), spot, sup, res, flip, pain,
                      None if not (spot and em) else (spot - 2 * em, spot - em, spot + em, spot + 2 * em))
            for ts, spot, sup, res, flip, pain, em in rows
        )  # fmt: skip

    def confidence_series(self, symbol: str) -> tuple[ConfidencePoint, ...]:
        """Per-cycle engine scores live only in the worker's memory; replicas show signals instead."""
        return ()
