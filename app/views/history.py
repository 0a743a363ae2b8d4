"""Signal history for analysts: filters (the current run by default), paginated table, CSV export,
counts per day and engine. Times are IST everywhere (the CSV too, ISO 8601 with +05:30)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from app.components import date_range, engine_label, from_database, run_picker
from app.runtime import get_runtime
from core.clock import IST, ist_day_bounds
from core.engines.pipeline import ENGINE_NAMES
from core.learning.performance import latest_signal_time
from core.storage.filters import MAX_LIST_ITEMS, SignalFilter, parse_names
from core.storage.queries import iter_signals_csv, latest_signal_id, query_signals, signals_per_day

runtime = get_runtime()
PAGE_SIZE = 50
MAX_FILTER_CHARS = 2000  # 200 names of up to 64 characters would not fit; nobody types more
# The table a trader reads; ids, run and raw metadata sit in the details view below it.
TABLE_COLUMNS = {
    "time": st.column_config.TextColumn("Time (IST)"),
    "symbol": st.column_config.TextColumn("Symbol"),
    "expiry": st.column_config.DateColumn("Expiry", format="YYYY-MM-DD"),
    "engine": st.column_config.TextColumn("Engine"),
    "signal": st.column_config.TextColumn("Signal"),
    "direction": st.column_config.TextColumn("Direction"),
    "confidence": st.column_config.NumberColumn("Confidence", format="%.2f"),
    "raw_score": st.column_config.NumberColumn("Score", format="%.2f"),
    "strength": st.column_config.NumberColumn("Strength", format="%.2f"),
    "spot_price": st.column_config.NumberColumn("Spot", format="₹%.2f"),
    "outcome": st.column_config.TextColumn("Outcome"),
    "move_pct": st.column_config.NumberColumn("Move", format="%.2f %%"),
    "mfe_pct": st.column_config.NumberColumn("Best (MFE)", format="%.2f %%"),
    "mae_pct": st.column_config.NumberColumn("Worst (MAE)", format="%.2f %%"),
}

st.title("Signal history")


@st.cache_data(ttl=5, show_spinner=False)
def _as_of() -> int:
    """The newest stored signal id: the page's count, table and CSV all stop at it."""
    return latest_signal_id()


@st.cache_data(ttl=60, max_entries=32, show_spinner=False)
def _page(flt: SignalFilter, page: int) -> tuple[list[dict], int]:
    return query_signals(flt, page=page, page_size=PAGE_SIZE)


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def _per_day(flt: SignalFilter) -> list[dict]:
    return signals_per_day(flt)


@st.cache_data(ttl=60, max_entries=4, show_spinner="Preparing CSV...")
def _csv(flt: SignalFilter) -> str:
    """Cached per filter, and the filter carries `max_id`: the CSV is the set the page counted."""
    return "".join(iter_signals_csv(flt))


@st.cache_data(ttl=15, show_spinner=False)
def _default_end_day() -> date:
    """Today, or the newest signal's day if later (a simulator trades the next session)."""
    latest = latest_signal_time()
    today = datetime.now(IST).date()
    return max(today, latest.astimezone(IST).date()) if latest is not None else today


def signal_names(text: str) -> tuple[str, ...]:
    """The typed signal list, or an error stating the rule (never the whole input back)."""
    try:
        return parse_names("signals", text)
    except ValueError as exc:
        st.error(f"Invalid filter: {exc}. Type up to {MAX_LIST_ITEMS} signal names separated by commas.")
        st.stop()
    raise AssertionError("unreachable")


def table_frame(rows: list[dict]) -> pd.DataFrame:
    """The rows as a trader reads them: IST times, short engine names, internals left out."""
    frame = pd.DataFrame(rows)
    stamps = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_convert(IST)
    frame["time"] = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
    frame["engine"] = frame["engine"].map(engine_label)
    return frame[[c for c in TABLE_COLUMNS if c in frame.columns]]


