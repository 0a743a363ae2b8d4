"""The Option chain page's GEX scope choice: the selected expiry alone, or every listed expiry summed
beside it with the flip of the combined profile (core.analytics.gex_all)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import streamlit as st

from app.components import fmt_crore, fmt_num
from app.intraday_charts import all_expiry_gex_figure
from core.analytics.gex_all import all_expiry_gex
from core.domain import LiveMetrics

SCOPES = ("Selected expiry", "All expiries")


def all_expiry_gex_panel(by_expiry: Mapping[date, LiveMetrics], selected: LiveMetrics) -> None:
    """A radio for the GEX scope; with all expiries, the combined GEX by strike and profile beside
    the selected expiry's, and both flips."""
    scope = st.radio("Dealer gamma (GEX) across", SCOPES, key="chain_gex_scope", horizontal=True)
    if scope == SCOPES[0]:
        return
    combined = all_expiry_gex(by_expiry, selected.expiry)
    if not combined.expiries:
        st.info("No expiry has GEX yet: " + "; ".join(f"{e}: {r}" for e, r in combined.skipped.items()))
        return
    cols = st.columns(4)
    cols[0].metric("Net GEX, all expiries", fmt_crore(combined.net_gex), help="₹ per 1 % move")
    cols[1].metric(f"Net GEX, {selected.expiry}", fmt_crore(selected.net_gex))
    cols[2].metric(
        "Gamma flip, all expiries",
        fmt_num(combined.gamma_flip, 0),
        help="zero of the summed net-GEX profile nearest spot, " + (combined.flip_state or "no profile"),
    )
    cols[3].metric(f"Gamma flip, {selected.expiry}", fmt_num(selected.gamma_flip, 0))
    skipped = "; ".join(f"{e} ({r})" for e, r in combined.skipped.items())
    st.caption(
        f"Summed over {len(combined.expiries)} listed expiries ({', '.join(map(str, combined.expiries))}); "
        f"profile from {len(combined.profile_expiries)}" + (f" · left out: {skipped}" if skipped else "")
    )
    st.plotly_chart(all_expiry_gex_figure(selected, combined), key="chain_all_expiry_gex")
