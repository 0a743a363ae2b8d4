"""Intraday page: a symbol's day from the open (or a chosen start) on one time axis, multi-strike
OI, and IV rank / percentile from stored days. Any stored day; today's ends with the live tail."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import NoReturn

import numpy as np
import streamlit as st

from app import intraday_panel as panel
from app.alerts_ui import alert_toasts, toast_new_alerts
from app.components import fmt_ist, reading_database
from app.intraday_charts import OI_NOTE, day_figure, strike_oi_figure
from app.runtime import get_runtime
from core.clock import IST
from core.storage import intraday
from core.storage.intraday import Scope


def stop() -> NoReturn:
    """End the page early. It has no timed panel then, so it runs the standalone toast check here
    (app/main.py leaves this page's toasts to it; today's chart toasts from its own 5 s panel)."""
    alert_toasts()
    st.stop()


runtime = get_runtime()
st.title("Intraday")
symbol = st.sidebar.selectbox("Symbol", runtime.symbols, key="intraday_symbol")
with reading_database(runtime, stop):  # an outage: the one unavailable state, never a traceback
    live = panel.live_metrics(runtime, symbol)
    days = set(panel.stored_days(symbol))
live_day = panel.event_day(live)
days = sorted(days | ({live_day} if live_day else set()))
if not days:
    st.info(f"No stored snapshots of {symbol} yet and no live data: start a feed or pick another symbol.")
    stop()
day = st.sidebar.date_input(
    "Day", value=days[-1], min_value=days[0], max_value=days[-1], key=f"intraday_day_{symbol}",
    help="IST trading day; any day with stored snapshots",
)  # fmt: skip
start_at = st.sidebar.time_input("From (IST)", value=time(9, 15), key="intraday_start", step=300)
if day not in days:
    st.info(f"No snapshots of {symbol} stored on {day}. Stored days: " + ", ".join(map(str, days[-10:])))
    stop()


def pick_scope(day: date) -> Scope:
    """The run scope: the default rule of intraday_panel.default_scope, or one run of that day."""
    scope, note = panel.default_scope(runtime, symbol, day)
    runs = panel.day_runs(symbol, day)
    labels = {"default": "Default: " + (note or "every run but backtests (survives restarts)")}
    for r in runs:
        if r.run_id:
            span = f"{fmt_ist(r.first.timestamp())}–{fmt_ist(r.last.timestamp())}"
            labels[r.run_id] = f"{r.source or 'unknown'} · {span} · {r.rows:,} rows · {r.run_id[:8]}"
    choice = st.sidebar.selectbox("Run", list(labels), format_func=labels.get, key=f"intraday_run_{day}")
    return scope if choice == "default" else Scope(choice, False)


with reading_database(runtime, stop):
    scope = pick_scope(day)
    expiries = panel.day_expiries(symbol, day, scope.run_id, scope.exclude_backtests)
if live is not None and day == live_day and live.expiry not in expiries and live.expiry is not None:
    expiries = [*expiries, live.expiry]
if not expiries:
    st.info(f"No snapshots of {symbol} on {day} in this run scope.")
    stop()
expiry = st.sidebar.selectbox("Expiry", expiries, index=len(expiries) - 1, key=f"intraday_expiry_{day}")
start = datetime.combine(day, start_at, IST)
is_live_day = day == live_day
if not is_live_day:
    alert_toasts()  # a past day's page has no timed panel
snapshot_s = runtime.config.analytics.chain_snapshot_interval_s


def strike_choice(series: intraday.Series) -> list[float]:
    """Strikes stored that day, ATM +- 2 by default (ATM of the newest point)."""
    strikes = panel.day_strikes(symbol, day, expiry, scope.run_id, scope.exclude_backtests)
    atm = series["atm_strike"][np.isfinite(series["atm_strike"])] if len(series) else np.array([])
    if not strikes:
        return []
    centre = float(atm[-1]) if len(atm) else strikes[len(strikes) // 2]
    i = int(np.argmin(np.abs(np.asarray(strikes) - centre)))
    default = strikes[max(i - 2, 0) : i + 3]
    return st.multiselect(
        "Strikes", strikes, default=default, key=f"intraday_strikes_{symbol}_{day}_{expiry}",
        format_func=lambda k: f"{k:,.0f}",
    )  # fmt: skip


@st.fragment(run_every=5.0 if is_live_day else None)
def day_panel() -> None:
    if is_live_day:
        toast_new_alerts()  # the page's one timed fragment (see alerts_ui.toast_new_alerts)
    with reading_database(runtime):  # toasts are seen to above, or were before a past day's panel
        day_charts()


def day_charts() -> None:
    tail = panel.live_metrics(runtime, symbol, expiry) if is_live_day else None
    series, straddle = panel.day_with_tail(symbol, day, expiry, start, scope, tail)
    panel.iv_cards(symbol, day, scope, series)
    if not len(series):
        st.info(f"No snapshots of {symbol} {expiry} on {day} after {start_at:%H:%M} IST.")
        return
    st.caption(
        f"{day} · expiry {expiry} · {len(series) - series.tail} stored snapshot(s) from "
        f"{fmt_ist(series.ts[0])} to {fmt_ist(series.ts[-1 - series.tail] if len(series) > series.tail else None)}"
        + (f" + {series.tail} live point(s) to {fmt_ist(series.ts[-1])}" if series.tail else "")
        + f" · OI panels: {OI_NOTE}"
    )
    if is_live_day:
        figure = day_figure(series, straddle)
    else:
        figure = panel.past_day_figure(symbol, day, expiry, start, scope.run_id, scope.exclude_backtests)
    st.plotly_chart(figure, key="intraday_day_chart")
    st.subheader("Multi-strike OI")
    strikes = strike_choice(series)
    by_key = panel.strike_oi(
        symbol, day, expiry, tuple(strikes), start, scope.run_id, scope.exclude_backtests
    )
    stored_ts = [s.ts for s in by_key.values()]
    observed = intraday.observed_interval_s(np.concatenate(stored_ts)) if stored_ts else None
    if is_live_day:
        by_key = intraday.strike_oi_with_tail(by_key, tail, day, strikes)
    st.caption(
        f"From chain snapshots, stored every {snapshot_s:g} s here (STRIKEIQ_CHAIN_SNAPSHOT_S)"
        + (f"; this day's rows are {observed:.0f} s apart" if observed else "")
        + f". {OI_NOTE}, so OI moves in steps between snapshots. ΔOI is against the previous close."
    )
    st.plotly_chart(strike_oi_figure(by_key, strikes), key="intraday_strike_oi_chart")


day_panel()
