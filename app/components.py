"""Small rendering pieces shared by pages: number formats, status pills, metric cards, engine tiles,
the run picker."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

import streamlit as st

from core.clock import IST
from core.domain import NO_VIEW_SIGNALS
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


def fmt_ist(ts: float | None, with_date: bool = False) -> str:
    if not ts:
        return "n/a"
    fmt = "%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S"
    return datetime.fromtimestamp(ts, IST).strftime(fmt) + " IST"


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


def engine_tile(name: str, state: Any, now_ts: float) -> None:
    """One engine: current state, direction, score, top reasons, age of its last signal."""
    result = getattr(state, "result", None)
    last = getattr(state, "last_signal", None)
    with st.container(border=True):
        st.markdown(f"**{name.replace('Engine', '')}**")
        if result is None:
            st.caption("waiting for the first metrics cycle")
            return
        held = getattr(state, "held", None)
        colour = DIRECTION_COLOURS.get(result.direction, "#94a3b8")
        label = result.signal if result.active else "quiet"
        if held is not None or (result.active and result.signal in NO_VIEW_SIGNALS):
            # A state engine: its state is the debounced reading; a new reading shows as pending.
            label = held or "settling"
            pending = result.active and result.signal != held
            if pending:
                label += f" (reading {result.signal}, not yet held)"
            if pending or held is None or held in NO_VIEW_SIGNALS:
                colour = "#94a3b8"
        st.markdown(
            f'<span style="color:{colour};font-weight:600">{html.escape(label)}</span> '
            f'<span style="color:#94a3b8">{result.direction} · score {result.raw_score:.2f}</span>',
            unsafe_allow_html=True,
        )
        if result.reasons:
            st.caption(", ".join(result.reasons[:3]))
        if last is not None:
            age = max(0.0, now_ts - last.ts)
            src = "calibrated" if last.confidence_source == "calibrated" else "raw score"
            st.caption(f"last {last.signal} {age:,.0f}s ago · conf {last.confidence:.2f} ({src})")
        else:
            st.caption("no signal yet this session")


@st.cache_data(ttl=30, show_spinner=False)
def _recent_runs() -> list[RunInfo]:
    return recent_runs(20)


def run_label(run: RunInfo) -> str:
    started = run.started_at.astimezone(IST).strftime("%Y-%m-%d %H:%M IST")
    return f"{run.source or 'unknown source'} · {started} · {run.signals:,} signals · {run.run_id[:8]}"


def run_picker(runtime: Any, key: str) -> tuple[str | None, bool]:
    """The run selector: this runtime's run (the default), all runs, all but backtests, or one of
    the recent runs in the database. Returns (run_id, exclude_backtests) for the query filters.
    Without a run of its own (a database replica) the default is every run but backtests."""
    current = getattr(runtime, "run_id", None)
    labels = {ALL_RUNS: "All runs", NO_BACKTESTS: "All runs except backtests"}
    if current:
        labels = {current: f"This run ({getattr(runtime, 'source', None) or 'current'})", **labels}
    for run in _recent_runs():
        labels.setdefault(run.run_id, run_label(run))
    options = list(labels)
    choice = st.selectbox(
        "Run", options, index=0 if current else options.index(NO_BACKTESTS), key=key, format_func=labels.get
    )
    return scope_of_choice(choice)
