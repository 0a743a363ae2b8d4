"""The option-chain table: calls | strike | puts around ATM, in the columns a trader expects, styled.

Builds a DataFrame from LiveMetrics (plus the snapshot's quotes when the page has one) and a pandas
Styler for it: OI heat, in-the-money legs shaded, the ATM row highlighted, missing values as "–".
The numbers come from core.analytics.chain_view; this module only arranges and formats them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from core.analytics.chain_arrays import ChainArrays
from core.analytics.chain_view import leg_greeks, strike_pcr
from core.domain import ChainSnapshot, LiveMetrics

OI_UNITS = ("contracts", "lakh units", "units")
ROW_PX, HEADER_PX = 35, 38  # st.dataframe's row and header heights
ATM_BG = "rgba(234, 179, 8, 0.35)"
ITM_BG = "rgba(148, 163, 184, 0.22)"
CALL_HEAT, PUT_HEAT = "239, 68, 68", "34, 197, 94"
GREEKS = ("Γ", "Θ", "ν")


@dataclass(frozen=True, slots=True)
class OiBaseline:
    """OI per strike at a moment the trader marked: ΔOI is then measured from it, not the previous close."""

    expiry: date
    ts: float
    strikes: np.ndarray
    call_oi: np.ndarray
    put_oi: np.ndarray

    @classmethod
    def mark(cls, m: LiveMetrics) -> OiBaseline:
        return cls(m.expiry, m.ts, np.array(m.strikes), np.array(m.call_oi), np.array(m.put_oi))  # type: ignore[arg-type]

    def change(
        self, strikes: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Current OI minus the marked OI, per strike; NaN for strikes the mark did not have."""
        pos = {float(k): i for i, k in enumerate(self.strikes)}
        idx = np.array([pos.get(float(k), -1) for k in strikes])
        known = idx >= 0
        out = []
        for now, then in ((call_oi, self.call_oi), (put_oi, self.put_oi)):
            delta = np.full(len(strikes), np.nan)
            delta[known] = np.asarray(now, dtype=float)[known] - then[idx[known]]
            out.append(delta)
        return out[0], out[1]


def oi_divisor(unit: str, lot_size: int) -> float:
    """OI and volume arrive in units (contracts x lot size); a contract is one lot, a lakh 100,000 units."""
    return {"contracts": float(max(lot_size, 1)), "lakh units": 1e5}.get(unit, 1.0)


def leg_quotes(snapshot: ChainSnapshot | None, expiry: date, strikes: np.ndarray) -> dict[str, np.ndarray]:
    """Bid, ask and LTP change from the previous close per leg, aligned with `strikes` (NaN if unknown).

    LiveMetrics carries no quotes; an in-process page has the snapshot, a database replica does not.
    """
    n = len(strikes)
    names = ("call_bid", "put_bid", "call_ask", "put_ask", "call_chg", "put_chg")
    out = {name: np.full(n, np.nan) for name in names}
    if snapshot is None:
        return out
    arrays = ChainArrays.from_legs(snapshot.legs_for(expiry))
    if not len(arrays.strikes):
        return out
    idx = np.searchsorted(arrays.strikes, strikes).clip(0, len(arrays.strikes) - 1)
    match = arrays.strikes[idx] == strikes
    chg = arrays["ltp"] - arrays["prev_close"]
    for row, side in ((0, "call"), (1, "put")):
        for name, values in (("bid", arrays["bid"][row]), ("ask", arrays["ask"][row]), ("chg", chg[row])):
            out[f"{side}_{name}"] = np.where(match, values[idx], np.nan)
    return out


def window(m: LiveMetrics, each_side: int) -> slice:
    """ATM +- `each_side` strikes: the table opens with ATM in its middle row."""
    strikes = np.asarray(m.strikes)
    atm_idx = int(np.argmin(np.abs(strikes - (m.atm_strike or m.spot or 0.0))))
    return slice(max(0, atm_idx - each_side), min(len(strikes), atm_idx + each_side + 1))


