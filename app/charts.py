"""Plotly figures built from snapshots and metrics. Functions from data to figure, nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import plotly.graph_objects as go

from core.analytics.chain_view import pain_curve
from core.bus import ConfidencePoint, SpotPoint
from core.clock import IST
from core.domain import LiveMetrics, Signal

TEMPLATE = "plotly_dark"
UP, DOWN, NEUTRAL = "#22c55e", "#ef4444", "#94a3b8"


def _times(ts: Sequence[float]) -> list[datetime]:
    return [datetime.fromtimestamp(t, IST) for t in ts]


def _layout(
    fig: go.Figure, title: str, height: int = 340, *, x_title: str = "", y_title: str = ""
) -> go.Figure:
    """Fixed margins with the legend in the top margin, under the title.

    Axis auto-margins are off: with a legend or titles pushing the margins they re-measure each other
    until Plotly gives up ("Too many auto-margin redraws") and draws a blank frame on some refreshes.
    A legend below the plot covered the x-axis dates. `uirevision` keeps a trader's zoom on refresh.
    """
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.01, "xanchor": "left", "y": 1.0, "yanchor": "top", "yref": "container",
               "pad": {"t": 8}, "font": {"size": 15}},
        height=height,
        margin={"l": 72, "r": 16, "t": 78, "b": 50, "autoexpand": False},
        legend={"orientation": "h", "yref": "container", "y": 1.0 - 34 / height, "yanchor": "top",
                "x": 0.0, "xanchor": "left", "font": {"size": 11}},
        uirevision=title.split(" (")[0],
    )  # fmt: skip
    fig.update_xaxes(automargin=False, title={"text": x_title, "standoff": 6})
    fig.update_yaxes(automargin=False, title={"text": y_title, "standoff": 6})
    return fig


def focus_range(m: LiveMetrics, values: Sequence[np.ndarray], share: float = 0.03) -> list[float] | None:
    """Strike range worth looking at: where `values` are at least `share` of their largest, plus spot,
    flip and the +-1 sigma move, padded by a strike step. Far strikes with nothing on them waste width."""
    strikes = np.asarray(m.strikes, dtype=float)
    if not len(strikes):
        return None
    mask = np.zeros(len(strikes), dtype=bool)
    for v in values:
        arr = np.abs(np.nan_to_num(np.asarray(v, dtype=float)))
        if len(arr) == len(strikes) and arr.max(initial=0) > 0:
            mask |= arr >= share * arr.max()
    points = list(strikes[mask])
    points += [x for x in (m.spot, m.gamma_flip) if x]
    if m.spot and m.expected_move:
        points += [m.spot - m.expected_move, m.spot + m.expected_move]
    if not points:
        return None
    step = m.strike_step or 50.0
    lo, hi = min(points) - step, max(points) + step
    # Never narrower than +-5 strikes around spot: a calm chain still shows its neighbourhood.
    centre = m.spot or (lo + hi) / 2
    return [min(lo, centre - 5 * step), max(hi, centre + 5 * step)]


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
    return _layout(fig, "Spot with levels", height=420, y_title="index points")


def gex_by_strike_chart(m: LiveMetrics) -> go.Figure:
    """Net GEX per strike (₹ Cr per 1 % move), spot and flip marked, zoomed to strikes that carry GEX."""
    fig = go.Figure()
    if not len(m.strikes):
        return _layout(fig, "GEX by strike (no chain yet)")
    gex = np.asarray(m.gex_by_strike) / 1e7
    fig.add_bar(x=m.strikes, y=gex, marker_color=[UP if g >= 0 else DOWN for g in gex], name="net GEX")
    _mark_levels(fig, m)
    fig.update_xaxes(range=focus_range(m, [gex]))
    return _layout(fig, f"GEX by strike ({m.gex_convention})", x_title="strike", y_title="₹ Cr per 1 % move")


def oi_chart(m: LiveMetrics, unit: str = "contracts") -> go.Figure:
    """Call and put OI per strike with the day's OI change, in contracts, lakh units or units."""
    fig = go.Figure()
    if not len(m.strikes):
        return _layout(fig, "OI by strike (no chain yet)")
    div = {"contracts": float(max(m.lot_size, 1)), "lakh units": 1e5}.get(unit, 1.0)
    call_oi, put_oi = np.asarray(m.call_oi) / div, np.asarray(m.put_oi) / div
    fig.add_bar(x=m.strikes, y=call_oi, name="call OI", marker_color=DOWN, opacity=0.75)
    fig.add_bar(x=m.strikes, y=put_oi, name="put OI", marker_color=UP, opacity=0.75)
    if len(m.call_oi_change):
        fig.add_scatter(
            x=m.strikes, y=np.asarray(m.call_oi_change) / div, name="call ΔOI", line={"color": "#fca5a5"}
        )
        fig.add_scatter(
            x=m.strikes, y=np.asarray(m.put_oi_change) / div, name="put ΔOI", line={"color": "#86efac"}
        )
    _mark_levels(fig, m)
    fig.update_layout(barmode="group")
    fig.update_xaxes(range=focus_range(m, [call_oi, put_oi], share=0.1))
    return _layout(
        fig, "Open interest by strike (ΔOI since previous close)", x_title="strike", y_title=f"OI ({unit})"
    )


