"""DurableWriter: the logger's write path. Records wait in memory, go to the database in batches of
idempotent inserts, wait in the spill journal while the database is down, and are replayed from
it on recovery. Only the logger's writer thread calls it (the journal is also appended by callers).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.clock import to_datetime
from core.config import LoggerConfig
from core.storage.database import is_outage, upsert
from core.storage.durable import CHAIN, SIGNALS, SNAPSHOTS, Record, insert_records
from core.storage.models import LiveChainState
from core.storage.spill import SpillJournal
from core.storage.types import sanitize_json

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]
# stats() key of the rows written per table
WRITTEN = {
    SIGNALS: "written",
    SNAPSHOTS: "snapshots_written",
    CHAIN.name: "chain_rows_written",
    "predictions": "rows_written",
    "smart_money_predictions": "rows_written",
}
COUNTERS = (
    "written", "batches", "retries", "spilled", "replayed", "rejected", "snapshots_written",
    "chain_rows_written", "rows_written", "live_state_written", "dropped_live_state", "overflowed",
)  # fmt: skip


class DurableWriter:
    """Pending records, their journal and the database's health, as one write-behind path."""

    def __init__(self, session_factory: SessionFactory, config: LoggerConfig, spill_path: Path) -> None:
        self._session_factory = session_factory
        self._config = config
        self.journal = SpillJournal(Path(spill_path))
        self.rejected = SpillJournal(Path(spill_path).with_suffix(".rejected.jsonl"))
        self.pending: list[Record] = []
        self._first_pending = 0.0
        self.db_up = True
        self._retry_at = 0.0
        self._retry_delay = config.retry_initial_s
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.last_error = ""
        self.last_batch_ms = 0.0
        # Wall-clock epochs for pages: since when the database is down, when the last error was.
        self.down_since: float | None = None
        self.last_error_at: float | None = None

    def add(self, record: Record) -> None:
        if not self.pending:
            self._first_pending = time.monotonic()
        self.pending.append(record)

    def reject(self, error: str, what: str) -> None:
        """Keep the text of something that could not become a record, for a human to look at."""
        self.counts["rejected"] += 1
        self.rejected.append_lines([json.dumps(sanitize_json({"error": error, "record": what}))])

    def deadline(self) -> float | None:
        """The monotonic time the writer thread must wake by (a retry or a batch that is due)."""
        if not self.db_up and (self.pending or self.journal.lines):
            return self._retry_at
        if self.pending:
            return self._first_pending + self._config.flush_interval_ms / 1000.0
        return None

    def maybe_write(self) -> None:
        if not self.db_up:
            if time.monotonic() >= self._retry_at:
                self._attempt()
            self._cap_memory()
            return
        if len(self.pending) >= self._config.batch_size or (
            self.pending and time.monotonic() >= self._first_pending + self._config.flush_interval_ms / 1000.0
        ):
            self._attempt()

    def flush_all(self) -> None:
        """Commit everything pending, or spill it when the database refuses. An explicit flush tries
        the database even during backoff: the caller is waiting to know where the rows are."""
        if not self._attempt():
            self._spill(len(self.pending))

    def replay_journal(self) -> bool:
        replayed = self.journal.replay(self._insert, self._config.batch_size)
        if replayed:
            self.counts["replayed"] += replayed
            log.info("replayed %d spilled records from %s", replayed, self.journal.path)
        return replayed is not None

    def _attempt(self) -> bool:
        """Write every pending record, then replay the journal if it holds anything. False on outage."""
        while self.pending:
            batch = self.pending[: self._config.batch_size]
            if not self._insert(batch):
                return False
            del self.pending[: len(batch)]
        return self.replay_journal()

    def _cap_memory(self) -> None:
        excess = len(self.pending) - self._config.queue_max
        if excess > 0:
            # Spill a whole batch beyond the cap so the fsync cost is paid per batch, not per record.
            self._spill(min(len(self.pending), excess + self._config.batch_size))

    def _spill(self, count: int) -> None:
        if count <= 0:
            return
        records = self.pending[:count]
        self.journal.append(records)
        del self.pending[:count]
        self.counts["spilled"] += len(records)

    def _insert(self, records: list[Record]) -> bool:
        """One transaction of batched INSERT ... ON CONFLICT DO NOTHING. False (batch kept) on outage."""
        started = time.perf_counter()
        try:
            with self._session_factory() as session, session.begin():
                written = insert_records(session, records)
        except Exception as exc:
            if is_outage(exc):
                self._mark_down(exc)
                return False
            self.note_error(exc)
            self._insert_one_by_one(records)
            return True
        self.last_batch_ms = (time.perf_counter() - started) * 1000.0
        self._count_written(written)
        self.counts["batches"] += 1
        self._mark_up()
        return True

    def _insert_one_by_one(self, records: list[Record]) -> None:
        # A bad record must not hold the good ones hostage: isolate it and keep it on disk.
        for i, record in enumerate(records):
            try:
                with self._session_factory() as session, session.begin():
                    self._count_written(insert_records(session, [record]))
            except Exception as exc:
                if is_outage(exc):  # the database left mid-way: the rest waits in the journal
                    self._mark_down(exc)
                    self.journal.append(records[i:])
                    self.counts["spilled"] += len(records) - i
                    return
                self.note_error(exc)
                self.counts["rejected"] += 1
                self.rejected.append([record])

    def _count_written(self, written: dict[str, int]) -> None:
        for table, n in written.items():
            self.counts[WRITTEN[table]] += n

    def write_live_state(self, symbol: str, payload: Any, ts: float) -> None:
        """Upsert the symbol's live_chain_state row. Best effort: the next upsert supersedes it, so
        one that meets a down database is dropped and counted, never retried."""
        if not self.db_up:
            self.counts["dropped_live_state"] += 1
            return
        values = {"symbol": symbol, "updated_at": to_datetime(ts), "snapshot": dict(payload)}
        try:
            with self._session_factory() as session, session.begin():
                upsert(session, LiveChainState.__table__, values, ["symbol"])
            self.counts["live_state_written"] += 1
        except Exception as exc:
            self.counts["dropped_live_state"] += 1
            if is_outage(exc):
                self._mark_down(exc)
            else:
                self.note_error(exc)

    def _mark_down(self, exc: BaseException) -> None:
        self.note_error(exc)
        self.counts["retries"] += 1
        if self.db_up:
            log.warning("database unavailable, keeping records and retrying: %s", self.last_error)
            self.down_since = time.time()
        self.db_up = False
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2.0, self._config.retry_max_s)

    def _mark_up(self) -> None:
        if not self.db_up:
            log.info("database reachable again")
            # The outage's error is history now: a page must not keep showing it as current.
            self.last_error, self.last_error_at, self.down_since = "", None, None
        self.db_up = True
        self._retry_delay = self._config.retry_initial_s

    def note_error(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        self.last_error_at = time.time()
