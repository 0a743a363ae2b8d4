"""Composition root: wires feed -> state -> metrics -> engines -> bus + logger and owns the threads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from core.alerts.service import AlertService
from core.analytics.structural import LiveStructuralEngine
from core.bus import SignalBus
from core.clock import EventClock
from core.config import Config, mask_url
from core.domain import ChainSnapshot, FeedItem, FeedStatus, LiveMetrics
from core.engines.dealer_gamma import DealerGammaEngine
from core.engines.pipeline import EnginePipeline
from core.errors import ConfigError
from core.feed.base import Feed
from core.feed.factory import build_feed
from core.learning.calibration import ConfidenceCalibrator
from core.learning.evaluator import LearningLoop
from core.learning.prediction_service import build_prediction
from core.live import LiveView
from core.live_state import live_state_payload
from core.state.market_state import MarketStateManager
from core.storage.database import SessionLocal, configure_database, current_revision, head_revision, upgrade
from core.storage.models import SmartMoneyPrediction
from core.storage.runs import feed_source, new_run_id
from core.storage.signal_logger import SignalLogger

log = logging.getLogger(__name__)


@dataclass
class _SymbolTimers:
    metrics_ts: float = float("-inf")
    snapshot_ts: float = float("-inf")
    chain_ts: float = float("-inf")
    pending: ChainSnapshot | None = None  # the latest chain the metrics interval held back


@dataclass
class _CycleStats:
    cycles: int = 0
    failures: int = 0
    last_error: str = ""
    last_ms: float = 0.0
    max_ms: float = 0.0
    total_ms: float = 0.0
    signals: int = 0
    signals_by_engine: dict[str, int] = field(default_factory=dict)


class Runtime:
    """One StrikeIQ process: start() is idempotent, stop(timeout) drains the logger.

    One Runtime is one run: every row it stores carries `run_id` (a new uuid4 hex unless given) and
    `source` (derived from config.feed unless given: sim:<scenario>, replay:<file name>, live).
    """

    def __init__(
        self,
        config: Config,
        feed: Feed | None = None,
        *,
        publish_live_state: bool = False,
        migrate: bool | None = None,
        run_id: str | None = None,
        source: str | None = None,
        all_expiries: bool = True,
        alerts: bool | None = None,
    ) -> None:
        self.config = config
        # False: metrics for the default expiry only (a backtest has no expiry pickers to fill).
        self.all_expiries = all_expiries
        self.run_id = run_id or new_run_id()
        self.source = source or feed_source(config.feed)
        self.clock = EventClock()
        self.feed = feed or build_feed(config)
        self.state = MarketStateManager(config.feed.symbols)
        self.structural = LiveStructuralEngine(config.analytics)
        # The calibrator is an in-memory table the learning thread refreshes: engines never query.
        self.calibrator = ConfidenceCalibrator(config.learning)
        self.pipeline = EnginePipeline(config.engines, calibrator=self.calibrator)
        self.bus = SignalBus()
        self.engine = configure_database(config.database_url)
        self.session_factory = SessionLocal
        # The logger stamps what it times itself (live state) with this run's event clock.
        self.logger = SignalLogger(
            SessionLocal,
            config.logger,
            config.spill_path,
            clock=self.clock,
            chain_strikes=config.analytics.chain_snapshot_strikes,
            run_id=self.run_id,
            source=self.source,
        )
        self.learning = LearningLoop(SessionLocal, self.clock, self.calibrator, config.learning)
        # Alert rules fire on live markets and replays, not on backtests (no Telegram for June's data).
        use_alerts = not self.source.startswith("backtest") if alerts is None else alerts
        self.alerts = AlertService(config.alerts, SessionLocal if use_alerts else None, enabled=use_alerts)
        self.publish_live_state = publish_live_state
        self._migrate = config.database_url.startswith("sqlite") if migrate is None else migrate
        self._metrics: dict[str, dict[date, LiveMetrics]] = {}
        self._default_expiry: dict[str, date | None] = {}
        self._timers: dict[str, _SymbolTimers] = {s: _SymbolTimers() for s in config.feed.symbols}
        self._cycle = _CycleStats()
        self._feed_status = FeedStatus("connecting", "starting")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at = 0.0
        self._stopped: bool | None = None  # the result of stop(), once stopped
        self._lock = threading.Lock()

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> Runtime:
        with self._lock:
            if self._stopped is not None:
                raise RuntimeError("a stopped Runtime cannot start again: build a new one")
            if self._thread is not None and self._thread.is_alive():
                return self
            self._prepare_database()
            self.logger.start()
            self.learning.start()
            self.alerts.start()
            self._stop.clear()
            self._started_at = time.time()
            self._thread = threading.Thread(target=self._run_feed, name="strikeiq-feed", daemon=True)
            self._thread.start()
        return self

    def _prepare_database(self) -> None:
        if self._migrate:
            upgrade(self.config.database_url)
            return
        current = current_revision(self.config.database_url)
        if current != head_revision():
            raise ConfigError(
                f"database {mask_url(self.config.database_url)} is at migration {current or 'none'}, "
                f"not {head_revision()}: run `python -m core db upgrade --db URL` first"
            )

    def _run_feed(self) -> None:
        try:
            self.feed.run(self, self._stop)
        except Exception as exc:  # a feed must never raise; if one does, say so and stop cleanly
            log.exception("feed thread ended with an error")
            self._feed_status = FeedStatus("disconnected", f"feed error: {exc}", self.clock.now())
        else:
            if not self._stop.is_set():
                self._feed_status = FeedStatus("stopped", "feed ended", self.clock.now())

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the feed, write a final snapshot per symbol, drain the logger. True if all flushed.

        Idempotent: a second call (e.g. the atexit hook after an explicit stop) does nothing.
        """
        with self._lock:
            if self._stopped is not None:
                return self._stopped
            self._stopped = self._shutdown(timeout)
            return self._stopped

    def _shutdown(self, timeout: float) -> bool:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        for symbol, by_expiry in self._metrics.items():
            expiry = self._default_expiry.get(symbol)
            if expiry in by_expiry:
                self.logger.log_snapshot(by_expiry[expiry], chain=False)
        self.learning.stop(timeout)
        self.alerts.stop(min(timeout, 5.0))
        flushed = self.logger.stop(timeout)
        self._final_learning_pass()
        return flushed

    def _final_learning_pass(self) -> None:
        """Score what the drained logger just wrote, so a worker run ends with its outcomes stored."""
        if self._thread is None:
            return
        try:
            self.learning.run_once()
        except Exception:  # stopping must not fail because the database went away
            log.warning("final learning pass failed", exc_info=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the feed thread ends (a replay or a --no-reconnect feed). True if it ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # FeedSink -------------------------------------------------------------------------------
    def on_status(self, status: FeedStatus) -> None:
        self._feed_status = status

    def on_items(self, items: Sequence[FeedItem]) -> None:
        first = next((ts for item in items if (ts := getattr(item, "ts", None)) is not None), None)
        if first is not None:
            self._after_quiet(first)
        if not self.state.apply(items):
            return
        for symbol, snap in self.state.publish().items():
            now = self.clock.advance(snap.ts)
            timers = self._timers.setdefault(symbol, _SymbolTimers())
            if now - timers.metrics_ts >= self.config.analytics.metrics_interval_s:
                timers.metrics_ts, timers.pending = now, None
                self._cycle_symbol(snap, timers)
            else:
                timers.pending = snap

    def _after_quiet(self, ts: float) -> None:
        """Cycle a chain the metrics interval held back when the feed then went quiet for more than
        an interval: a timer would have computed it once the interval passed. Without this, the
        last legs of a streamed burst wait for the next batch, which on a sparse feed is the next
        spot move minutes later, and the observation they complete is read without them."""
        interval = self.config.analytics.metrics_interval_s
        for timers in self._timers.values():
            snap = timers.pending
            if snap is not None and ts - timers.metrics_ts >= 2 * interval:
                timers.metrics_ts, timers.pending = timers.metrics_ts + interval, None
                self._cycle_symbol(snap, timers)

    # the metrics + engines cycle ---------------------------------------------------------------
    def _cycle_symbol(self, snap: ChainSnapshot, timers: _SymbolTimers) -> None:
        started = time.perf_counter()
        try:
            metrics = self._compute_all_expiries(snap)
            if metrics is None:
                return
            out = self.pipeline.evaluate(metrics)
            self.bus.record_cycle(metrics, out.results)
            if out.signals:
                self.bus.publish_signals(out.signals)
                for sig in out.signals:
                    self.logger.log(sig)
                    by_engine = self._cycle.signals_by_engine
                    by_engine[sig.engine] = by_engine.get(sig.engine, 0) + 1
                self._cycle.signals += len(out.signals)
            self.alerts.observe(metrics, out.signals)
            self._maybe_store(metrics, out, timers)
        except Exception as exc:  # one bad cycle must not kill the feed thread
            self._cycle.failures += 1
            self._cycle.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("metrics cycle failed for %s", snap.symbol)
        finally:
            ms = (time.perf_counter() - started) * 1000.0
            c = self._cycle
            c.cycles += 1
            c.last_ms, c.total_ms, c.max_ms = ms, c.total_ms + ms, max(c.max_ms, ms)

    def _compute_all_expiries(self, snap: ChainSnapshot) -> LiveMetrics | None:
        """Metrics for the default (nearest) expiry, plus every other listed expiry for the pickers."""
        found = self.structural.compute_all(snap, later_expiries=self.all_expiries)
        default = found[0]
        by_expiry = {m.expiry: m for m in found if m.expiry is not None}
        self._metrics[snap.symbol] = by_expiry  # reference swap: readers see a whole dict
        self._default_expiry[snap.symbol] = default.expiry
        return default if default.spot is not None else None

    def _maybe_store(self, metrics: LiveMetrics, out: Any, timers: _SymbolTimers) -> None:
        a = self.config.analytics
        if metrics.ts - timers.snapshot_ts < a.snapshot_interval_s:
            return
        timers.snapshot_ts = metrics.ts
        chain = metrics.ts - timers.chain_ts >= a.chain_snapshot_interval_s
        if chain:
            timers.chain_ts = metrics.ts
        self.logger.log_snapshot(metrics, chain=chain)
        if out.smart_money is not None:
            self.logger.log_rows([SmartMoneyPrediction.from_reading(out.smart_money)])
        if out.results:  # no engine ran (a stale update): there is nothing to aggregate
            skill = self.calibrator.engine_skill(metrics.symbol)
            gamma = self.pipeline.states(metrics.symbol).get(DealerGammaEngine.name)
            held = gamma.held if gamma is not None else None
            self.logger.log_rows([build_prediction(metrics, out.results, skill, held)])
        if self.publish_live_state:
            symbol = metrics.symbol
            payload = live_state_payload(
                self._metrics.get(symbol, {}),
                self._default_expiry.get(symbol),
                self.pipeline.states(symbol),
                self.bus.signals(symbol, 50),
                {
                    "mode": self.feed.mode,
                    "state": self._feed_status.state,
                    "reason": self._feed_status.reason,
                    # Wall time of this write: a replica's staleness is the worker's silence, which
                    # the row's event-time stamp cannot measure (a simulated day may run ahead of now).
                    "published_at": time.time(),
                },
            )
            self.logger.upsert_live_state(symbol, payload)

    # readers ---------------------------------------------------------------------------------
    def view(self, symbol: str) -> LiveView:
        return LiveView(
            symbol=symbol,
            snapshot=self.state.snapshot(symbol),
            metrics=dict(self._metrics.get(symbol, {})),
            default_expiry=self._default_expiry.get(symbol),
            engine_states=self.pipeline.states(symbol),
            feed_mode=self.feed.mode,
            feed_state=self._feed_status.state,
            feed_reason=self._feed_status.reason,
        )

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.config.feed.symbols

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def health(self) -> dict[str, Any]:
        c = self._cycle
        return {
            "running": self.running,
            "uptime_s": time.time() - self._started_at if self._started_at else 0.0,
            "event_time": self.clock.now(),
            "feed": {
                "mode": self.feed.mode,
                "describe": self.feed.describe(),
                "status": self._feed_status.state,
                "reason": self._feed_status.reason,
                **self.feed.stats.as_dict(),
            },
            "state": self.state.stats(),
            "cycle": {
                "cycles": c.cycles,
                "failures": c.failures,
                "last_error": c.last_error,
                "last_ms": round(c.last_ms, 3),
                "mean_ms": round(c.total_ms / c.cycles, 3) if c.cycles else None,
                "max_ms": round(c.max_ms, 3),
                "signals": c.signals,
                "signals_by_engine": dict(c.signals_by_engine),
            },
            "engines": self.pipeline.health(),
            "logger": self.logger.stats(),
            "learning": self.learning.stats(),
            "alerts": self.alerts.stats(),
            "database": mask_url(self.config.database_url),
        }
