"""The append-only JSONL spill journal that holds durable records while the database cannot take them.

A signal is one line holding its ai_signal_logs row (the format since the first version); any other
record is an envelope {"table", "row", "children"}. Timestamps are epoch seconds and dates ISO
text; on replay the table's column types turn them back.
"""

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

import sqlalchemy as sa

from core.clock import to_datetime, to_epoch
from core.storage.durable import CHAIN, SIGNALS, TABLES, Record
from core.storage.types import UTCDateTime

log = logging.getLogger(__name__)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: to_epoch(v) if isinstance(v, datetime) else v.isoformat() if isinstance(v, date) else v
        for k, v in row.items()
    }


def _typed(row: dict[str, Any], table: sa.Table) -> dict[str, Any]:
    """Epochs and ISO dates back to datetimes and dates, by the table's column types."""
    for column in table.columns:
        value = row.get(column.name)
        if isinstance(column.type, UTCDateTime) and isinstance(value, int | float):
            row[column.name] = to_datetime(float(value))
        elif isinstance(column.type, sa.Date) and isinstance(value, str):
            # A malformed date stays text: the database refuses that row and the logger keeps it aside.
            with contextlib.suppress(ValueError):
                row[column.name] = date.fromisoformat(value)
    return row


def _dumps(obj: Any) -> str:
    # Rows are sanitised before they get here; allow_nan=False makes any slip fail loudly at write.
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def encode_row(row: dict[str, Any]) -> str:
    """One journal line for an ai_signal_logs row."""
    return _dumps(_plain(row))


def encode_record(record: Record) -> str:
    if record.table == SIGNALS:
        return encode_row(record.row)
    children = [_plain(child) for child in record.children]
    return _dumps({"table": record.table, "row": _plain(record.row), "children": children})


def decode_row(line: str) -> dict[str, Any]:
    """An ai_signal_logs row from its journal line."""
    record = decode_record(line)
    if record.table != SIGNALS:
        raise ValueError("not a signal row")
    return record.row


def decode_record(line: str) -> Record:
    obj = json.loads(line)
    if isinstance(obj, dict) and obj.get("table") in TABLES and isinstance(obj.get("row"), dict):
        table = TABLES[obj["table"]][0]
        children = [_typed(dict(child), CHAIN) for child in obj.get("children") or ()]
        return Record(obj["table"], _typed(dict(obj["row"]), table), children)
    if not isinstance(obj, dict) or "signal_uid" not in obj:
        raise ValueError("not a journal record")
    # A journal written before runs existed: its rows are legacy rows. Every row of a batch must
    # have the same keys for the multi-row INSERT.
    obj.setdefault("run_id", None)
    obj.setdefault("source", None)
    return Record(SIGNALS, _typed(obj, TABLES[SIGNALS][0]))


class SpillJournal:
    """A JSONL file of records, appended with flush + fsync per call and replayed in batches.

    The logger's writer thread replays it; callers append to it too (a full queue, or a record
    logged after `stop()`), hence the lock, and a replay removes only the bytes it replayed.
    A torn last line from a hard kill is skipped and counted on replay.
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
        with self._lock, self.path.open("ab+") as fh:
            if fh.tell() > 0:  # a hard kill may have left a torn last line: never glue onto it
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    payload = b"\n" + payload
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
            self.lines += len(lines)

    def append(self, records: list[Record]) -> None:
        self.append_lines([encode_record(record) for record in records])

    def batches(self, size: int, end: int | None = None) -> Iterator[list[Record]]:
        """The journal's records (the lines within its first `end` bytes) in batches of at most
        `size`, streaming (the file may be large)."""
        if not self.path.exists():
            return
        batch: list[Record] = []
        pos = 0
        with self.path.open("rb") as fh:
            for number, raw in enumerate(fh, 1):
                pos += len(raw)
                if end is not None and pos > end:
                    break  # appended after the replay began: the next replay takes it
                if raw.strip():
                    try:
                        batch.append(decode_record(raw.decode("utf-8", "replace")))
                    except ValueError:  # json.JSONDecodeError is a ValueError
                        self.corrupt_lines += 1
                        log.warning("spill journal %s line %d is not a record; skipped", self.path, number)
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def replay(self, insert: Callable[[list[Record]], bool], batch_size: int) -> int | None:
        """Feed every record to `insert` in batches. When all succeed the replayed part is removed and
        the record count returned; on the first failure the journal is kept whole (inserts are
        idempotent) and None returned. Lines appended meanwhile stay for the next replay."""
        if not self.lines:
            return 0
        end = self.size_bytes
        done = 0
        for batch in self.batches(batch_size, end):
            if not insert(batch):
                return None
            done += len(batch)
        self._drop_prefix(end)
        return done

    def _drop_prefix(self, end: int) -> None:
        with self._lock:
            if self.size_bytes <= end:
                self._truncate()
                return
            # Someone appended while the prefix was replayed: keep their lines, atomically.
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            with self.path.open("rb") as src, tmp.open("wb") as dst:
                src.seek(end)
                dst.write(src.read())
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, self.path)
            self.lines = self._count_lines()

    def clear(self) -> None:
        """Empty the journal (every record in it is committed)."""
        with self._lock:
            self._truncate()

    def _truncate(self) -> None:
        if self.path.exists():
            with self.path.open("wb") as fh:
                os.fsync(fh.fileno())
        self.lines = 0