def chain_frame(
    m: LiveMetrics,
    each_side: int,
    *,
    unit: str = "contracts",
    show_greeks: bool = False,
    quotes: dict[str, np.ndarray] | None = None,
    baseline: OiBaseline | None = None,
) -> pd.DataFrame:
    """One row per strike, calls mirrored on the left and puts on the right of Strike and PCR."""
    strikes = np.asarray(m.strikes, dtype=float)
    n, sl = len(strikes), window(m, each_side)

    def arr(values) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        return values if len(values) == n else np.full(n, np.nan)

    div = oi_divisor(unit, m.lot_size)
    call_oi, put_oi = arr(m.call_oi), arr(m.put_oi)
    if baseline is not None:
        call_d, put_d = baseline.change(strikes, call_oi, put_oi)
    else:
        call_d, put_d = arr(m.call_oi_change), arr(m.put_oi_change)
    quotes = quotes or {}
    q = {
        k: arr(quotes.get(k, ()))
        for k in ("call_bid", "put_bid", "call_ask", "put_ask", "call_chg", "put_chg")
    }
    g = leg_greeks(strikes, arr(m.call_iv), arr(m.put_iv), m.forward, m.time_to_expiry_years, m.rate)
    side: dict[str, dict[str, np.ndarray | list[str]]] = {}
    for name, oi, d_oi, vol in (
        ("Call", call_oi, call_d, m.call_volume),
        ("Put", put_oi, put_d, m.put_volume),
    ):
        low = name.lower()
        cols: dict[str, np.ndarray | list[str]] = {
            "build-up": _labels(getattr(m, f"{low}_buildup"), n),
            "OI": oi / div,
            "ΔOI": d_oi / div,
            "Volume": arr(vol) / div,
            "IV %": arr(getattr(m, f"{low}_iv")) * 100,
            "Bid": q[f"{low}_bid"],
            "Ask": q[f"{low}_ask"],
            "LTP": arr(getattr(m, f"{low}_ltp")),
            "Chg": q[f"{low}_chg"],
        }
        if show_greeks:
            cols.update({"ν": g[f"{low}_vega"], "Θ": g[f"{low}_theta"], "Γ": g[f"{low}_gamma"]})
        cols["Δ"] = arr(getattr(m, f"{low}_delta"))
        side[name] = cols
    frame: dict[str, object] = {f"Call {k}": v for k, v in side["Call"].items()}
    frame["Strike"] = strikes
    frame["PCR"] = strike_pcr(call_oi, put_oi)
    frame.update({f"Put {k}": v for k, v in reversed(list(side["Put"].items()))})
    return pd.DataFrame(frame).iloc[sl].reset_index(drop=True)


def _labels(classes: tuple[str, ...], n: int) -> list[str]:
    """Build-up class per strike in words; "–" when price or OI did not change or is unknown."""
    if len(classes) != n:
        return ["–"] * n
    return [c.replace("_", " ").lower() if c else "–" for c in classes]


def formats(frame: pd.DataFrame, unit: str) -> dict[str, str]:
    """Number formats per column: OI to two decimals in lakhs, whole numbers otherwise."""
    oi_fmt = "{:,.2f}" if unit == "lakh units" else "{:,.0f}"
    fmt: dict[str, str] = {"Strike": "{:,.0f}", "PCR": "{:.2f}"}
    for col in frame.columns:
        kind = col.split(" ", 1)[-1]
        if kind in ("OI", "Volume"):
            fmt[col] = oi_fmt
        elif kind == "ΔOI":
            fmt[col] = "{:+,.2f}" if unit == "lakh units" else "{:+,.0f}"
        elif kind in ("IV %", "Bid", "Ask", "LTP", "Θ", "ν"):
            fmt[col] = "{:,.2f}"
        elif kind == "Chg":
            fmt[col] = "{:+,.2f}"
        elif kind == "Δ":
            fmt[col] = "{:.3f}"
        elif kind == "Γ":
            fmt[col] = "{:.5f}"
    return fmt


def display(frame: pd.DataFrame, unit: str = "contracts") -> pd.DataFrame:
    """Every number as the text a trader reads, "–" where a value is missing.

    st.dataframe shows a missing number as "None" whatever the Styler's na_rep says, so the table
    is sent as text (right-aligned by `text_columns`) and the numeric frame only drives the colours.
    """
    out = frame.copy()
    for col, fmt in formats(frame, unit).items():
        out[col] = ["–" if v is None or v != v else fmt.format(v) for v in frame[col]]
    return out


def styled(frame: pd.DataFrame, m: LiveMetrics, unit: str = "contracts"):
    """OI heat, ITM legs shaded (calls below spot, puts above), the ATM row highlighted, "–" for gaps."""
    spot = m.spot or m.atm_strike
    call_cols = [c for c in frame.columns if c.startswith("Call ")]
    put_cols = [c for c in frame.columns if c.startswith("Put ")]

    def shade(row: pd.Series) -> list[str]:
        strike = frame.at[row.name, "Strike"]
        if m.atm_strike is not None and strike == m.atm_strike:
            return [f"background-color: {ATM_BG}; font-weight: bold"] * len(row)
        call_itm = spot is not None and strike < spot
        put_itm = spot is not None and strike > spot
        return [
            f"background-color: {ITM_BG}"
            if (c in call_cols and call_itm) or (c in put_cols and put_itm)
            else ""
            for c in row.index
        ]

    return (
        display(frame, unit)
        .style.apply(shade, axis=1)
        .apply(lambda _: _heat(frame["Call OI"], CALL_HEAT), subset=["Call OI"])
        .apply(lambda _: _heat(frame["Put OI"], PUT_HEAT), subset=["Put OI"])
    )


def text_columns(frame: pd.DataFrame, unit: str = "contracts") -> list[str]:
    """The numeric columns sent as text, to be right-aligned like numbers."""
    return list(formats(frame, unit))


def _heat(column: pd.Series, rgb: str) -> list[str]:
    """Background opacity proportional to OI relative to the column's largest value."""
    top = float(np.nanmax(column.to_numpy(dtype=float))) if column.notna().any() else 0.0
    if top <= 0:
        return [""] * len(column)
    return [f"background-color: rgba({rgb}, {0.1 + 0.6 * (v / top):.2f})" if v == v else "" for v in column]


def table_height(rows: int) -> int:
    """Pixels that fit every row: no inner scroll hiding ATM, no blank rows below the last strike."""
    return HEADER_PX + ROW_PX * rows + 2
