"""The stored day as the pages read it: cached database reads plus the live tail, the compact day
chart for the Live page, and the IV rank / percentile cards. The Intraday page builds on these.

Reads are cached for a few seconds (st.cache_data, keyed on primitives) so a page refreshing every
second costs one query per symbol and day every few seconds; the tail from the live source is
merged on every rerun, so the newest point is never older than the live panel itself.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app.components import fmt_pct, reading_database
from app.intraday_charts import day_figure
from app.intraday_compact import compact_day_chart
from core.analytics.iv_history import IvStanding, iv_standing
from core.domain import LiveMetrics
from core.live import LiveSource
from core.storage import intraday
from core.storage.intraday import Scope, Series

CACHE_S = 5


@st.cache_data(ttl=CACHE_S, show_spinner=False)
def stored_day(
    symbol: str, day: date, expiry: date | None, start: datetime | None, run_id: str | None, no_bt: bool
) -> tuple[Series, list]:
    """(headline series, straddle snapshots) of one stored day."""
    scope = Scope(run_id, no_bt)
    series = intraday.day_series(symbol, day, expiry, start, scope)
    return series, intraday.straddle_snapshots(symbol, day, expiry, start, scope)


@st.cache_resource(ttl=300, max_entries=8, show_spinner=False)
def past_day_figure(
    symbol: str, day: date, expiry: date | None, start: datetime | None, run_id: str | None, no_bt: bool
) -> go.Figure:
    """The day chart of a past day, built once: its rows no longer change, and building a full
    session's figure is most of a rerun. A resource (not data) cache: a pickled Plotly figure is
    validated again on load, which would cost as much as building it."""
    series, snaps = stored_day(symbol, day, expiry, start, run_id, no_bt)
    return day_figure(series, intraday.straddle_vwap(snaps))


@st.cache_data(ttl=CACHE_S, show_spinner=False)
def strike_oi(
    symbol: str,
    day: date,
    expiry: date | None,
    strikes: tuple[float, ...],
    start: datetime | None,
    run_id: str | None,
    no_bt: bool,
) -> dict[tuple[float, str], Series]:
    return intraday.strike_oi(symbol, day, expiry, strikes, start, Scope(run_id, no_bt))


@st.cache_data(ttl=CACHE_S, show_spinner=False)
def day_strikes(symbol: str, day: date, expiry: date | None, run_id: str | None, no_bt: bool) -> list[float]:
    return intraday.day_strikes(symbol, day, expiry, Scope(run_id, no_bt))


@st.cache_data(ttl=30, show_spinner=False)
def stored_days(symbol: str) -> list[date]:
    return intraday.stored_days(symbol)


@st.cache_data(ttl=CACHE_S, show_spinner=False)
def day_runs(symbol: str, day: date) -> list[intraday.DayRun]:
    return intraday.day_runs(symbol, day)


@st.cache_data(ttl=CACHE_S, show_spinner=False)
def day_expiries(symbol: str, day: date, run_id: str | None, no_bt: bool) -> list[date]:
    return intraday.day_expiries(symbol, day, Scope(run_id, no_bt))


@st.cache_data(ttl=60, show_spinner=False)
def daily_iv(symbol: str, day: date, run_id: str | None, no_bt: bool) -> list[tuple[date, float]]:
    return intraday.daily_atm_iv(symbol, day, scope=Scope(run_id, no_bt))


def default_scope(runtime: LiveSource, symbol: str, day: date) -> tuple[Scope, str]:
    """Every run but backtests, so the day survives restarts; but when two of that day's runs
    overlap in event time (a simulator restarted onto the same day), their rows would interleave:
    then this process's run if it stored that day, else the newest run. The note says which."""
    runs = [r for r in day_runs(symbol, day) if not (r.source or "").startswith("backtest:")]
    if not intraday.runs_overlap(runs):
        return Scope(None, True), ""
    mine = runtime.run_id
    chosen = next((r for r in runs if r.run_id == mine and mine), runs[-1])
    if chosen.run_id is None:  # legacy rows belong to no run: show them with everything else
        return Scope(None, True), f"{len(runs)} runs overlap on {day}: rows of different runs interleave"
    note = (
        f"{len(runs)} runs overlap on {day}: showing run {chosen.run_id[:8]} ({chosen.source or 'unknown'})"
    )
    return Scope(chosen.run_id, False), note


def event_day(metrics: LiveMetrics | None) -> date | None:
    return None if metrics is None else intraday.ist_day(metrics.ts)


