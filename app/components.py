"""Small rendering pieces shared by pages: number formats, status pills, metric cards,
the run picker, the database-unavailable state."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar

import numpy as np
import streamlit as st

from core.clock import IST
from core.live import LiveSource
from core.storage.database import is_outage
from core.storage.runs import ALL_RUNS, NO_BACKTESTS, RunInfo, recent_runs, scope_of_choice

PILL_COLOURS = {
    "LIVE": "#1f9d55",
    "SIMULATED": "#3b82f6",
    "REPLAY": "#a855f7",
    "STALE": "#d97706",
    "OFFLINE": "#dc2626",
}
DIRECTION_COLOURS = {"UP": "#22c55e", "DOWN": "#ef4444", "NONE": "#94a3b8"}


def fmt_num(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def fmt_pct(value: float | None, digits: int = 2) -> str:
    """A fraction (0.125) as a percentage (12.50 %)."""
    return "n/a" if value is None else f"{value * 100:.{digits}f} %"


def fmt_crore(value: float | None) -> str:
    """Rupees in crore (1 Cr = 1e7), the unit Indian desks quote GEX in: -₹13.7k Cr, ₹842 Cr.

    Short enough for a header card: thousands of crore get a k.
    """
    if value is None:
        return "n/a"
    crore = abs(value) / 1e7
    sign = "-" if value < 0 else ""
    if crore >= 1000:
        return f"{sign}₹{crore / 1000:,.1f}k Cr"
    return f"{sign}₹{crore:,.0f} Cr" if crore >= 100 else f"{sign}₹{crore:.1f} Cr"


def engine_label(name: str) -> str:
    """An engine's display name: LiquidityEngine -> Liquidity (the suffix says nothing to a trader)."""
    return name.removesuffix("Engine") or name


def fmt_rupees(value: float | None, digits: int = 2) -> str:
    """Rupees with the sign first, as Indian desks write them: ₹1,234.50, -₹12.00."""
    if value is None:
        return "n/a"
    return f"{'-' if value < 0 else ''}₹{abs(value):,.{digits}f}"


def fmt_ist(ts: float | None, with_date: bool = False) -> str:
    if not ts:
        return "n/a"
    fmt = "%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S"
    return datetime.fromtimestamp(ts, IST).strftime(fmt) + " IST"


IST_OFFSET_S = 19_800  # +05:30; India keeps no daylight saving time


def ist_wall_times(ts: Sequence[float] | np.ndarray) -> np.ndarray:
    """IST wall-clock times as naive datetime64, for chart axes: a chart then shows IST whatever the
    browser's zone, and a numpy array is encoded in one pass, where a list of aware datetimes costs
    seconds for a full session of 5-second snapshots."""
    return ((np.asarray(ts, dtype=float) + IST_OFFSET_S) * 1000.0).astype("int64").astype("datetime64[ms]")


def date_range(days: Any) -> tuple[date, date]:
    """Both ends of a date_input range, or a warning saying what is missing and the end of this page
    run: a range with only its start picked must not quietly become "today only"."""
    if isinstance(days, tuple | list) and len(days) == 2:
        return days[0], days[1]
    st.warning(
        "The date range needs a start and an end day: pick the end day in the calendar "
        "(for one day, click it twice), then apply the filters."
    )
    st.stop()
    raise AssertionError("unreachable")


def feed_pill_label(mode: str, state: str) -> str:
    """LIVE / SIMULATED / REPLAY while connected; STALE or OFFLINE otherwise."""
    if state == "stale":
        return "STALE"
    if state in ("disconnected", "stopped", "connecting"):
        return "OFFLINE"
    return mode


def feed_pill(mode: str, state: str, reason: str = "") -> None:
    label = feed_pill_label(mode, state)
    colour = PILL_COLOURS.get(label, "#64748b")
    title = html.escape(reason or state)
    st.markdown(
        f'<span class="siq-pill" title="{title}" style="background:{colour};color:white;'
        f'padding:2px 10px;border-radius:10px;font-weight:600;font-size:0.85rem">{label}</span>'
        f'<span style="color:#94a3b8;font-size:0.8rem;margin-left:8px">{html.escape(reason)}</span>',
        unsafe_allow_html=True,
    )


def unavailable_note(unavailable: dict[str, str], name: str) -> str | None:
    reason = unavailable.get(name)
    return f"unavailable: {reason}" if reason else None


