"""Plotly figures of a stored day: stacked panels on ONE time axis with a crosshair, per-strike OI,
and all-expiry GEX beside one expiry's. Functions from data to figure, nothing else.

One figure holds all the panels of a day: each panel is its own y axis stacked by domain over a
single x axis, so zoom and pan move every panel together and `hoversubplots="axis"` with
`hovermode="x unified"` shows every panel's values at the time under the cursor, with a spike
line across (separate figures cannot share a crosshair).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from app.components import ist_wall_times
from core.analytics.gex_all import AllExpiryGex
from core.domain import LiveMetrics
from core.storage.intraday import Series

OI_NOTE = "NSE disseminates OI about every 3 minutes"
TEMPLATE = "plotly_dark"
UP, DOWN = "#22c55e", "#ef4444"  # the colours of app.charts: calls red, puts green
CRORE = 1e7
LEVELS = (  # (column, label, colour, dash) drawn as step lines over spot
    ("max_pain", "max pain", "#a855f7", "solid"),
    ("support", "support", UP, "solid"),
    ("resistance", "resistance", DOWN, "solid"),
    ("put_wall", "put wall", "#86efac", "dot"),
    ("call_wall", "call wall", "#fca5a5", "dot"),
    ("gamma_flip", "gamma flip", "#eab308", "dash"),
)
MAX_POINTS = 1500
STRIKE_COLOURS = ("#38bdf8", "#f472b6", "#facc15", "#a3e635", "#fb923c", "#c084fc", "#2dd4bf", "#f87171")


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    weight: float = 1.0
    unit: str = ""


def _axis(i: int) -> str:
    """Trace reference of the i-th panel's y axis (0-based): y, y2, y3..."""
    return "y" if i == 0 else f"y{i + 1}"


def stacked(panels: Sequence[Panel], height: int, overlays: int = 0) -> go.Figure:
    """An empty figure of `panels` stacked top to bottom on one shared time axis with a crosshair.
    `overlays` extra right-hand y axes (y{n+1}...) are left for the caller to place."""
    fig = go.Figure()
    gap = 0.045
    usable = 1.0 - gap * (len(panels) - 1)
    total = sum(p.weight for p in panels)
    top, layout, notes = 1.0, {}, []
    for i, panel in enumerate(panels):
        bottom = max(top - usable * panel.weight / total, 0.0)
        layout["yaxis" if i == 0 else f"yaxis{i + 1}"] = {
            "domain": [bottom, top], "anchor": "x", "title": {"text": panel.unit, "font": {"size": 10}},
        }  # fmt: skip
        notes.append({"text": f"<b>{panel.title}</b>", "x": 0, "y": top, "xref": "paper", "yref": "paper",
                      "xanchor": "left", "yanchor": "bottom", "showarrow": False, "font": {"size": 12}})  # fmt: skip
        top = bottom - gap
    for j in range(overlays):
        layout[f"yaxis{len(panels) + j + 1}"] = {"anchor": "x", "side": "right", "showgrid": False}
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin={"l": 60, "r": 60, "t": 30, "b": 30},
        hovermode="x unified",
        hoversubplots="axis",
        legend={"orientation": "h", "y": -0.03, "yanchor": "top"},
        annotations=notes,
        xaxis={"anchor": _axis(len(panels) - 1), "showspikes": True, "spikemode": "across",
               "spikesnap": "cursor", "spikethickness": 1, "spikedash": "dot", "spikecolor": "#94a3b8"},
        **layout,
    )  # fmt: skip
    return fig


