"""The append-only JSONL spill journal that holds signal rows while the database cannot take them."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from core.clock import to_datetime, to_epoch

log = logging.getLogger(__name__)


def encode_row(row: dict[str, Any]) -> str:
    """One journal line for an ai_signal_logs row: datetimes as epoch seconds, dates as ISO text."""
    out = dict(row)
    ts = out.get("timestamp")
    if isinstance(ts, datetime):
        out["timestamp"] = to_epoch(ts)
    expiry = out.get("expiry")
    if isinstance(expiry, date):
        out["expiry"] = expiry.isoformat()
    # Rows are sanitised before they get here; allow_nan=False makes any slip fail loudly at write.
    return json.dumps(out, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def decode_row(line: str) -> dict[str, Any]:
    row = json.loads(line)
    if not isinstance(row, dict) or "signal_uid" not in row:
        raise ValueError("not a signal row")
    # A journal written before runs existed: its rows are legacy rows. Every row of a batch must
    # have the same keys for the multi-row INSERT.
    row.setdefault("run_id", None)
    row.setdefault("source", None)
    if isinstance(row.get("timestamp"), int | float):
        row["timestamp"] = to_datetime(float(row["timestamp"]))
    if isinstance(row.get("expiry"), str):
        # A malformed expiry stays text: the database refuses that row and the logger keeps it aside.
        with contextlib.suppress(ValueError):
            row["expiry"] = date.fromisoformat(row["expiry"])
    return row


class SpillJournal:
    """A JSONL file of rows, appended with flush + fsync per call and replayed in batches.

    The logger's writer thread owns it; a signal logged after `stop()` is appended by its caller,
    hence the lock around writes. A torn last line from a hard kill is skipped and counted on replay.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.lines = self._count_lines()
        self.corrupt_lines = 0

    def _count_lines(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())

    @property
    def size_bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def append_lines(self, lines: list[str]) -> None:
        """Append `lines` durably: the data is on disk when this returns."""
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = "".join(line + "\n" for line in lines).encode("utf-8", "replace")
        with self._lock, self.path.open("ab") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
            self.lines += len(lines)

    def append(self, rows: list[dict[str, Any]]) -> None:
        self.append_lines([encode_row(row) for row in rows])

    def batches(self, size: int) -> Iterator[list[dict[str, Any]]]:
        """The journal's rows in batches of at most `size`, streaming (the file may be large)."""
        if not self.path.exists():
            return
        batch: list[dict[str, Any]] = []
        with self.path.open("r", encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    batch.append(decode_row(line))
                except ValueError:  # json.JSONDecodeError is a ValueError
                    self.corrupt_lines += 1
                    log.warning("spill journal %s line %d is not a signal row; skipped", self.path, number)
                    continue
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def replay(self, insert: Callable[[list[dict[str, Any]]], bool], batch_size: int) -> int | None:
        """Feed every row to `insert` in batches. When all succeed the journal is cleared and the row
        count returned; on the first failure it is kept whole (inserts are idempotent) and None returned."""
        if not self.lines:
            return 0
        done = 0
        for batch in self.batches(batch_size):
            if not insert(batch):
                return None
            done += len(batch)
        self.clear()
        return done

    def clear(self) -> None:
        """Empty the journal once every row in it is committed."""
        with self._lock:
            if self.path.exists():
                with self.path.open("wb") as fh:
                    os.fsync(fh.fileno())
            self.lines = 0