def details(rows: list[dict]) -> None:
    """Ids, run, reasons and features of one signal on this page, chosen by its uid (a new signal
    arriving above it never changes which one is shown)."""
    by_uid = {r["signal_uid"]: r for r in rows}

    def label(uid: str) -> str:
        r = by_uid[uid]
        when = pd.Timestamp(r["timestamp"]).tz_convert(IST).strftime("%H:%M:%S")
        return f"{when} IST · {r['symbol']} · {engine_label(r['engine'])} · {r['signal']} · {uid[:8]}"

    with st.expander("Details of a signal (ids, run, reasons, features)"):
        uid = st.selectbox("Signal", list(by_uid), format_func=label, key="h_detail")
        r = by_uid[uid]
        meta = r.get("metadata") or {}
        st.json(
            {
                "id": r["id"],
                "signal_uid": uid,
                "run_id": r.get("run_id"),
                "source": r.get("source"),
                "reasons": meta.get("reasons") or [],
                "features": meta.get("features") or {},
                **{k: v for k, v in meta.items() if k not in ("reasons", "features")},
            },
            expanded=True,
        )


today = from_database(runtime, _default_end_day)  # before the form: an outage ends the run here
with st.sidebar.form("history_filters"):
    run_id, exclude_backtests = run_picker(runtime, "h_run")
    days = st.date_input("Date range (IST)", (today - timedelta(days=7), today), key="h_dates")
    symbols = st.multiselect("Symbols", runtime.symbols, key="h_symbols")
    engines = st.multiselect("Engines", ENGINE_NAMES, key="h_engines", format_func=engine_label)
    signals_text = st.text_input(
        "Signals (comma list, e.g. SWEEP_UP,BULLISH)", key="h_signals", max_chars=MAX_FILTER_CHARS
    )
    direction = st.selectbox("Direction", ["any", "UP", "DOWN", "NONE"], key="h_direction")
    conf_low, conf_high = st.slider("Confidence (min, max)", 0.0, 1.0, (0.0, 1.0), 0.05, key="h_conf")
    outcome = st.selectbox("Outcome", ["any", "CORRECT", "WRONG", "NEUTRAL", "PENDING"], key="h_outcome")
    horizon = st.selectbox(
        "Outcome horizon", [300, 900, 1800], index=1, key="h_horizon", format_func=lambda s: f"{s // 60} min"
    )
    st.form_submit_button("Apply filters")

start_day, end_day = date_range(days)
start, end = ist_day_bounds(start_day, end_day)
flt = SignalFilter(
    start=start,
    end=end,
    symbols=tuple(symbols),
    engines=tuple(engines),
    signals=signal_names(signals_text),
    direction=None if direction == "any" else direction,
    min_confidence=conf_low or None,
    max_confidence=None if conf_high >= 1.0 else conf_high,
    outcome=None if outcome == "any" else outcome,
    horizon_s=horizon,
    run_id=run_id,
    exclude_backtests=exclude_backtests,
    max_id=from_database(runtime, _as_of),
)
try:
    flt.validate()
except ValueError as exc:
    st.error(f"Invalid filter: {exc}")
    st.stop()

rows_first, total = from_database(runtime, _page, flt, 1)
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
        f"Download CSV ({total:,} rows, times in IST)",
        data=from_database(runtime, _csv, flt),
        file_name=f"strikeiq_signals_{start_day}_{end_day}.csv",
        mime="text/csv",
        on_click="ignore",
    )
rows, _ = from_database(runtime, _page, flt, int(page)) if page != 1 else (rows_first, total)
st.dataframe(
    table_frame(rows), hide_index=True, key="history_table", column_config=TABLE_COLUMNS, width="stretch"
)
details(rows)

counts = pd.DataFrame(from_database(runtime, _per_day, flt))
if not counts.empty:
    counts["engine"] = counts["engine"].map(engine_label)
    fig = px.bar(
        counts,
        x="day",
        y="count",
        color="engine",
        template="plotly_dark",
        title="Signals per day (IST) and engine",
    )
    st.plotly_chart(fig, key="per_day_chart")
