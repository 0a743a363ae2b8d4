"""The compact day chart of the Live page, in Vega-Lite (Altair) like the rest of that page.

The Live panel refreshes every second: a keyed Altair chart is updated in place, where a Plotly
chart whose data changed is mounted afresh (app.charts explains). The panels are rows of ONE
faceted view, so they share the time axis by construction and one hover selection draws the
crosshair (a rule at the nearest time) through every row.
"""

from __future__ import annotations

from datetime import datetime

import altair as alt
import numpy as np
import pandas as pd

from core.clock import IST
from core.storage.intraday import Series

PANELS = ("Spot and levels", "PCR", "ATM straddle")
# (panel, column, legend name, colour, step line?)
SERIES = (
    (PANELS[0], "spot", "spot", "#e2e8f0", False),
    (PANELS[0], "max_pain", "max pain", "#a855f7", True),
    (PANELS[0], "support", "support", "#22c55e", True),
    (PANELS[0], "resistance", "resistance", "#ef4444", True),
    (PANELS[0], "gamma_flip", "gamma flip", "#eab308", True),
    (PANELS[1], "pcr_oi", "PCR OI", "#38bdf8", False),
    (PANELS[1], "pcr_volume", "PCR volume", "#f472b6", False),
)
STRADDLE = (
    (PANELS[2], "straddle", "straddle", "#2dd4bf", False),
    (PANELS[2], "vwap", "straddle VWAP", "#fb923c", False),
)
WIDTH = 900
# per series, a longer day thinned evenly (newest kept): under the 5,000 rows Vega-Lite takes from
# Altair, and light enough to rebuild on every one-second refresh of the Live panel
MAX_POINTS = 200


def _times(ts: np.ndarray) -> list[datetime]:
    """IST wall-clock times without a zone, so Vega-Lite shows IST whatever the browser's zone."""
    return [datetime.fromtimestamp(float(t), IST).replace(tzinfo=None) for t in ts]


def _thin(n: int) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.r_[np.arange(0, n, -(-n // MAX_POINTS)), n - 1])


def long_frame(series: Series, straddle: Series) -> pd.DataFrame:
    """One row per (time, series) with a finite value: the shape a faceted Vega-Lite chart reads."""
    frames = []
    for source, specs in ((series, SERIES), (straddle, STRADDLE)):
        if not len(source):
            continue
        keep = _thin(len(source))
        t = _times(source.ts[keep])
        for panel, column, name, _, step in specs:
            values = source.values[column][keep]
            ok = np.isfinite(values)
            frames.append(pd.DataFrame({
                "t": np.asarray(t, dtype="datetime64[ns]")[ok], "panel": panel, "series": name,
                "value": values[ok], "step": step,
            }))  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def compact_day_chart(series: Series, straddle: Series) -> alt.TopLevelMixin:
    """Spot with its levels (step lines), PCR and the ATM straddle with its VWAP, one row each."""
    frame = long_frame(series, straddle)
    if frame.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point().properties(title="No stored snapshots yet")
    specs = SERIES + STRADDLE
    colour = alt.Color(
        "series:N",
        scale=alt.Scale(domain=[s[2] for s in specs], range=[s[3] for s in specs]),
        legend=alt.Legend(orient="top", title=None, columns=0),
    )
    hover = alt.selection_point(fields=["t"], nearest=True, on="pointerover", clear="pointerout", empty=False)
    x = alt.X("t:T", title=None)
    y = alt.Y("value:Q", title=None, scale=alt.Scale(zero=False))
    base = alt.Chart().encode(x=x, y=y, color=colour)
    smooth = base.mark_line(strokeWidth=1.5).transform_filter("!datum.step")
    steps = base.mark_line(strokeWidth=1, interpolate="step-after").transform_filter("datum.step")
    points = (
        base.mark_point(size=40, opacity=0)
        .encode(
            tooltip=[
                alt.Tooltip("t:T", format="%H:%M:%S", title="time"),
                "series:N",
                alt.Tooltip("value:Q", format=",.2f"),
            ]  # fmt: skip
        )
        .add_params(hover)
    )
    rule = alt.Chart().mark_rule(color="#94a3b8", strokeDash=[3, 3]).encode(x="t:T").transform_filter(hover)
    # a facet cannot take the container width: a fixed width that fits the wide layout
    chart = alt.layer(smooth, steps, points, rule, data=frame).properties(height=110, width=WIDTH)
    return (
        chart.facet(
            row=alt.Row(
                "panel:N",
                title=None,
                sort=list(PANELS),
                header=alt.Header(labelAngle=0, labelAlign="left", labelAnchor="start", labelOrient="top"),
            )
        )  # fmt: skip
        .resolve_scale(y="independent")
        .configure_view(strokeWidth=0)
    )
