"""SignalLogger: the write-behind writer thread that stores signals without losing or duplicating any.

Callers only enqueue small task objects; one writer thread owns the queue, the database session
and the spill journal (the Home Assistant recorder pattern). Signals are inserted in batches with
ON CONFLICT (signal_uid) DO NOTHING, so a retried or replayed batch never duplicates. While the
database is down the writer keeps `queue_max` rows in memory and appends the rest to the journal;
the journal is replayed on recovery and on the next start.

A logger belongs to one run: every row it writes (signals, market and chain snapshots, prediction
and smart-money rows) is stamped with its `run_id` and `source`, and the journal keeps them, so a
row replayed by the next run's logger still names the run that produced it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.clock import EventClock, to_datetime
from core.config import LoggerConfig
from core.domain import LiveMetrics, Signal
from core.storage import queries
from core.storage.database import insert_ignoring_conflicts, is_outage, upsert
from core.storage.models import (
    AiSignalLog,
    Base,
    LiveChainState,
    MarketSnapshot,
    OptionChainSnapshot,
    RunStamped,
    signal_from_fields,
)
from core.storage.runs import check_run
from core.storage.spill import SpillJournal
from core.storage.types import sanitize_json

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]
_SIGNALS = AiSignalLog.__table__


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
BEST_EFFORT = (LogSnapshot, LogRows, UpsertLiveState)


class SignalLogger:
    """Write-behind signal storage; `log()` and friends never block and never raise."""

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
        self._config = config
        self._clock = clock
        self._chain_strikes = chain_strikes
        self._queue: queue.SimpleQueue[Task] = queue.SimpleQueue()
        self._journal = SpillJournal(Path(spill_path))
        self._rejected = SpillJournal(Path(spill_path).with_suffix(".rejected.jsonl"))
        self._lock = threading.Lock()  # guards accepting vs stopping, and the enqueued counter
        self._thread: threading.Thread | None = None
        self._accepting = True
        self._pending: list[dict[str, Any]] = []
        self._first_pending = 0.0
        self._db_up = True
        self._retry_at = 0.0
        self._retry_delay = config.retry_initial_s
        counters = ("enqueued", "written", "batches", "retries", "spilled", "replayed", "rejected",
                    "snapshots_written", "rows_written", "dropped_snapshots")  # fmt: skip
        self._counts = dict.fromkeys(counters, 0)
        self._last_error = ""
        self._last_batch_ms = 0.0

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
            self._counts["rejected"] += 1
            return str(fields.get("id") or uuid.uuid4())
        self.log(built)
        return built.id

    def _now(self) -> float:
        # Event time when a clock is wired; a caller without one (scripts, the seed API) gets the
        # wall clock as the receive time, which is the best this layer can know.
        if self._clock is not None and self._clock.now() > 0:
            return self._clock.now()
        return time.time()

    def log_snapshot(self, metrics: LiveMetrics, chain: bool = False) -> None:
        """A MarketSnapshot row (+ OptionChainSnapshot rows for ATM +- 15 when `chain`). Best effort."""
        self._put(LogSnapshot(metrics, chain))

    def log_rows(self, rows: list[Base]) -> None:
        """Arbitrary ORM rows (Prediction, SmartMoneyPrediction...). Best effort."""
        self._put(LogRows(list(rows)))

    def upsert_live_state(self, symbol: str, payload: Mapping[str, Any], ts: float | None = None) -> None:
        """Insert or replace the symbol's live_chain_state row. Best effort."""
        self._put(UpsertLiveState(symbol, payload, self._now() if ts is None else ts))

    def _put(self, task: Task, counted: bool = False) -> None:
        with self._lock:
            if self._accepting:
                self._queue.put(task)
                if counted:
                    self._counts["enqueued"] += 1
                return
        self._after_stop(task)

    def _after_stop(self, task: Task) -> None:
        # The writer is gone: a signal goes straight to the journal (replayed on the next start).
        try:
            if isinstance(task, LogSignal):
                self._journal.append([self._signal_row(task.signal)])
                self._counts["spilled"] += 1
            else:
                self._counts["dropped_snapshots"] += 1
        except Exception:
            log.exception("signal logged after stop could not be spilled")

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Block until everything enqueued before this call is committed, or spilled if the DB is down."""
        barrier = Flush()
        with self._lock:
            running = self._accepting and self._thread is not None and self._thread.is_alive()
            if running:
                self._queue.put(barrier)
        if not running:
            return self._queue.empty() and not self._pending
        return barrier.done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> bool:
        """Drain the queue completely (to the DB, or the journal if the DB is down) and join the thread."""
        with self._lock:
            thread = self._thread
            if not self._accepting:
                return thread is None or not thread.is_alive()
            self._accepting = False
            self._queue.put(Stop())
        if thread is None or not thread.is_alive():
            self._guarded(self._drain)  # never started: what was logged is written here, or spilled
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def stats(self) -> dict[str, Any]:
        return {
            **self._counts,
            "queue_depth": self._queue.qsize() + len(self._pending),
            "spill_size": {"lines": self._journal.lines, "bytes": self._journal.size_bytes},
            "spill_lines": self._journal.lines,
            "rejected_size": {"lines": self._rejected.lines, "bytes": self._rejected.size_bytes},
            "last_error": self._last_error,
            "last_batch_ms": self._last_batch_ms,
            "db_up": self._db_up,
            "running": self._thread is not None and self._thread.is_alive(),
        }

    def get_recent_signals(
        self, symbol: str | None = None, limit: int = 100, hours: float | None = None
    ) -> list[dict]:
        return queries.get_recent_signals(symbol, limit, hours, session_factory=self._session_factory)

    def get_signal_statistics(self, symbol: str | None = None, hours: float | None = 24) -> dict[str, Any]:
        return queries.get_signal_statistics(symbol, hours, session_factory=self._session_factory)

    # ----- writer thread -----

    def _run(self) -> None:
        self._guarded(self._replay_journal)
        while True:
            try:
                task = self._next_task()
                if isinstance(task, Stop):
                    break
                if task is not None:
                    self._handle(task)
                self._maybe_write()
            except Exception as exc:  # the writer must outlive any bug or surprise
                self._note_error(exc)
                log.exception("signal logger loop error (continuing)")
        self._guarded(self._drain)

    def _guarded(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:
            self._note_error(exc)
            log.exception("signal logger error in %s", getattr(fn, "__name__", fn))

    def _next_task(self) -> Task | None:
        deadline = self._deadline()
        try:
            if deadline is None:
                return self._queue.get()
            return self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            return None

    def _deadline(self) -> float | None:
        if not self._db_up and (self._pending or self._journal.lines):
            return self._retry_at
        if self._pending:
            return self._first_pending + self._config.flush_interval_ms / 1000.0
        return None

    def _handle(self, task: Task) -> None:
        if isinstance(task, LogSignal):
            self._add_signal(task.signal)
        elif isinstance(task, Flush):
            self._flush_all()
            task.done.set()
        elif isinstance(task, BEST_EFFORT):
            self._write_best_effort(task)

    def _add_signal(self, signal: Signal) -> None:
        try:
            row = self._signal_row(signal)
        except Exception as exc:  # not a Signal we can store; keep its text for a human
            self._counts["rejected"] += 1
            self._rejected.append_lines(
                [json.dumps(sanitize_json({"error": str(exc), "signal": repr(signal)}))]
            )
            return
        if not self._pending:
            self._first_pending = time.monotonic()
        self._pending.append(row)

    def _signal_row(self, signal: Signal) -> dict[str, Any]:
        return AiSignalLog.values_from_signal(signal, self.run_id, self.source)

    def _stamp(self, rows: list[Base]) -> list[Base]:
        for row in rows:
            if isinstance(row, RunStamped):
                row.stamp(self.run_id, self.source)
        return rows

    def _maybe_write(self) -> None:
        if not self._db_up:
            if time.monotonic() >= self._retry_at:
                self._attempt()
            self._cap_memory()
            return
        if len(self._pending) >= self._config.batch_size or (
            self._pending
            and time.monotonic() >= self._first_pending + self._config.flush_interval_ms / 1000.0
        ):
            self._attempt()

    def _attempt(self) -> bool:
        """Write every pending row, then replay the journal if it holds anything. False on outage."""
        while self._pending:
            batch = self._pending[: self._config.batch_size]
            if not self._insert(batch):
                return False
            del self._pending[: len(batch)]
        return self._replay_journal()

    def _flush_all(self) -> None:
        """Commit everything pending, or spill it when the database refuses. An explicit flush tries
        the database even during backoff: the caller is waiting to know where the rows are."""
        if not self._attempt():
            self._spill(len(self._pending))

    def _cap_memory(self) -> None:
        excess = len(self._pending) - self._config.queue_max
        if excess > 0:
            # Spill a whole batch beyond the cap so the fsync cost is paid per batch, not per signal.
            self._spill(min(len(self._pending), excess + self._config.batch_size))

    def _spill(self, count: int) -> None:
        if count <= 0:
            return
        rows = self._pending[:count]
        self._journal.append(rows)
        del self._pending[:count]
        self._counts["spilled"] += len(rows)

    def _replay_journal(self) -> bool:
        replayed = self._journal.replay(self._insert, self._config.batch_size)
        if replayed:
            self._counts["replayed"] += replayed
            log.info("replayed %d spilled signals from %s", replayed, self._journal.path)
        return replayed is not None

    def _insert(self, rows: list[dict[str, Any]]) -> bool:
        """One batched INSERT ... ON CONFLICT DO NOTHING. False (batch kept) when the DB is down."""
        started = time.perf_counter()
        try:
            with self._session_factory() as session, session.begin():
                insert_ignoring_conflicts(session, _SIGNALS, rows, ["signal_uid"])
        except Exception as exc:
            if is_outage(exc):
                self._mark_down(exc)
                return False
            self._note_error(exc)
            self._insert_one_by_one(rows)
            return True
        self._last_batch_ms = (time.perf_counter() - started) * 1000.0
        self._counts["written"] += len(rows)
        self._counts["batches"] += 1
        self._mark_up()
        return True

    def _insert_one_by_one(self, rows: list[dict[str, Any]]) -> None:
        # A bad row must not hold the good ones hostage: isolate it and keep it on disk.
        for i, row in enumerate(rows):
            try:
                with self._session_factory() as session, session.begin():
                    insert_ignoring_conflicts(session, _SIGNALS, [row], ["signal_uid"])
                self._counts["written"] += 1
            except Exception as exc:
                if is_outage(exc):  # the database left mid-way: the rest waits in the journal
                    self._mark_down(exc)
                    self._journal.append(rows[i:])
                    self._counts["spilled"] += len(rows) - i
                    return
                self._note_error(exc)
                self._counts["rejected"] += 1
                self._rejected.append([row])

    def _write_best_effort(self, task: Task) -> None:
        if not self._db_up:
            self._counts["dropped_snapshots"] += 1
            return
        try:
            with self._session_factory() as session, session.begin():
                self._apply(session, task)
            kind = "snapshots_written" if isinstance(task, LogSnapshot) else "rows_written"
            self._counts[kind] += 1
        except Exception as exc:
            self._counts["dropped_snapshots"] += 1
            if is_outage(exc):
                self._mark_down(exc)
            else:
                self._note_error(exc)

    def _apply(self, session: Session, task: Task) -> None:
        if isinstance(task, LogSnapshot):
            snapshot = MarketSnapshot.from_metrics(task.metrics)
            session.add_all(self._stamp([snapshot]))
            if task.chain:
                session.flush()  # the chain rows need the snapshot's id
                chain = OptionChainSnapshot.rows_from_metrics(task.metrics, snapshot.id, self._chain_strikes)
                session.add_all(self._stamp(chain))
        elif isinstance(task, LogRows):
            session.add_all(self._stamp(task.rows))
        elif isinstance(task, UpsertLiveState):
            values = {
                "symbol": task.symbol,
                "updated_at": to_datetime(task.ts),
                "snapshot": dict(task.payload),
            }
            upsert(session, LiveChainState.__table__, values, ["symbol"])

    def _drain(self) -> None:
        """After Stop: take whatever is still queued, write it once, spill what the DB refuses."""
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(task, Stop):
                self._handle(task)
        self._flush_all()

    def _mark_down(self, exc: BaseException) -> None:
        self._note_error(exc)
        self._counts["retries"] += 1
        if self._db_up:
            log.warning("database unavailable, keeping signals and retrying: %s", self._last_error)
        self._db_up = False
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2.0, self._config.retry_max_s)

    def _mark_up(self) -> None:
        if not self._db_up:
            log.info("database reachable again")
        self._db_up = True
        self._retry_delay = self._config.retry_initial_s

    def _note_error(self, exc: BaseException) -> None:
        self._last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
