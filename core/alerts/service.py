"""AlertService: evaluates rules on the feed thread, delivers and stores alerts on threads of its own.

The feed thread calls `observe(metrics, signals)` once per metrics cycle. That does arithmetic
(AlertEvaluator), adds the fired alerts to the in-memory log and puts delivery jobs on a bounded
queue with `put_nowait`: a full queue drops the job (counted, and the log says so), it never blocks.
Delivery threads POST with retry and a timeout; the store thread reloads the rules table every
`refresh_s` and upserts new and updated alerts into `alert_events`. A database outage only delays
both: the rules in memory keep working and unsaved alerts wait (bounded) for the next attempt.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from core.alerts.config import AlertConfig, mask_webhook
from core.alerts.delivery import DeliveryResult, Sender
from core.alerts.evaluate import AlertEvaluator, AlertEvent
from core.alerts.records import AlertLog, AlertRecord
from core.alerts.rules import AlertRule, load_rules_file
from core.domain import LiveMetrics, Signal

log = logging.getLogger(__name__)

_STOP = object()


def config_rules(config: AlertConfig) -> tuple[AlertRule, ...]:
    """The worker's --alert-webhook: every signal at or above --alert-min-confidence, to the webhook."""
    if not config.webhook_url:
        return ()
    name = f"every signal >= {config.min_confidence:.2f} to {mask_webhook(config.webhook_url)}"
    return (AlertRule(name=name[:100], kind="signal", min_confidence=config.min_confidence,
                      channels=("webhook",), cooldown_s=0.0, origin="config"),)  # fmt: skip


