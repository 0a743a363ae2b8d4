"""The option chain a trader expects (issue 13): opens centred on ATM with ATM highlighted and ITM
shaded, "–" for gaps, quotes, volume, ΔOI with its baseline, greeks toggle, per-strike PCR, OI units,
days to expiry, synthetic future and basis, a max-pain curve."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.chain_table import ATM_BG, ITM_BG, OiBaseline, chain_frame, styled, table_height
from core.domain import LiveMetrics, frozen_array
from tests.app.conftest import main_script
from tests.app.test_pages import rerun_until


def _numbers(column) -> np.ndarray:
    """The page sends the table as text ("1,234", "–"): back to numbers for the checks."""
    return pd.to_numeric(column.str.replace(",", "").replace("–", None), errors="coerce").to_numpy(
        dtype=float
    )


def _chain_page() -> AppTest:
    at = AppTest.from_file(main_script(), default_timeout=60)
    at.run()
    at.switch_page("views/chain.py")
    at.run()
    return rerun_until(at, lambda a: len(a.dataframe) > 0)


@pytest.mark.usefixtures("app_env")
def test_chain_opens_centred_on_atm_with_the_columns_traders_expect():
    at = _chain_page()
    frame = at.dataframe[0].value
    middle = frame.iloc[len(frame) // 2]
    atm = next(c.value for c in at.caption if "ATM" in c.value and "highlighted" in c.value)
    assert f"ATM {middle['Strike']} (highlighted)" in atm
    assert not frame.isin(["None", "nan", "NaN"]).any().any() and not frame.isna().any().any()
    assert len(frame) == 21  # ten strikes each side by default: ATM is the middle row, no inner scroll
    for col in ("Volume", "Bid", "Ask", "LTP", "Chg", "ΔOI", "OI", "Δ", "IV %"):
        assert f"Call {col}" in frame and f"Put {col}" in frame
    assert "PCR" in frame and "Call Γ" not in frame
    assert np.isfinite(_numbers(frame["Call Bid"])).any() and np.isfinite(_numbers(frame["Put Ask"])).any()
    assert "ΔOI since previous close" in atm and "in contracts" in atm
    labels = {m.label: m for m in at.metric}
    assert {"Future (synthetic)", "Days to expiry", "Max pain", "PCR (OI)"} <= set(labels)
    assert "basis" in labels["Future (synthetic)"].delta
    assert any("Max-pain curve" in c.proto.spec for c in at.get("vega_lite_chart"))

    contracts = _numbers(at.dataframe[0].value["Call OI"])
    at.sidebar.radio(key="chain_oi_unit").set_value("units")
    at.sidebar.toggle(key="chain_greeks").set_value(True)
    at.run()
    frame = at.dataframe[0].value
    assert {"Call Γ", "Call Θ", "Call ν", "Put Γ", "Put Θ", "Put ν"} <= set(frame.columns)
    ratio = _numbers(frame["Call OI"]) / contracts
    lot = ratio[np.isfinite(ratio)]
    assert len(lot) and np.allclose(lot, lot[0]) and lot[0] > 1  # units = contracts x lot size


@pytest.mark.usefixtures("app_env")
def test_delta_oi_since_a_marked_time():
    at = _chain_page()
    at.button(key="chain_mark_oi").click()
    at.run()
    assert at.radio(key="chain_doi_since").value == "marked time"
    caption = next(c.value for c in at.caption if "ΔOI since" in c.value)
    assert "ΔOI since your mark at" in caption
    frame = at.dataframe[0].value
    # Just marked: OI has barely moved since, unlike since the previous close.
    assert np.nanmax(np.abs(_numbers(frame["Call ΔOI"]))) < np.nanmax(np.abs(_numbers(frame["Call OI"])))


def _metrics(**overrides) -> LiveMetrics:
    strikes = np.arange(24_000.0, 26_050.0, 50.0)
    n = len(strikes)
    oi = np.full(n, 10_000.0)
    oi[3] = np.nan  # a leg that never reported OI
    values = dict(
        symbol="NIFTY", expiry=date(2026, 12, 3), ts=1_796_000_000.0, spot=25_010.0, atm_strike=25_000.0,
        lot_size=75, forward=25_040.0, time_to_expiry_years=5 / 365, strikes=frozen_array(strikes),
        call_oi=frozen_array(oi), put_oi=frozen_array(np.full(n, 8_000.0)),
        call_iv=frozen_array(np.full(n, 0.13)), put_iv=frozen_array(np.full(n, np.nan)),
        call_ltp=frozen_array(np.full(n, 100.0)),
    )  # fmt: skip
    values.update(overrides)
    return LiveMetrics(**values)


def test_missing_values_show_a_dash_never_none_or_nan():
    m = _metrics()
    shown = styled(chain_frame(m, 25, show_greeks=True), m).data  # what st.dataframe receives
    assert not shown.isna().any().any() and not shown.isin(["None", "nan"]).any().any()
    assert (shown["Put IV %"] == "–").all() and (shown["Call OI"] == "–").sum() == 1


def test_atm_row_is_highlighted_and_in_the_money_legs_are_shaded():
    m = _metrics()
    frame = chain_frame(m, 4)
    assert list(frame["Strike"]) == [24_800.0 + 50 * i for i in range(9)]  # ATM in the middle
    ctx = styled(frame, m)._compute().ctx
    col = {name: i for i, name in enumerate(frame.columns)}

    def bg(row: int, name: str) -> str:
        return dict(ctx.get((row, col[name]), [])).get("background-color", "")

    assert bg(4, "Strike") == ATM_BG and bg(4, "Put LTP") == ATM_BG
    assert bg(0, "Call LTP") == ITM_BG and bg(0, "Put LTP") == ""  # 24,800 call is in the money
    assert bg(8, "Put LTP") == ITM_BG and bg(8, "Call LTP") == ""  # 25,200 put is in the money
    assert table_height(9) == 38 + 9 * 35 + 2


def test_oi_baseline_change_is_per_strike():
    m = _metrics()
    mark = OiBaseline.mark(m)
    call = np.asarray(m.call_oi) + 500.0
    d_call, d_put = mark.change(np.asarray(m.strikes), call, np.asarray(m.put_oi))
    assert np.nanmax(d_call) == 500.0 and np.nanmax(np.abs(d_put)) == 0.0
    assert np.isnan(d_call[3])  # no OI then and now
