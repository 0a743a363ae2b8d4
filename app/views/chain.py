"""Option chain for traders: calls | strike | puts centred on ATM with quotes, OI change and greeks,
futures basis and days to expiry, then the smile, OI, GEX and max-pain charts."""

from __future__ import annotations

import streamlit as st

from app import charts
from app.alerts_ui import toast_new_alerts
from app.chain_table import (
    OI_UNITS,
    OiBaseline,
    chain_frame,
    leg_quotes,
    styled,
    table_height,
    text_columns,
    window,
)
from app.components import feed_pill, fmt_ist, fmt_num, read_or, reading_database
from app.gex_panel import all_expiry_gex_panel
from app.runtime import get_runtime
from core.analytics.chain_view import days_to_expiry
from core.domain import LiveMetrics

runtime = get_runtime()
st.title("Option chain")
symbol = st.sidebar.selectbox("Symbol", runtime.symbols, key="chain_symbol")
width = st.sidebar.slider("Strikes each side of ATM", 5, 40, 10, key="chain_width")
unit = st.sidebar.radio("OI and volume in", OI_UNITS, key="chain_oi_unit", horizontal=True)
show_greeks = st.sidebar.toggle("Gamma, theta, vega beside delta", key="chain_greeks")
FORWARD_SOURCES = {
    "parity": "synthetic forward from put-call parity (no future subscribed)",
    "spot_carry": "spot carried at the rate to expiry (no two-sided quotes near ATM for parity)",
}


def header(m: LiveMetrics) -> None:
    """Spot, the synthetic future and its basis, days to expiry, PCR, max pain and ATM IV."""
    cols = st.columns(6)
    cols[0].metric("Spot", fmt_num(m.spot))
    basis = (m.forward - m.spot) if (m.forward and m.spot) else None
    cols[1].metric(
        "Future (synthetic)",
        fmt_num(m.forward),
        delta=None if basis is None else f"basis {basis:+,.2f} pts",
        delta_color="off",
        delta_arrow="off",
        help=FORWARD_SOURCES.get(m.forward_source, "no forward yet"),
    )
    dte = days_to_expiry(m.ts, m.expiry) if m.expiry else None
    cols[2].metric(
        "Days to expiry", "n/a" if dte is None else f"{dte:.1f}", help="to 15:30 IST on expiry day"
    )
    cols[3].metric("PCR (OI)", fmt_num(m.pcr_oi, 3))
    cols[4].metric("Max pain", fmt_num(m.max_pain, 0))
    cols[5].metric("ATM IV", "n/a" if m.atm_iv is None else f"{m.atm_iv * 100:.2f} %")


def _mark(m: LiveMetrics) -> None:
    """Button callback (runs before the widgets): keep this OI as the baseline and switch to it.
    The latest chain, or the one the page showed when it cannot be read (a replica whose database
    went away since: the panel then shows the outage)."""
    latest = read_or(lambda: runtime.view(symbol).metrics.get(m.expiry), None) or m
    st.session_state.setdefault("chain_oi_marks", {})[(symbol, m.expiry)] = OiBaseline.mark(latest)
    st.session_state["chain_doi_since"] = "marked time"


def oi_baseline(m: LiveMetrics) -> OiBaseline | None:
    """ΔOI since the previous close (the feed's prev OI), or since a moment the trader marks."""
    marks: dict = st.session_state.setdefault("chain_oi_marks", {})
    choice, mark = st.columns([3, 1])
    since = choice.radio(
        "ΔOI since", ("previous close", "marked time"), key="chain_doi_since", horizontal=True
    )
    mark.button(
        "Mark OI now", key="chain_mark_oi", help="ΔOI then counts from this moment", on_click=_mark, args=(m,)
    )
    if since == "previous close":
        return None
    baseline = marks.get((symbol, m.expiry))
    if baseline is None:
        st.caption(
            "No OI mark for this expiry yet: press Mark OI now. ΔOI shows the previous close till then."
        )
    return baseline


@st.fragment(run_every=2.0)
def chain_panel() -> None:
    toast_new_alerts()
    with reading_database(runtime):  # a replica reads its live data from the database
        view = runtime.view(symbol)
    feed_pill(view.feed_mode, view.feed_state, view.feed_reason)
    expiries = sorted(view.metrics)
    if not expiries:
        st.info(f"Waiting for the {symbol} option chain (feed {view.feed_state}).")
        return
    default = expiries.index(view.default_expiry) if view.default_expiry in expiries else 0
    expiry = st.selectbox("Expiry", expiries, index=default, key=f"chain_expiry_{symbol}")
    m = view.metrics[expiry]
    if not len(m.strikes):
        st.info("No option legs received yet for this expiry.")
        return
    header(m)
    baseline = oi_baseline(m)
    since = "previous close" if baseline is None else f"your mark at {fmt_ist(baseline.ts)}"
    quotes = leg_quotes(view.snapshot, expiry, m.strikes)
    st.caption(
        f"{fmt_ist(m.ts, with_date=True)} · ATM {fmt_num(m.atm_strike, 0)} (highlighted), in-the-money legs "
        f"shaded · OI, ΔOI and volume in {unit} (lot {m.lot_size}) · ΔOI since {since} · "
        f"IV source {m.iv_source or 'n/a'}"
        + ("" if view.snapshot is not None else " · bid/ask and LTP change need the in-process feed")
    )
    if m.buildup_counts:
        st.caption(" · ".join(f"{k.replace('_', ' ').lower()}: {v}" for k, v in m.buildup_counts.items()))
    frame = chain_frame(m, width, unit=unit, show_greeks=show_greeks, quotes=quotes, baseline=baseline)
    rows = len(range(len(m.strikes))[window(m, width)])
    right = {c: st.column_config.TextColumn(c, alignment="right") for c in text_columns(frame, unit)}
    st.dataframe(
        styled(frame, m, unit),
        hide_index=True,
        key="chain_table",
        height=table_height(rows),
        column_config=right,
    )
    left, right = st.columns(2)
    left.vega_lite_chart(spec=charts.iv_smile_chart(m), key="smile_chart")
    right.vega_lite_chart(spec=charts.oi_chart(m, unit), key="chain_oi_chart")
    left, right = st.columns(2)
    left.vega_lite_chart(spec=charts.gex_profile_chart(m), key="gex_profile_chart")
    right.vega_lite_chart(spec=charts.gex_by_strike_chart(m), key="chain_gex_chart")
    all_expiry_gex_panel(view.metrics, m)
    left, _ = st.columns(2)
    left.vega_lite_chart(spec=charts.max_pain_chart(m), key="max_pain_chart")


chain_panel()
