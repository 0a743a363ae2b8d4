"""Alerts in the app: where this process reads fired alerts, and the toast every page shows.

In process mode the runtime's AlertService holds the alerts it fired (in memory, at once); with
STRIKEIQ_LIVE_SOURCE=db there is no service here and the worker's `alert_events` rows are read
instead (core.alerts.db_feed). Either way a session keeps a cursor and toasts what is newer.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.runtime import get_runtime
from core.alerts.db_feed import DbAlertFeed
from core.alerts.records import AlertRecord
from core.live import LiveSource

DIRECTION_ICONS = {"UP": ":material/trending_up:", "DOWN": ":material/trending_down:"}
TOAST_MAX = 3  # a burst beyond this is summarised in one toast, not a wall of them


def alert_feed(runtime: LiveSource) -> Any:
    """The runtime's AlertService, or the database's alert log on a replica."""
    service = getattr(runtime, "alerts", None)
    return service if service is not None else db_alert_feed()


@st.cache_resource
def db_alert_feed() -> DbAlertFeed:
    """The stored alert log (`alert_events`): the Alerts page's log in every mode."""
    return DbAlertFeed()


def toast_text(record: AlertRecord) -> str:
    e = record.event
    return f"**{e.title}** · {e.message}"[:300]


def _new_alerts(feed: Any) -> list[AlertRecord]:
    """Alerts this session has not yet toasted; the first look only sets the cursor."""
    key = "_alert_toast_cursor"
    ident = id(feed)
    seen = st.session_state.get(key)
    if seen is None:
        st.session_state[key] = (ident, feed.cursor())
        return []
    source, cursor = seen
    if source != ident:  # a restarted runtime counts from zero again; a database keeps its ids
        cursor = 0 if not isinstance(feed, DbAlertFeed) else cursor
    records = feed.newer_than(cursor, limit=20)
    if records:
        cursor = max(r.seq for r in records)
    st.session_state[key] = (ident, cursor)
    return records


def toast_new_alerts() -> None:
    """Toast the alerts fired since this session last looked. Never breaks the page.

    One timed fragment per page calls this: the page's own timed panel where it has one (see
    SELF_TOASTING in app/main.py), else `alert_toasts`. Never a second timed fragment beside it:
    Streamlit 1.67's browser drops a toast now and then when another fragment's rerun lands at the
    same moment (a test page with two timed fragments lost 5 of 106 toasts; with one, 0 of 105),
    and by then this session's cursor has moved past the alert.
    """
    try:
        records = _new_alerts(alert_feed(get_runtime()))
    except Exception:  # the database may be down; the page says so elsewhere, the toast just waits
        return
    for record in records[-TOAST_MAX:]:
        icon = DIRECTION_ICONS.get(record.event.direction, ":material/notifications:")
        st.toast(toast_text(record), icon=icon, duration="long")  # 10 s: time to read a level
    if len(records) > TOAST_MAX:
        st.toast(
            f"{len(records) - TOAST_MAX} more alerts: see the Alerts page", icon=":material/notifications:"
        )


@st.fragment(run_every=2.0)
def alert_toasts() -> None:
    """The timed toast check for pages without a timed panel of their own."""
    toast_new_alerts()


def alerts_section(stats: dict[str, Any] | None) -> None:
    """The System page's view of the alert service: rules in force, deliveries, the last problem."""
    if not stats:
        return
    st.subheader("Alerts")
    cols = st.columns(6)
    for col, (label, key) in zip(cols, [("Rules", "rules"), ("Fired", "fired"), ("Sent", "sent"),
                                        ("Failed", "failed"), ("Dropped", "dropped"), ("Queued", "queued")],
                                 strict=True):  # fmt: skip
        col.metric(label, f"{stats.get(key, 0):,}")
    st.caption(
        f"webhook {stats.get('webhook') or 'not set'} · Telegram {stats.get('telegram')} · suppressed by "
        f"cooldown {stats.get('suppressed', 0):,} · stored {stats.get('stored', 0):,} · unsaved "
        f"{stats.get('unsaved', 0):,} · evaluation errors {stats.get('evaluation_errors', 0):,}"
    )
    if stats.get("last_error"):
        st.warning(f"Last alert problem: {str(stats['last_error'])[:300]}", icon=":material/error:")
