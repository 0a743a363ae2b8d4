"""Live page for traders: headline metrics, engine tiles, signal feed and charts, refreshed each second."""

from __future__ import annotations

import time
from datetime import datetime

import streamlit as st

from app import charts
from app.alerts_ui import toast_new_alerts
from app.broker_panel import session_banner
from app.components import (
    feed_pill,
    fmt_crore,
    fmt_ist,
    fmt_num,
    fmt_pct,
    fmt_rupees,
    reading_database,
)
from app.intraday_panel import compact_day_panel
from app.runtime import get_runtime
from app.signal_feed import signal_feed
from app.tiles import engine_tile
from core.analytics.chain_view import nearest_level, touch_probability
from core.clock import IST
from core.domain import LiveMetrics

runtime = get_runtime()

st.title("Live")
symbol = st.sidebar.selectbox("Symbol", runtime.symbols, key="live_symbol")


def _expiry_choice(view) -> object:
    """Inside the fragment, so the picker appears as soon as the first chain arrives."""
    expiries = sorted(view.metrics)
    if not expiries:
        return None
    default = expiries.index(view.default_expiry) if view.default_expiry in expiries else 0
    return st.selectbox("Expiry", expiries, index=default, key=f"live_expiry_{symbol}")


def touch_note(m: LiveMetrics) -> tuple[str | None, str]:
    """(card delta, help): the probability that spot touches the nearest of support, resistance and the
    gamma flip before expiry. It replaces "breach prob." = P(|move| > 1σ), ~32 % whatever the market."""
    levels = {"support": m.support, "resistance": m.resistance, "flip": m.gamma_flip}
    near = nearest_level(m.spot, levels)
    if near is None or not m.atm_iv or not m.time_to_expiry_years:
        return None, "Touch probability needs spot, ATM IV and a wall or the gamma flip."

    def p(level: float) -> float | None:
        return touch_probability(
            m.spot or 0.0, level, m.atm_iv or 0.0, m.time_to_expiry_years or 0.0, m.forward
        )

    each = [
        f"{name} {value:,.0f}: {p(value):.0%}"
        for name, value in levels.items()
        if value and p(value) is not None
    ]
    chance = p(near[1])
    delta = None if chance is None else f"{chance:.0%} touch {near[0]} {near[1]:,.0f}"
    return delta, (
        "Touch = P(spot reaches the level at any time before expiry; lognormal at ATM IV, drift of "
        "the forward): " + "; ".join(each) + "."
    )


def header_cards(m: LiveMetrics) -> None:
    touch = touch_note(m)
    change = (m.spot - m.prev_close) if (m.spot and m.prev_close) else None
    cols = st.columns(6)
    cols[0].metric(
        "Spot",
        fmt_num(m.spot),
        delta=None if change is None else f"{change:+,.2f} ({change / m.prev_close * 100:+.2f} %)",
    )
    cols[1].metric("PCR (OI)", fmt_num(m.pcr_oi, 3), help=m.unavailable.get("pcr_oi"))
    cols[2].metric("Max pain", fmt_num(m.max_pain, 0), help=m.unavailable.get("max_pain"))
    cols[3].metric(
        "Expected move (1σ, trading time)",
        fmt_num(m.expected_move, 1, " pts"),
        delta=touch[0],
        delta_color="off",
        delta_arrow="off",
        help="S · σ_ATM · √(trading time to expiry / 252 sessions of 375 min): nights, weekends and "
        "holidays count zero. The same definition scores range calls. "
        + touch[1]
        + " "
        + (m.unavailable.get("expected_move") or ""),
    )
    cols[4].metric("Net GEX", fmt_crore(m.net_gex), help=f"₹ per 1 % move, {m.gex_convention}")
    cols[5].metric(
        "Gamma flip",
        fmt_num(m.gamma_flip, 0),
        delta=None if m.distance_from_flip_pct is None else f"{m.distance_from_flip_pct:+.2f} % away",
        delta_color="off",
        help=m.unavailable.get("gamma_flip") or m.flip_state,
    )
    cols = st.columns(6)
    cols[0].metric("ATM IV", fmt_pct(m.atm_iv), help=f"source: {m.iv_source or 'n/a'}")
    cols[1].metric("Vol regime", m.volatility_regime or "n/a")
    cols[2].metric(
        "Structure",
        (m.regime or "n/a").replace("_", " "),
        help=f"confidence {m.regime_confidence:.0%}" if m.regime_confidence else m.unavailable.get("regime"),
    )
    cols[3].metric("Support", fmt_num(m.support, 0))
    cols[4].metric("Resistance", fmt_num(m.resistance, 0))
    cols[5].metric(
        "ATM straddle",
        fmt_rupees(m.atm_straddle),
        help=f"theta {fmt_rupees(m.atm_straddle_theta)} per calendar day, "
        f"vega {fmt_rupees(m.atm_straddle_vega)} per vol point (per unit of the index)",
    )