def thinned(series: Series, max_points: int = MAX_POINTS) -> Series:
    """Every k-th point (the newest always kept) when a series is longer than the chart is wide:
    a full session of 5-second snapshots is 4,500 points per line on ~1,500 pixels."""
    n = len(series)
    if n <= max_points:
        return series
    keep = np.unique(np.r_[np.arange(0, n, -(-n // max_points)), n - 1])
    return Series(series.ts[keep], {k: v[keep] for k, v in series.values.items()}, series.tail)


def _line(fig: go.Figure, x: Sequence | np.ndarray, y: np.ndarray, name: str, axis: str, **style) -> None:
    shape = style.pop("shape", "linear")
    fig.add_scatter(x=x, y=y, name=name, yaxis=axis, xaxis="x", mode="lines", line={"shape": shape, **style})


def day_figure(series: Series, straddle: Series, compact: bool = False) -> go.Figure:
    """The day on one axis: spot with levels (step lines), PCR against spot, and unless `compact`,
    ATM IV, the ATM straddle with its VWAP, net GEX, total OI and its change since the first point."""
    panels = [Panel("Spot and levels", 2.0, "points"), Panel("PCR (OI, volume) against spot", 1.0, "PCR")]
    if not compact:
        panels += [Panel("ATM IV", 1.0, "%")]
    panels += [Panel("ATM straddle (rolling) and its VWAP", 1.0, "₹")]
    if not compact:
        panels += [
            Panel("Net GEX", 1.0, "₹ Cr / 1 %"),
            Panel(f"Total call and put OI ({OI_NOTE})", 1.0, "units"),
            Panel("Change in total OI since the first point shown", 1.0, "units"),
        ]
    fig = stacked(panels, 440 if compact else 1500, overlays=1)
    if not len(series):
        fig.update_layout(title="No stored snapshots for this selection")
        return fig
    series = thinned(series)
    x, axis = ist_wall_times(series.ts), {p.title: _axis(i) for i, p in enumerate(panels)}
    spot_axis = axis["Spot and levels"]
    for col, label, colour, dash in LEVELS:
        _line(fig, x, series[col], label, spot_axis, color=colour, width=1, dash=dash, shape="hv")
    _line(fig, x, series["spot"], "spot", spot_axis, color="#e2e8f0", width=2)
    pcr = axis["PCR (OI, volume) against spot"]
    _line(fig, x, series["pcr_oi"], "PCR OI", pcr, color="#38bdf8", width=2)
    _line(fig, x, series["pcr_volume"], "PCR volume", pcr, color="#f472b6", width=1)
    overlay = f"y{len(panels) + 1}"
    fig.update_layout({f"yaxis{len(panels) + 1}": {"overlaying": pcr, "title": {"text": "spot"}}})
    _line(fig, x, series["spot"], "spot (right)", overlay, color="#64748b", width=1, dash="dot")
    if "ATM IV" in axis:
        _line(fig, x, series["atm_iv"] * 100.0, "ATM IV %", axis["ATM IV"], color="#facc15", width=2)
    st_axis = axis["ATM straddle (rolling) and its VWAP"]
    if len(straddle):
        sx = ist_wall_times(straddle.ts)
        _line(fig, sx, straddle["straddle"], "straddle", st_axis, color="#2dd4bf", width=2)
        _line(fig, sx, straddle["vwap"], "straddle VWAP", st_axis, color="#fb923c", width=1, dash="dash")
    if not compact:
        _line(fig, x, series["net_gex"] / CRORE, "net GEX", axis["Net GEX"], color="#a3e635", width=2)
        oi_axis = axis[f"Total call and put OI ({OI_NOTE})"]
        change_axis = axis["Change in total OI since the first point shown"]
        for col, label, colour in (("total_call_oi", "call", DOWN), ("total_put_oi", "put", UP)):
            values = series[col]
            _line(fig, x, values, f"{label} OI", oi_axis, color=colour, width=2, shape="hv")
            first = values[np.isfinite(values)][0] if np.isfinite(values).any() else np.nan
            _line(fig, x, values - first, f"{label} ΔOI", change_axis, color=colour, width=1, shape="hv")
    return fig


def strike_oi_figure(series: Mapping[tuple[float, str], Series], strikes: Sequence[float]) -> go.Figure:
    """OI and ΔOI (against the previous close) per strike and right: one line per (strike, right),
    calls solid and puts dashed, one colour per strike, on one time axis."""
    fig = stacked(
        [Panel(f"Open interest per strike ({OI_NOTE})", 1.0, "units"),
         Panel("ΔOI per strike (against the previous close)", 1.0, "units")],
        height=640,
    )  # fmt: skip
    for i, strike in enumerate(sorted(strikes)):
        colour = STRIKE_COLOURS[i % len(STRIKE_COLOURS)]
        for right, dash in (("CE", "solid"), ("PE", "dash")):
            s = series.get((float(strike), right))
            if s is None or not len(s):
                continue
            x, name = ist_wall_times(s.ts), f"{strike:,.0f} {right}"
            _line(fig, x, s["oi"], name, "y", color=colour, dash=dash, width=2, shape="hv")
            _line(fig, x, s["oi_change"], f"{name} ΔOI", "y2", color=colour, dash=dash, width=1, shape="hv")
    if not fig.data:
        fig.update_layout(title="No chain snapshots stored for these strikes")
    return fig


def all_expiry_gex_figure(selected: LiveMetrics, combined: AllExpiryGex) -> go.Figure:
    """Net GEX by strike of the selected expiry beside the sum over all expiries, and both net-GEX
    profiles over hypothetical spot with their flips."""
    fig = stacked(
        [Panel(f"Net GEX by strike: expiry {selected.expiry} vs all {len(combined.expiries)} expiries", 1.0,
               "₹ Cr / 1 %"),
         Panel("Net GEX vs hypothetical spot", 1.0, "₹ Cr / 1 %")],
        height=700,
    )  # fmt: skip
    fig.update_layout(hovermode="x", barmode="group")
    fig.update_xaxes(title="strike / spot")
    if len(selected.strikes):
        fig.add_bar(x=selected.strikes, y=np.asarray(selected.gex_by_strike) / CRORE, name=f"{selected.expiry}",
                    marker_color="#38bdf8", yaxis="y", xaxis="x")  # fmt: skip
    if len(combined.strikes):
        fig.add_bar(x=combined.strikes, y=combined.gex_by_strike / CRORE, name="all expiries",
                    marker_color="#fb923c", yaxis="y", xaxis="x")  # fmt: skip
    if len(selected.gex_profile_spot):
        _line(fig, list(selected.gex_profile_spot), np.asarray(selected.gex_profile) / CRORE,
              f"profile {selected.expiry}", "y2", color="#38bdf8", width=2)  # fmt: skip
    if len(combined.profile_spot):
        _line(fig, list(combined.profile_spot), combined.profile / CRORE, "profile, all expiries", "y2",
              color="#fb923c", width=2)  # fmt: skip
    for level, label, colour in (
        (selected.spot, "spot", "#e2e8f0"),
        (selected.gamma_flip, f"flip {selected.expiry}", "#38bdf8"),
        (combined.gamma_flip, "flip all", "#fb923c"),
    ):
        if level is not None:
            fig.add_vline(x=level, line_color=colour, line_dash="dot", annotation_text=label)
    return fig
