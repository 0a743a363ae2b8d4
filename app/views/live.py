"""Live page for traders: headline metrics, engine tiles, signal feed and charts, refreshed each second."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts
from app.broker_panel import session_banner
from app.components import engine_tile, feed_pill, fmt_crore, fmt_ist, fmt_num, fmt_pct
from app.runtime import get_runtime
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


def header_cards(m: LiveMetrics) -> None:
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
        delta=None if m.breach_probability is None else f"{m.breach_probability:.0%} breach prob.",
        delta_color="off",
        delta_arrow="off",
        help="S · σ_ATM · √(trading time to expiry / 252 sessions of 375 min): nights, weekends and "
        "holidays count zero. The same definition scores range calls. Breach probability = "
        "P(|move| > 1σ) by expiry. " + (m.unavailable.get("expected_move") or ""),
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
        fmt_num(m.atm_straddle, 2, " ₹"),
        help=f"theta {fmt_num(m.atm_straddle_theta, 2, ' ₹')} per calendar day, "
        f"vega {fmt_num(m.atm_straddle_vega, 2, ' ₹')} per vol point (per unit of the index)",
    )


@st.fragment(run_every=1.0)
def live_panel() -> None:
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
    if m.unavailable:
        with st.expander(f"{len(m.unavailable)} metric(s) unavailable right now"):
            st.table({"metric": list(m.unavailable), "reason": list(m.unavailable.values())})
    st.subheader("Engines")
    names = list(view.engine_states)
    for row in range(0, len(names), 4):
        cols = st.columns(4)
        for col, name in zip(cols, names[row : row + 4], strict=False):
            with col:
                engine_tile(name, view.engine_states[name], m.ts)
    signals = runtime.bus.signals(symbol, limit=200)
    chart_left, chart_right = st.columns([3, 2])
    chart_left.plotly_chart(charts.spot_chart(runtime.bus.spot_series(symbol), signals), key="spot_chart")
    chart_right.plotly_chart(charts.gex_by_strike_chart(m), key="gex_chart")
    chart_left, chart_right = st.columns([3, 2])
    chart_left.plotly_chart(charts.confidence_chart(runtime.bus.confidence_series(symbol)), key="conf_chart")
    chart_right.plotly_chart(charts.oi_chart(m), key="oi_chart")
    signal_feed(signals)


def signal_feed(signals) -> None:
    st.subheader("Signal feed")
    if not signals:
        st.caption("No signals yet this session: engines fire only when their rules line up.")
        return
    rows = [
        {
            "time": fmt_ist(s.ts),
            "engine": s.engine.replace("Engine", ""),
            "signal": s.signal,
            "direction": s.direction,
            "confidence": round(s.confidence, 3),
            "source": s.confidence_source,
            "spot": s.spot_price,
            "reasons": ", ".join(s.reasons),
        }
        for s in signals[:50]
    ]
    shown = signals[:50]
    event = st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="signal_feed",
        on_select="rerun",
        selection_mode="single-row",
    )
    picked = event.selection.rows if event is not None else []
    if picked and picked[0] < len(shown):
        # Rows shift as signals arrive: remember the signal, not the row number.
        st.session_state["live_selected_signal"] = shown[picked[0]].id
    chosen = next((x for x in signals if x.id == st.session_state.get("live_selected_signal")), signals[0])
    st.markdown(
        f"**{fmt_ist(chosen.ts)} · {chosen.engine} · {chosen.signal}** ({chosen.direction}, "
        f"confidence {chosen.confidence:.2f} {chosen.confidence_source}) — select a row to inspect it"
    )
    left, right = st.columns([1, 2])
    left.write("Reasons")
    left.write("\n".join(f"- {r}" for r in chosen.reasons) or "none")
    right.write("Features the rules looked at")
    right.json(dict(chosen.features), expanded=False)


live_panel()