def day_with_tail(
    symbol: str,
    day: date,
    expiry: date | None,
    start: datetime | None,
    scope: Scope,
    live: LiveMetrics | None,
) -> tuple[Series, Series]:
    """(headline series, straddle with VWAP), stored rows plus the live metrics when they are of
    this day and expiry and no older than `start`."""
    series, snaps = stored_day(symbol, day, expiry, start, scope.run_id, scope.exclude_backtests)
    if live is not None and (live.expiry != expiry or (start is not None and live.ts < start.timestamp())):
        live = None
    series = intraday.with_tail(series, live, day)
    tail_snap = intraday.live_straddle_snapshot(live) if series.tail else None
    if tail_snap is not None and (not snaps or tail_snap[0] > snaps[-1][0]):
        return series, intraday.straddle_vwap([*snaps, tail_snap], tail=1)
    return series, intraday.straddle_vwap(snaps)


def live_metrics(runtime: LiveSource, symbol: str, expiry: date | None = None) -> LiveMetrics | None:
    """The live source's metrics for `expiry` (default: its default expiry); None before data."""
    view = runtime.view(symbol)
    key = expiry if expiry is not None else view.default_expiry
    return view.metrics.get(key) if key is not None else None


def current_iv(series: Series) -> float | None:
    """The newest ATM IV of the series (the live tail's when there is one)."""
    iv = series.values.get("atm_iv", np.array([]))
    finite = iv[np.isfinite(iv)]
    return float(finite[-1]) if len(finite) else None


def iv_cards(symbol: str, day: date, scope: Scope, series: Series) -> IvStanding:
    """IV rank and IV percentile of the day's latest ATM IV against the stored days before it."""
    standing = iv_standing(daily_iv(symbol, day, scope.run_id, scope.exclude_backtests), current_iv(series))
    cols = st.columns(3)
    span = f"{standing.first_day} to {standing.last_day}" if standing.days else "no stored day"
    cols[0].metric("ATM IV", fmt_pct(standing.current))
    cols[1].metric(
        "IV rank",
        "n/a" if standing.rank is None else f"{standing.rank:.0f}",
        help="(IV - lowest daily close) / (highest - lowest) x 100 over stored days. " + standing.reason,
    )
    cols[2].metric(
        "IV percentile",
        "n/a" if standing.percentile is None else f"{standing.percentile:.0f}",
        help="share of stored days whose closing ATM IV was below today's. " + standing.reason,
    )
    st.caption(
        f"IV rank and percentile rest on {standing.days} stored day(s) of closing ATM IV ({span}), "
        "from market_snapshots, so they survive restarts"
        + (f" · {standing.reason}" if standing.reason else "")
    )
    return standing


COMPACT_EVERY_S = 5  # the compact chart's data changes at most this often (event seconds)


@st.cache_resource(ttl=60, max_entries=8, show_spinner=False)
def compact_spec(
    symbol: str,
    day: date,
    expiry: date | None,
    run_id: str | None,
    no_bt: bool,
    bucket: int,
    _live: LiveMetrics,
) -> tuple[dict, int, int]:
    """(Vega-Lite spec, stored points, live points) of today, rebuilt once per COMPACT_EVERY_S
    bucket of event time: the Live panel reruns every second, and reading the stored day back and
    shaping it costs tens of milliseconds, where the kept spec costs nothing."""
    series, straddle = day_with_tail(symbol, day, expiry, None, Scope(run_id, no_bt), _live)
    return compact_day_chart(series, straddle), len(series) - series.tail, series.tail


def compact_day_panel(runtime: LiveSource, symbol: str, metrics: LiveMetrics | None) -> None:
    """The Live page's view of today: spot with levels, PCR and the straddle since the open, from
    the stored snapshots plus the live tail (all runs but backtests, as after a restart)."""
    if metrics is None:
        return
    st.subheader("Today so far")
    with reading_database(runtime, stop=lambda: None):  # on an outage the rest of Live goes on
        day = event_day(metrics)
        scope, note = default_scope(runtime, symbol, day)
        bucket = int(metrics.ts // COMPACT_EVERY_S)
        spec, stored, _ = compact_spec(
            symbol, day, metrics.expiry, scope.run_id, scope.exclude_backtests, bucket, metrics
        )
        st.caption(
            f"{stored} stored snapshot(s) of {day} + the live tail · the Intraday page has "
            "ATM IV, net GEX, OI, multi-strike OI and any past day" + (f" · {note}" if note else "")
        )
        st.vega_lite_chart(spec=spec, key="live_intraday_chart")