@st.fragment(run_every=1.0)
def live_panel() -> None:
    toast_new_alerts()
    with reading_database(runtime):  # a replica reads its live data from the database
        view = runtime.view(symbol)
    pill, picker = st.columns([3, 1])
    with pill:
        feed_pill(view.feed_mode, view.feed_state, view.feed_reason)
        session_banner(runtime.config, view.feed_reason)
    with picker:
        expiry = _expiry_choice(view)
    m = view.metrics.get(expiry) if expiry else None
    if m is None:
        st.info(
            f"Waiting for market data for {symbol} "
            f"(feed {view.feed_state}{': ' + view.feed_reason if view.feed_reason else ''})."
        )
        return
    st.caption(
        f"Event time {fmt_ist(m.ts, with_date=True)} · expiry {m.expiry} · ATM {fmt_num(m.atm_strike, 0)}"
    )
    header_cards(m)
    # Always the same elements in the same places: a block that comes and goes would shift every
    # element below it, and Streamlit remounts shifted charts (a blank frame on that refresh).
    with st.expander(f"{len(m.unavailable)} metric(s) unavailable right now"):
        if m.unavailable:
            st.table({"metric": list(m.unavailable), "reason": list(m.unavailable.values())})
        else:
            st.caption("Every metric is available.")
    with st.container():
        held_back_note()
    st.subheader("Engines")
    published_at = getattr(runtime.bus, "published_at", lambda _id: None)
    names = list(view.engine_states)
    for row in range(0, len(names), 4):
        cols = st.columns(4)
        for col, name in zip(cols, names[row : row + 4], strict=False):
            with col:
                engine_tile(name, view.engine_states[name], m.ts, published_at)
    with reading_database(runtime):  # the same on a replica
        signals = runtime.bus.signals(symbol, limit=200)
        spots, confidences = runtime.bus.spot_series(symbol), runtime.bus.confidence_series(symbol)
    chart_left, chart_right = st.columns([3, 2])
    chart_left.vega_lite_chart(spec=charts.spot_chart(spots, signals), key="spot_chart")
    chart_right.vega_lite_chart(spec=charts.gex_by_strike_chart(m), key="gex_chart")
    chart_left, chart_right = st.columns([3, 2])
    chart_left.vega_lite_chart(spec=charts.confidence_chart(confidences), key="conf_chart")
    chart_right.vega_lite_chart(spec=charts.oi_chart(m), key="oi_chart")
    with st.container():  # an outage's note in place of the chart shifts nothing below it
        compact_day_panel(runtime, symbol, m)
    signal_feed(signals, published_at)


def held_back_note() -> None:
    """While the database is down, say so and how many signals wait to be written (issue 13)."""
    logger = getattr(runtime, "logger", None)
    stats = logger.stats() if logger is not None else {}
    since = stats.get("down_since")
    if stats.get("db_up", True) and not since:
        return
    since = since or time.time()
    published = getattr(runtime.bus, "published_at", lambda _id: None)
    held = sum(1 for s in runtime.bus.signals(None, limit=10_000) if (published(s.id) or 0.0) >= since)
    st.warning(
        f"Database unavailable since {datetime.fromtimestamp(since, IST):%H:%M} IST — {held:,} signal(s) "
        f"since then are held back ({stats.get('queue_depth', 0):,} writes queued, "
        f"{stats.get('spill_lines', 0):,} in the spill journal) and are written when it returns; "
        "live data continues.",
        icon=":material/cloud_off:",
    )


live_panel()