def gex_profile_chart(m: LiveMetrics) -> go.Figure:
    """Net GEX as a function of hypothetical spot (the flip grid)."""
    fig = go.Figure()
    if not len(m.gex_profile_spot):
        return _layout(fig, "GEX profile (unavailable)")
    fig.add_scatter(x=m.gex_profile_spot, y=np.asarray(m.gex_profile) / 1e7, name="net GEX", fill="tozeroy")
    _mark_levels(fig, m)
    return _layout(fig, "Net GEX vs spot", x_title="hypothetical spot", y_title="₹ Cr per 1 % move")


def iv_smile_chart(m: LiveMetrics) -> go.Figure:
    """Call and put implied vol per strike, zoomed to strikes with open interest."""
    fig = go.Figure()
    if not len(m.strikes):
        return _layout(fig, "IV smile (no chain yet)")
    fig.add_scatter(x=m.strikes, y=np.asarray(m.call_iv) * 100, name="call IV", mode="lines+markers")
    fig.add_scatter(x=m.strikes, y=np.asarray(m.put_iv) * 100, name="put IV", mode="lines+markers")
    _mark_levels(fig, m)
    fig.update_xaxes(range=focus_range(m, [m.call_oi, m.put_oi], share=0.1))
    return _layout(fig, "IV smile", x_title="strike", y_title="IV %")


def max_pain_chart(m: LiveMetrics) -> go.Figure:
    """Writers' total payout if the index settles at each strike; its minimum is max pain."""
    fig = go.Figure()
    if not len(m.strikes) or m.max_pain is None:
        return _layout(fig, "Max-pain curve (no open interest yet)")
    pain = pain_curve(np.asarray(m.strikes), np.asarray(m.call_oi), np.asarray(m.put_oi)) / 1e7
    fig.add_scatter(x=m.strikes, y=pain, name="writers' payout", mode="lines", line={"color": "#a855f7"})
    fig.add_vline(x=m.max_pain, line_color="#a855f7", line_dash="dot", annotation_text=f"max pain {m.max_pain:,.0f}",
                  annotation_position="top right")  # fmt: skip
    if m.spot:
        left = m.spot < m.max_pain
        fig.add_vline(x=m.spot, line_color="#e2e8f0", line_dash="dash", annotation_text="spot",
                      annotation_position="top left" if left else "top right")  # fmt: skip
    fig.update_xaxes(range=focus_range(m, [m.call_oi, m.put_oi], share=0.1))
    return _layout(fig, "Max-pain curve", x_title="settlement price (strike)", y_title="₹ Cr paid by writers")


def confidence_chart(points: Sequence[ConfidencePoint]) -> go.Figure:
    """Each engine's raw score over time."""
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
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, "Engine confidence over time", y_title="raw score (0-1)")


def _mark_levels(fig: go.Figure, m: LiveMetrics) -> None:
    """Dashed spot and dotted flip lines; labels point away from each other so they never overlap."""
    levels = [(x, name, colour, dash) for x, name, colour, dash in (
        (m.spot, "spot", "#e2e8f0", "dash"), (m.gamma_flip, "flip", "#eab308", "dot")) if x]  # fmt: skip
    levels.sort(key=lambda level: level[0])
    for i, (x, name, colour, dash) in enumerate(levels):
        # The lower level is labelled on its left, the higher on its right: labels grow apart.
        side = "top left" if i == 0 and len(levels) > 1 else "top right"
        fig.add_vline(x=x, line_color=colour, line_dash=dash, annotation_text=name, annotation_position=side,
                      annotation_font_color=colour)  # fmt: skip
