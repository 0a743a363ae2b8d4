"""AlertRecord (a fired alert with its deliveries' state) and AlertLog, the in-memory log readers poll.

The feed thread adds records; delivery threads update their channel's result; UI threads read
frozen copies. A reader keeps a cursor (`seq`) and asks for what is newer, which is how the toast
on every page learns about new alerts without a queue per browser session.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from core.alerts.delivery import DeliveryResult
from core.alerts.evaluate import AlertEvent

PENDING = DeliveryResult("pending")


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A fired alert as the log shows it. `seq` orders records of one source (memory or database)."""

    seq: int
    event: AlertEvent
    deliveries: Mapping[str, DeliveryResult] = field(default_factory=lambda: MappingProxyType({}))
    fired_at: float = 0.0  # wall time

    @property
    def status(self) -> str:
        """failed if any channel failed, pending while any is in flight, else sent (or in-app only)."""
        states = {d.status for d in self.deliveries.values()}
        if "failed" in states:
            return "failed"
        if "pending" in states:
            return "pending"
        if "sent" in states:
            return "sent"
        return "skipped" if states else "in-app"


class AlertLog:
    """The newest `capacity` records, by seq. Thread-safe; readers get frozen records."""

    def __init__(self, capacity: int = 500) -> None:
        self._capacity = capacity
        self._records: OrderedDict[str, AlertRecord] = OrderedDict()
        self._seq = 0
        self._lock = threading.Lock()

    def add(self, event: AlertEvent, fired_at: float) -> AlertRecord:
        deliveries = MappingProxyType(dict.fromkeys(event.channels, PENDING))
        with self._lock:
            self._seq += 1
            record = AlertRecord(self._seq, event, deliveries, fired_at)
            self._records[event.id] = record
            while len(self._records) > self._capacity:
                self._records.popitem(last=False)
        return record

    def update(self, event_id: str, channel: str, result: DeliveryResult) -> AlertRecord | None:
        """Set one channel's result; the new record, or None if it already left the log."""
        with self._lock:
            record = self._records.get(event_id)
            if record is None:
                return None
            deliveries = MappingProxyType({**record.deliveries, channel: result})
            record = replace(record, deliveries=deliveries)
            self._records[event_id] = record
            return record

    def cursor(self) -> int:
        with self._lock:
            return self._seq

    def newer_than(self, seq: int, limit: int = 20) -> list[AlertRecord]:
        """Records with seq > `seq`, oldest first (at most the newest `limit`)."""
        with self._lock:
            out = [r for r in self._records.values() if r.seq > seq]
        return out[-limit:]

    def recent(self, limit: int = 100) -> list[AlertRecord]:
        """Newest first."""
        with self._lock:
            out = list(self._records.values())[-limit:]
        return out[::-1]
