"""Plotly figures built from snapshots and metrics. Functions from data to figure, nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import plotly.graph_objects as go

from core.bus import ConfidencePoint, SpotPoint
from core.clock import IST
from core.domain import LiveMetrics, Signal

TEMPLATE = "plotly_dark"
UP, DOWN, NEUTRAL = "#22c55e", "#ef4444", "#94a3b8"


def _times(ts: Sequence[float]) -> list[datetime]:
    return [datetime.fromtimestamp(t, IST) for t in ts]


def _layout(fig: go.Figure, title: str, height: int = 340) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=height,
        margin={"l": 40, "r": 20, "t": 40, "b": 30},
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def spot_chart(points: Sequence[SpotPoint], signals: Sequence[Signal]) -> go.Figure:
    """Spot with support, resistance, gamma flip, max pain, expected-move bands and signal markers."""
    fig = go.Figure()
    if not points:
        return _layout(fig, "Spot (waiting for data)")
    x = _times([p.ts for p in points])
    bands = [p.em_bands for p in points]
    if any(b is not None for b in bands):
        for idx, name in ((1, "-1σ"), (2, "+1σ")):
            y = [b[idx] if b else None for b in bands]
            fig.add_scatter(x=x, y=y, name=f"EM {name}", line={"width": 1, "dash": "dot"}, opacity=0.5)
    for attr, colour in (
        ("support", UP),
        ("resistance", DOWN),
        ("gamma_flip", "#eab308"),
        ("max_pain", "#a855f7"),
    ):
        fig.add_scatter(
            x=x,
            y=[getattr(p, attr) for p in points],
            name=attr.replace("_", " "),
            line={"color": colour, "width": 1, "shape": "hv"},
        )
    fig.add_scatter(x=x, y=[p.spot for p in points], name="spot", line={"color": "#e2e8f0", "width": 2})
    start = points[0].ts
    marks = [s for s in signals if s.ts >= start and s.spot_price]
    if marks:
        fig.add_scatter(
            x=_times([s.ts for s in marks]),
            y=[s.spot_price for s in marks],
            mode="markers",
            name="signals",
            marker={
                "size": 11,
                "symbol": [
                    "triangle-up"
                    if s.direction == "UP"
                    else "triangle-down"
                    if s.direction == "DOWN"
                    else "circle"
                    for s in marks
                ],
                "color": [
                    UP if s.direction == "UP" else DOWN if s.direction == "DOWN" else NEUTRAL for s in marks
                ],
            },
            text=[f"{s.engine}: {s.signal} ({s.confidence:.2f})" for s in marks],
            hoverinfo="text+y",
        )
    return _layout(fig, "Spot with levels", height=420)


def gex_by_strike_chart(m: LiveMetrics) -> go.Figure:
    """Net GEX per strike (₹ Cr per 1 % move), spot and flip marked."""
    fig = go.Figure()
    if not len(m.strikes):
        return _layout(fig, "GEX by strike (no chain yet)")
    gex = np.asarray(m.gex_by_strike) / 1e7
    fig.add_bar(x=m.strikes, y=gex, marker_color=[UP if g >= 0 else DOWN for g in gex], name="net GEX")
    _mark_levels(fig, m)
    fig.update_yaxes(title="₹ Cr per 1 % move")
    return _layout(fig, f"GEX by strike ({m.gex_convention})")


def oi_chart(m: LiveMetrics) -> go.Figure:
    """Call and put OI per strike (units) with OI change."""
    fig = go.Figure()
    if not len(m.strikes):
        return _layout(fig, "OI by strike (no chain yet)")
    fig.add_bar(x=m.strikes, y=m.call_oi, name="call OI", marker_color=DOWN, opacity=0.75)
    fig.add_bar(x=m.strikes, y=m.put_oi, name="put OI", marker_color=UP, opacity=0.75)
    if len(m.call_oi_change):
        fig.add_scatter(x=m.strikes, y=m.call_oi_change, name="call ΔOI", line={"color": "#fca5a5"})
        fig.add_scatter(x=m.strikes, y=m.put_oi_change, name="put ΔOI", line={"color": "#86efac"})
    _mark_levels(fig, m)
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="units")
    return _layout(fig, "Open interest by strike")


def gex_profile_chart(m: LiveMetrics) -> go.Figure:
    """Net GEX as a function of hypothetical spot (the flip grid)."""
    fig = go.Figure()
    if not len(m.gex_profile_spot):
        return _layout(fig, "GEX profile (unavailable)")
    fig.add_scatter(x=m.gex_profile_spot, y=np.asarray(m.gex_profile) / 1e7, name="net GEX", fill="tozeroy")
    _mark_levels(fig, m)
    fig.update_xaxes(title="hypothetical spot")
    fig.update_yaxes(title="₹ Cr per 1 % move")
    return _layout(fig, "Net GEX vs spot")


def iv_smile_chart(m: LiveMetrics) -> go.Figure:
    fig = go.Figure()
    if not len(m.strikes):
        return _layout(fig, "IV smile (no chain yet)")
    fig.add_scatter(x=m.strikes, y=np.asarray(m.call_iv) * 100, name="call IV", mode="lines+markers")
    fig.add_scatter(x=m.strikes, y=np.asarray(m.put_iv) * 100, name="put IV", mode="lines+markers")
    _mark_levels(fig, m)
    fig.update_yaxes(title="IV %")
    return _layout(fig, "IV smile")


def confidence_chart(points: Sequence[ConfidencePoint]) -> go.Figure:
    """Each engine's raw score over time; filled markers where the engine was active."""
    fig = go.Figure()
    if not points:
        return _layout(fig, "Engine confidence (waiting for data)")
    for engine in sorted({p.engine for p in points}):
        series = [p for p in points if p.engine == engine]
        fig.add_scatter(
            x=_times([p.ts for p in series]),
            y=[p.raw_score for p in series],
            name=engine.replace("Engine", ""),
            mode="lines",
        )
    fig.update_yaxes(range=[0, 1], title="score")
    return _layout(fig, "Engine confidence over time")


def _mark_levels(fig: go.Figure, m: LiveMetrics) -> None:
    if m.spot:
        fig.add_vline(x=m.spot, line_color="#e2e8f0", line_dash="dash", annotation_text="spot")
    if m.gamma_flip:
        fig.add_vline(x=m.gamma_flip, line_color="#eab308", line_dash="dot", annotation_text="flip")