class AlertService:
    """One per runtime. `start()` / `stop(timeout)`; `flush(timeout)` waits for deliveries and storage."""

    def __init__(
        self,
        config: AlertConfig,
        session_factory: Callable[[], Any] | None = None,
        *,
        workers: int = 2,
        queue_max: int = 1000,
        unsaved_max: int = 5000,
        enabled: bool = True,
    ) -> None:
        self.config = config
        self.enabled = enabled  # False (a backtest): no rule is evaluated, no thread started
        self._session_factory = session_factory if enabled else None
        self._static: tuple[AlertRule, ...] = ()
        if enabled:
            file_rules = load_rules_file(config.rules_file) if config.rules_file else ()
            self._static = config_rules(config) + file_rules
        self._db_rules: tuple[AlertRule, ...] = ()
        self.evaluator = AlertEvaluator()
        self.log = AlertLog()
        self._stop = threading.Event()
        self._sender = Sender(config, self._stop)
        self._jobs: queue.Queue[Any] = queue.Queue(maxsize=queue_max)
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._unsaved: dict[str, AlertRecord] = {}  # event id -> newest record not yet stored
        self._unsaved_max = unsaved_max
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0  # delivery jobs queued or running
        self._stats: dict[str, Any] = {"fired": 0, "sent": 0, "failed": 0, "skipped": 0, "dropped": 0,
                                       "evaluation_errors": 0, "store_errors": 0, "stored": 0,
                                       "rule_reloads": 0, "last_error": ""}  # fmt: skip

    # rules ---------------------------------------------------------------------------------------
    @property
    def rules(self) -> tuple[AlertRule, ...]:
        """Rules in force: configuration and file rules, then the database's (one reference swap)."""
        return self._static + self._db_rules

    def reload_rules(self) -> None:
        """Read the rules table now (the store thread does this every `refresh_s`)."""
        if self._session_factory is None:
            return
        from core.storage.alerts import load_rules

        with self._session_factory() as session:
            self._db_rules = load_rules(session)
        self._stats["rule_reloads"] += 1

    # the feed thread -----------------------------------------------------------------------------
    def observe(self, metrics: LiveMetrics, signals: Iterable[Signal] = ()) -> list[AlertEvent]:
        """Evaluate the rules on one metrics cycle. Never raises and never blocks."""
        if not self.enabled:
            return []
        try:
            events = self.evaluator.evaluate(self.rules, metrics, signals)
        except Exception as exc:  # a bad rule must not cost the pipeline a cycle
            self._stats["evaluation_errors"] += 1
            self._stats["last_error"] = f"evaluation: {type(exc).__name__}: {exc}"
            log.exception("alert evaluation failed for %s", metrics.symbol)
            return []
        for event in events:
            self._fire(event)
        return events

    def _fire(self, event: AlertEvent) -> None:
        record = self.log.add(event, time.time())
        self._stats["fired"] += 1
        self._mark_unsaved(record)
        for channel in event.channels:
            with self._lock:
                self._in_flight += 1
            try:
                self._jobs.put_nowait((event, channel))
            except queue.Full:
                self._done_job()
                self._stats["dropped"] += 1
                self._record(event, channel, DeliveryResult(
                    "failed", error="delivery queue full: alert dropped", at=time.time()))  # fmt: skip

    # delivery threads ----------------------------------------------------------------------------
    def _deliver_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            event, channel = job
            try:
                result = self._sender.deliver(event, channel)
            except Exception as exc:  # never let a delivery thread die
                log.exception("alert delivery crashed")
                result = DeliveryResult("failed", error=f"{type(exc).__name__}: {exc}", at=time.time())
            try:
                self._record(event, channel, result)
            finally:
                self._done_job()

    def _record(self, event: AlertEvent, channel: str, result: DeliveryResult) -> None:
        key = result.status if result.status in ("sent", "failed", "skipped") else "failed"
        with self._lock:  # delivery threads count concurrently
            self._stats[key] += 1
            if result.status == "failed":
                self._stats["last_error"] = f"{channel}: {result.error}"
        if result.status == "failed":
            log.warning("alert %s (%s) %s delivery failed after %d attempt(s): %s",
                        event.rule_name, event.symbol, channel, result.attempts, result.error)  # fmt: skip
        record = self.log.update(event.id, channel, result)
        if record is not None:
            self._mark_unsaved(record)

    def _done_job(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._idle.notify_all()

    # the store thread ----------------------------------------------------------------------------
    def _mark_unsaved(self, record: AlertRecord) -> None:
        if self._session_factory is None:
            return
        with self._lock:
            if len(self._unsaved) >= self._unsaved_max and record.event.id not in self._unsaved:
                self._stats["store_errors"] += 1  # the oldest unsaved alert is given up
                self._unsaved.pop(next(iter(self._unsaved)))
            self._unsaved[record.event.id] = record
        self._wake.set()

    def _store_loop(self) -> None:
        next_reload = 0.0
        while True:
            stopping = self._stop.is_set()
            now = time.monotonic()
            if now >= next_reload and not stopping:
                next_reload = now + self.config.refresh_s
                self._guard("rules reload", self.reload_rules)
            self._guard("store", self.store_pending)
            if stopping:
                return
            self._wake.wait(min(self.config.refresh_s, max(0.0, next_reload - time.monotonic())))
            self._wake.clear()

    def store_pending(self) -> int:
        """Upsert every alert changed since the last store; on failure they stay for the next try."""
        if self._session_factory is None:
            return 0
        from core.storage.alerts import save_events

        with self._lock:
            batch, self._unsaved = self._unsaved, {}
        if not batch:
            return 0
        try:
            with self._session_factory() as session:
                n = save_events(session, batch.values())
        except Exception:
            with self._lock:  # newer versions of the same alerts win over the failed batch
                self._unsaved = {**batch, **self._unsaved}
            raise
        self._stats["stored"] += n
        return n

    def _guard(self, what: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:
            self._stats["store_errors"] += 1
            self._stats["last_error"] = f"{what}: {type(exc).__name__}: {exc}"
            log.warning("alerts %s failed: %s", what, exc)

    # lifecycle -----------------------------------------------------------------------------------
    def start(self) -> AlertService:
        if self._threads or not self.enabled:
            return self
        self._guard("rules reload", self.reload_rules)
        for n in range(self._workers):
            t = threading.Thread(target=self._deliver_loop, name=f"strikeiq-alerts-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._store_loop, name="strikeiq-alerts-store", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery ended and the log is stored. True if that happened."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._in_flight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        if self._threads:
            self._guard("store", self.store_pending)
        else:
            self.store_pending()
        with self._lock:
            return not self._unsaved

    def stop(self, timeout: float = 10.0) -> bool:
        """Let queued deliveries finish (within `timeout`), store the log, end the threads."""
        flushed = self.flush(timeout) if self._threads else True
        self._stop.set()
        for _ in range(self._workers):
            try:
                self._jobs.put_nowait(_STOP)
            except queue.Full:
                break
        self._wake.set()
        for t in self._threads:
            t.join(max(0.1, timeout / max(1, len(self._threads))))
        self._threads.clear()
        return flushed

    # readers -------------------------------------------------------------------------------------
    def cursor(self) -> int:
        return self.log.cursor()

    def newer_than(self, seq: int, limit: int = 20) -> list[AlertRecord]:
        return self.log.newer_than(seq, limit)

    def recent(self, limit: int = 100) -> list[AlertRecord]:
        return self.log.recent(limit)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            unsaved, in_flight = len(self._unsaved), self._in_flight
        return {**self._stats, "rules": len(self.rules), "suppressed": self.evaluator.suppressed,
                "queued": in_flight, "unsaved": unsaved, "webhook": mask_webhook(self.config.webhook_url),
                "telegram": "configured" if self.config.telegram_ready else "not configured"}  # fmt: skip

    def static_rules(self) -> Sequence[AlertRule]:
        """Rules from the configuration and the rules file (not editable on the page)."""
        return self._static