@st.cache_data(ttl=30, show_spinner=False)
def _recent_runs() -> list[RunInfo]:
    return recent_runs(20)


def _runs_or_none() -> list[RunInfo]:
    """The recent runs, or none while the database is down (the picker still offers this run)."""
    return read_or(_recent_runs, [])


def run_label(run: RunInfo) -> str:
    started = run.started_at.astimezone(IST).strftime("%Y-%m-%d %H:%M IST")
    return f"{run.source or 'unknown source'} · {started} · {run.signals:,} signals · {run.run_id[:8]}"


def run_picker(runtime: LiveSource, key: str) -> tuple[str | None, bool]:
    """The run selector: this runtime's run (the default), all runs, all but backtests, or one of
    the recent runs in the database. Returns (run_id, exclude_backtests) for the query filters.
    Without a run of its own (a database replica) the default is every run but backtests."""
    current = runtime.run_id
    labels = {ALL_RUNS: "All runs", NO_BACKTESTS: "All runs except backtests"}
    if current:
        labels = {current: f"This run ({runtime.source or 'current'})", **labels}
    for run in _runs_or_none():
        labels.setdefault(run.run_id, run_label(run))
    options = list(labels)
    # After a demo restart the widget still holds the stopped run: one that showed "This run" moves
    # on to the new run, one that picked another run on purpose keeps it.
    followed = st.session_state.get(f"{key}_current")
    st.session_state[f"{key}_current"] = current
    if current and followed and followed != current and st.session_state.get(key) == followed:
        st.session_state[key] = current
    choice = st.selectbox(
        "Run", options, index=0 if current else options.index(NO_BACKTESTS), key=key, format_func=labels.get
    )
    return scope_of_choice(choice)


# When a page first failed to read the database (wall epoch), for the "unavailable since" state;
# the logger's own record wins when it noticed earlier. Process-wide: every tab sees one outage.
_outage: dict[str, float] = {}
_outage_lock = threading.Lock()
T = TypeVar("T")


def note_outage() -> None:
    with _outage_lock:
        _outage.setdefault("since", time.time())


def read_or(read: Callable[[], T], fallback: T) -> T:
    """`read()`, or `fallback` while the database is unavailable (noted as the pages' outage)."""
    try:
        return read()
    except Exception as exc:
        if not is_outage(exc):
            raise
        note_outage()
        return fallback


def outage_since(runtime: LiveSource) -> float | None:
    """Since when the database is unavailable (wall epoch), or None while it answers."""
    logger = getattr(runtime, "logger", None)
    logged = logger.stats().get("down_since") if logger is not None else None
    seen = _outage.get("since")
    known = [t for t in (logged, seen) if t]
    return min(known) if known else None


def database_unavailable(runtime: LiveSource, exc: BaseException | None = None) -> None:
    """The one outage state the pages show instead of a driver traceback."""
    since = outage_since(runtime) or time.time()
    if runtime.config.live_source == "db":  # a replica's live data is in the database too
        after = "this replica's live data resumes when it is back."
    else:
        after = "live data continues."
        if getattr(runtime, "logger", None) is not None:
            after += " New signals are kept and written when it is back."
    st.warning(
        f"Database unavailable since {datetime.fromtimestamp(since, IST):%H:%M} IST — retrying; {after}",
        icon=":material/cloud_off:",
    )
    if exc is not None:
        st.caption(f"Last error: {short_error(exc)}")


def short_error(exc: BaseException) -> str:
    """An exception's class and first line, at most 200 characters (never a traceback or SQL)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


@contextmanager
def reading_database(runtime: LiveSource, stop: Callable[[], object] = st.stop) -> Iterator[None]:
    """The block's database reads, or the database-unavailable state and `stop()` on an outage:
    `st.stop` ends the page run; a `stop` that returns skips the rest of the block and the page
    goes on. A block that completes ends the page-observed outage."""
    try:
        yield
    except Exception as exc:
        if not is_outage(exc):
            raise
        note_outage()
        database_unavailable(runtime, exc)
        stop()
        return
    with _outage_lock:
        _outage.pop("since", None)


def from_database(runtime: LiveSource, read: Callable[..., T], *args: Any) -> T:
    """`read(*args)` inside `reading_database`."""
    with reading_database(runtime):
        return read(*args)
