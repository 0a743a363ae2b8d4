"""DbAlertFeed: the alerts a worker stored in `alert_events`, read by Streamlit replicas.

With STRIKEIQ_LIVE_SOURCE=db the dashboard has no runtime and so no AlertService: the worker that
runs the feed evaluates the rules (it alone sees every cycle and signal, and one process delivering
means one webhook POST and one Telegram message per alert, however many replicas serve pages).
Replicas read what it stored with the same reader interface the service offers in process.
"""

from __future__ import annotations

from typing import Any

from core.alerts.records import AlertRecord
from core.storage.alerts import events_after, last_event_id, recent_events
from core.storage.database import SessionLocal


class DbAlertFeed:
    """`cursor` / `newer_than` / `recent` over alert_events; the cursor is the row id."""

    def cursor(self) -> int:
        with SessionLocal() as session:
            return last_event_id(session)

    def newer_than(self, seq: int, limit: int = 20) -> list[AlertRecord]:
        with SessionLocal() as session:
            return events_after(session, seq, limit)

    def recent(self, limit: int = 100) -> list[AlertRecord]:
        with SessionLocal() as session:
            return recent_events(session, limit)

    def stats(self) -> dict[str, Any]:
        return {"live_source": "db: alerts are evaluated and delivered by the worker"}
