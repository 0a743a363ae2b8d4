"""Option chain for traders: calls | strike | puts centred on ATM, OI heat, build-up, smile and GEX."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import charts
from app.components import feed_pill, fmt_ist, fmt_num
from app.runtime import get_runtime
from core.domain import LiveMetrics

runtime = get_runtime()
st.title("Option chain")
symbol = st.sidebar.selectbox("Symbol", runtime.symbols, key="chain_symbol")
width = st.sidebar.slider("Strikes each side of ATM", 5, 40, 15, key="chain_width")


def chain_frame(m: LiveMetrics, each_side: int) -> pd.DataFrame:
    """One row per strike, ATM +- `each_side`, calls on the left and puts on the right."""
    strikes = np.asarray(m.strikes)
    atm_idx = int(np.argmin(np.abs(strikes - (m.atm_strike or m.spot or 0.0))))
    lo, hi = max(0, atm_idx - each_side), min(len(strikes), atm_idx + each_side + 1)
    sl = slice(lo, hi)

    def col(name: str) -> np.ndarray:
        arr = np.asarray(getattr(m, name, ()))
        return arr[sl] if len(arr) == len(strikes) else np.full(hi - lo, np.nan)

    frame = pd.DataFrame(
        {
            "Call build-up": _labels(m.call_buildup, len(strikes), sl),
            "Call OI": col("call_oi"),
            "Call ΔOI": col("call_oi_change"),
            "Call IV %": col("call_iv") * 100,
            "Call LTP": col("call_ltp"),
            "Call Δ": col("call_delta"),
            "Strike": strikes[sl],
            "Put Δ": col("put_delta"),
            "Put LTP": col("put_ltp"),
            "Put IV %": col("put_iv") * 100,
            "Put ΔOI": col("put_oi_change"),
            "Put OI": col("put_oi"),
            "Put build-up": _labels(m.put_buildup, len(strikes), sl),
        }
    )
    return frame


def _labels(classes: tuple[str, ...], n: int, sl: slice) -> list[str]:
    """Build-up class per strike in words (blank when price or OI did not change)."""
    if len(classes) != n:
        return [""] * len(range(n)[sl])
    return [c.replace("_", " ").lower() for c in classes[sl]]


def styled(frame: pd.DataFrame, atm: float | None):
    """OI heat colouring; the ATM row marked."""

    def mark_atm(row: pd.Series) -> list[str]:
        is_atm = atm is not None and row["Strike"] == atm
        return ["font-weight: bold; border-top: 2px solid #eab308" if is_atm else ""] * len(row)

    fmt = {c: "{:,.0f}" for c in ("Call OI", "Call ΔOI", "Put OI", "Put ΔOI", "Strike")}
    fmt.update({c: "{:.2f}" for c in ("Call IV %", "Put IV %", "Call LTP", "Put LTP")})
    fmt.update({"Call Δ": "{:.3f}", "Put Δ": "{:.3f}"})
    return (
        frame.style.format(fmt, na_rep="–")
        .apply(_heat, subset=["Call OI"], rgb="239, 68, 68")
        .apply(_heat, subset=["Put OI"], rgb="34, 197, 94")
        .apply(mark_atm, axis=1)
    )


def _heat(column: pd.Series, rgb: str) -> list[str]:
    """Background opacity proportional to OI relative to the column's largest value."""
    top = float(np.nanmax(column.to_numpy(dtype=float))) if column.notna().any() else 0.0
    if top <= 0:
        return [""] * len(column)
    return [f"background-color: rgba({rgb}, {0.1 + 0.6 * (v / top):.2f})" if v == v else "" for v in column]


@st.fragment(run_every=2.0)
def chain_panel() -> None:
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
    st.caption(
        f"{fmt_ist(m.ts, with_date=True)} · spot {fmt_num(m.spot)} · ATM {fmt_num(m.atm_strike, 0)} · "
        f"OI in units (contracts × lot {m.lot_size}) · IV source {m.iv_source or 'n/a'}"
    )
    if m.buildup_counts:
        st.caption(" · ".join(f"{k.replace('_', ' ').lower()}: {v}" for k, v in m.buildup_counts.items()))
    st.dataframe(styled(chain_frame(m, width), m.atm_strike), hide_index=True, key="chain_table", height=560)
    left, right = st.columns(2)
    left.plotly_chart(charts.iv_smile_chart(m), key="smile_chart")
    right.plotly_chart(charts.oi_chart(m), key="chain_oi_chart")
    left, right = st.columns(2)
    left.plotly_chart(charts.gex_profile_chart(m), key="gex_profile_chart")
    right.plotly_chart(charts.gex_by_strike_chart(m), key="chain_gex_chart")


chain_panel()
