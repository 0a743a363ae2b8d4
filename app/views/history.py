"""Signal history for analysts: filters (the current run by default), paginated table, CSV export,
counts per day and engine."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from app.components import run_picker
from app.runtime import get_runtime
from core.clock import IST
from core.engines.pipeline import ENGINE_NAMES
from core.learning.performance import latest_signal_time
from core.storage.queries import SignalFilter, iter_signals_csv, query_signals, signals_per_day

runtime = get_runtime()
PAGE_SIZE = 50

st.title("Signal history")


@st.cache_data(ttl=5, show_spinner=False)
def _page(flt: SignalFilter, page: int) -> tuple[list[dict], int]:
    return query_signals(flt, page=page, page_size=PAGE_SIZE)


@st.cache_data(ttl=5, show_spinner=False)
def _per_day(flt: SignalFilter) -> list[dict]:
    return signals_per_day(flt)


@st.cache_data(ttl=30, show_spinner="Preparing CSV...")
def _csv(flt: SignalFilter) -> str:
    return "".join(iter_signals_csv(flt))


@st.cache_data(ttl=15, show_spinner=False)
def _default_end_day() -> date:
    """Today, or the newest signal's day if later (a simulator trades the next session)."""
    latest = latest_signal_time()
    today = datetime.now(IST).date()
    return max(today, latest.astimezone(IST).date()) if latest is not None else today


def _ist_bound(d: date, end: bool) -> datetime:
    return datetime.combine(d + timedelta(days=1) if end else d, time(0), IST).astimezone(UTC)


with st.sidebar.form("history_filters"):
    run_id, exclude_backtests = run_picker(runtime, "h_run")
    today = _default_end_day()
    days = st.date_input("Date range (IST)", (today - timedelta(days=7), today), key="h_dates")
    symbols = st.multiselect("Symbols", runtime.symbols, key="h_symbols")
    engines = st.multiselect("Engines", ENGINE_NAMES, key="h_engines")
    signals_text = st.text_input("Signals (comma list, e.g. SWEEP_UP,BULLISH)", key="h_signals")
    direction = st.selectbox("Direction", ["any", "UP", "DOWN", "NONE"], key="h_direction")
    min_conf = st.slider("Min confidence", 0.0, 1.0, 0.0, 0.05, key="h_minconf")
    outcome = st.selectbox("Outcome", ["any", "CORRECT", "WRONG", "NEUTRAL", "PENDING"], key="h_outcome")
    horizon = st.selectbox(
        "Outcome horizon", [300, 900, 1800], index=1, key="h_horizon", format_func=lambda s: f"{s // 60} min"
    )
    st.form_submit_button("Apply filters")

start_day, end_day = days if isinstance(days, tuple) and len(days) == 2 else (today, today)
flt = SignalFilter(
    start=_ist_bound(start_day, end=False),
    end=_ist_bound(end_day, end=True),
    symbols=tuple(symbols),
    engines=tuple(engines),
    signals=tuple(s.strip().upper() for s in signals_text.split(",") if s.strip()),
    direction=None if direction == "any" else direction,
    min_confidence=min_conf or None,
    outcome=None if outcome == "any" else outcome,
    horizon_s=horizon,
    run_id=run_id,
    exclude_backtests=exclude_backtests,
)
try:
    flt.validate()
except ValueError as exc:
    st.error(f"Invalid filter: {exc}")
    st.stop()

rows_first, total = _page(flt, 1)
if total == 0:
    hint = " Pick *All runs* under Run to see earlier runs." if run_id else ""
    st.info(
        "No stored signals match these filters. On a new database signals appear as the engines fire." + hint
    )
    st.stop()

pages = max(1, -(-total // PAGE_SIZE))
top = st.columns([1, 1, 2])
page = top[0].number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, key="h_page")
top[1].metric("Matching signals", f"{total:,}")
with top[2]:
    st.download_button(
        "Download CSV (all matching rows)",
        data=_csv(flt),
        file_name=f"strikeiq_signals_{start_day}_{end_day}.csv",
        mime="text/csv",
    )
rows, _ = _page(flt, int(page)) if page != 1 else (rows_first, total)
frame = pd.DataFrame(rows)
st.dataframe(frame, hide_index=True, key="history_table")

counts = pd.DataFrame(_per_day(flt))
if not counts.empty:
    fig = px.bar(
        counts, x="day", y="count", color="engine", template="plotly_dark", title="Signals per day and engine"
    )
    st.plotly_chart(fig, key="per_day_chart")
