"""SignalLogger: the write-behind writer thread that stores what a run produces without losing or
duplicating any of it.

Callers only enqueue small task objects; one writer thread owns the queue and the write path
(core.storage.writer: batches, retries, the spill journal), the Home Assistant recorder pattern.
Signals, market snapshots with their chain rows, and prediction rows are durable: each is inserted
with ON CONFLICT on its idempotency key, kept in memory (`queue_max`) and then in the journal while
the database is down, and replayed on recovery and on the next start. The live-state upsert is
best effort: the next one supersedes it.

The task queue is bounded (`queue_size`). When it is full a caller writes its durable record to the
journal itself (counted as `overflowed`; the writer replays it) and drops a live-state update
(counted as `dropped_live_state`): the feed thread never waits for the database, and nothing
durable is lost.

A logger belongs to one run: every row it writes is stamped with its `run_id` and `source`, and the
journal keeps them, so a row replayed by the next run's logger still names the run that produced it.
Times it stamps itself (the seed API, live state) are event time from the runtime's clock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.clock import EventClock
from core.config import LoggerConfig
from core.domain import LiveMetrics, Signal
from core.storage import queries
from core.storage.durable import Record, row_record, signal_record, snapshot_record
from core.storage.models import Base, signal_from_fields
from core.storage.runs import check_run
from core.storage.writer import DurableWriter, SessionFactory

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LogSignal:
    signal: Signal


@dataclass(slots=True)
class LogSnapshot:
    metrics: LiveMetrics
    chain: bool


@dataclass(slots=True)
class LogRows:
    rows: list[Base]


@dataclass(slots=True)
class UpsertLiveState:
    symbol: str
    payload: Mapping[str, Any]
    ts: float


@dataclass(slots=True)
class Flush:
    """Barrier: `done` is set once every task queued before it is committed (or spilled)."""

    done: threading.Event = field(default_factory=threading.Event)


@dataclass(slots=True)
class Stop:
    """Drain everything, then end the writer thread."""


Task = LogSignal | LogSnapshot | LogRows | UpsertLiveState | Flush | Stop
DURABLE = (LogSignal, LogSnapshot, LogRows)


class SignalLogger:
    """Write-behind storage of a run's rows; `log()` and friends never block and never raise."""

    def __init__(
        self,
        session_factory: SessionFactory,
        config: LoggerConfig,
        spill_path: Path,
        clock: EventClock | None = None,
        chain_strikes: int = 15,
        *,
        run_id: str | None = None,
        source: str | None = None,
    ) -> None:
        # The run every row is stamped with (core.storage.runs); None writes legacy-style NULLs.
        check_run(run_id, exclude_backtests=False)
        self.run_id = run_id
        self.source = source
        self._session_factory = session_factory
        self._clock = clock
        self._chain_strikes = chain_strikes
        # SimpleQueue (C, lock-free put) bounded by hand: queue.Queue would triple the enqueue cost.
        self._queue: queue.SimpleQueue[Task] = queue.SimpleQueue()
        self._queue_size = max(config.queue_size, 1)
        self._writer = DurableWriter(session_factory, config, spill_path)
        self._lock = threading.Lock()  # guards accepting vs stopping, and the callers' counters
        self._thread: threading.Thread | None = None
        self._accepting = True
        self._enqueued = 0

    # ----- caller side: enqueue only -----

    def start(self) -> None:
        """Start the writer (idempotent). It replays any spill journal before anything else."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._accepting = True
            self._thread = threading.Thread(target=self._run, name="signal-logger", daemon=True)
            self._thread.start()

    def log(self, signal: Signal) -> None:
        self._put(LogSignal(signal), counted=True)

    def log_ai_signal(
        self,
        symbol: str,
        signal: str,
        confidence: float,
        spot_price: float | None,
        metadata: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> str:
        """The seed API: build a Signal (engine, direction, ts, expiry... from `fields`) and enqueue it.

        `metadata` may carry `reasons` and `features`; any other keys are kept inside `features`.
        Returns the signal's uid (its idempotency key).
        """
        try:
            ts = fields.pop("ts", None)
            built = signal_from_fields(
                symbol, signal, confidence, spot_price, metadata, fields, self._now() if ts is None else ts
            )
        except Exception:
            log.exception("log_ai_signal could not build a signal for %r/%r; not stored", symbol, signal)
            with self._lock:
                self._writer.counts["rejected"] += 1
            return str(fields.get("id") or uuid.uuid4())
        self.log(built)
        return built.id

    def _now(self) -> float:
        # Event time from the runtime's clock; before its first event, or for a caller without one
        # (scripts, the seed API), the wall clock is the best this layer can know.
        if self._clock is not None and self._clock.now() > 0:
            return self._clock.now()
        return time.time()

    def log_snapshot(self, metrics: LiveMetrics, chain: bool = False) -> None:
        """A MarketSnapshot row (+ OptionChainSnapshot rows for ATM +- `chain_strikes` when `chain`)."""
        self._put(LogSnapshot(metrics, chain))

    def log_rows(self, rows: list[Base]) -> None:
        """Rows of a durable table (Prediction, SmartMoneyPrediction); any other table is rejected."""
        self._put(LogRows(list(rows)))

    def upsert_live_state(self, symbol: str, payload: Mapping[str, Any], ts: float | None = None) -> None:
        """Insert or replace the symbol's live_chain_state row. Best effort."""
        self._put(UpsertLiveState(symbol, payload, self._now() if ts is None else ts))

    def _put(self, task: Task, counted: bool = False) -> None:
        with self._lock:
            if self._accepting:
                if self._queue.qsize() < self._queue_size:
                    self._queue.put(task)
                    self._enqueued += counted
                    return
                self._writer.counts["overflowed"] += 1
        self._bypass(task)

    def _bypass(self, task: Task) -> None:
        """The writer cannot take `task` (queue full, or stopped): a durable record goes straight to
        the journal, replayed by the writer or the next start; a live-state update is dropped."""
        try:
            if isinstance(task, DURABLE):
                records = self._records(task)
                self._writer.journal.append(records)
                with self._lock:
                    self._writer.counts["spilled"] += len(records)
            else:
                with self._lock:
                    self._writer.counts["dropped_live_state"] += 1
        except Exception:
            log.exception("a record the writer could not take was not spilled")

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Block until everything enqueued before this call is committed, or spilled if the DB is down."""
        barrier = Flush()
        with self._lock:
            running = self._accepting and self._thread is not None and self._thread.is_alive()
        if not running:
            return self._queue.empty() and not self._writer.pending
        self._queue.put(barrier)  # a barrier may exceed the bound: it carries no data
        return barrier.done.wait(timeout)

    def write_queued(self) -> None:
        """Write everything queued so far in the calling thread, in batches (spilling what the database
        refuses). Only for a logger whose writer thread is not running: a backtest drives its logger
        by hand, because a writer thread would only take turns with the replay for the GIL."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("write_queued() is for a logger without a running writer thread")
        self._drain()

    def stop(self, timeout: float = 10.0) -> bool:
        """Drain the queue completely (to the DB, or the journal if the DB is down) and join the thread."""
        with self._lock:
            thread = self._thread
            if not self._accepting:
                return thread is None or not thread.is_alive()
            self._accepting = False
        alive = thread is not None and thread.is_alive()
        if not alive:
            self._guarded(self._drain)  # never started: what was logged is written here, or spilled
            return True
        self._queue.put(Stop())
        assert thread is not None
        thread.join(timeout)
        return not thread.is_alive()

    def stats(self) -> dict[str, Any]:
        w = self._writer
        return {
            **w.counts,
            "enqueued": self._enqueued,
            "queue_depth": self._queue.qsize() + len(w.pending),
            "spill_size": {"lines": w.journal.lines, "bytes": w.journal.size_bytes},
            "spill_lines": w.journal.lines,
            "rejected_size": {"lines": w.rejected.lines, "bytes": w.rejected.size_bytes},
            "last_error": w.last_error,
            "last_error_at": w.last_error_at,
            "down_since": w.down_since,
            "last_batch_ms": w.last_batch_ms,
            "db_up": w.db_up,
            "running": self._thread is not None and self._thread.is_alive(),
        }

    def get_recent_signals(
        self, symbol: str | None = None, limit: int = 100, hours: float | None = None
    ) -> list[dict[str, Any]]:
        return queries.get_recent_signals(symbol, limit, hours, session_factory=self._session_factory)

    def get_signal_statistics(self, symbol: str | None = None, hours: float | None = 24) -> dict[str, Any]:
        return queries.get_signal_statistics(symbol, hours, session_factory=self._session_factory)

    # ----- writer thread -----

    def _run(self) -> None:
        self._guarded(self._writer.replay_journal)
        while True:
            try:
                task = self._next_task()
                if isinstance(task, Stop):
                    break
                if task is not None:
                    self._handle(task)
                self._writer.maybe_write()
            except Exception as exc:  # the writer must outlive any bug or surprise
                self._writer.note_error(exc)
                log.exception("signal logger loop error (continuing)")
        self._guarded(self._drain)

    def _guarded(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:
            self._writer.note_error(exc)
            log.exception("signal logger error in %s", getattr(fn, "__name__", fn))

    def _next_task(self) -> Task | None:
        deadline = self._writer.deadline()
        try:
            if deadline is None:
                return self._queue.get()
            return self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            return None

    def _handle(self, task: Task) -> None:
        if isinstance(task, DURABLE):
            try:
                records = self._records(task)
            except Exception as exc:  # not something we can store; keep its text for a human
                self._writer.reject(str(exc), repr(task))
                return
            for record in records:
                self._writer.add(record)
        elif isinstance(task, Flush):
            self._writer.flush_all()
            task.done.set()
        elif isinstance(task, UpsertLiveState):
            self._writer.write_live_state(task.symbol, task.payload, task.ts)

    def _records(self, task: LogSignal | LogSnapshot | LogRows) -> list[Record]:
        if isinstance(task, LogSignal):
            return [signal_record(task.signal, self.run_id, self.source)]
        if isinstance(task, LogSnapshot):
            strikes = self._chain_strikes if task.chain else None
            return [snapshot_record(task.metrics, strikes, self.run_id, self.source)]
        return [row_record(row, self.run_id, self.source) for row in task.rows]

    def _drain(self) -> None:
        """After Stop: take whatever is still queued, write it once, spill what the DB refuses."""
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(task, Stop):
                self._handle(task)
        self._writer.flush_all()
