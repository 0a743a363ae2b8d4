"""The compact day chart of the Live page, a Vega-Lite spec like the rest of that page (app.vega).

The Live panel refreshes every second: a keyed Vega-Lite chart is updated in place, where a Plotly
chart whose data changed is mounted afresh (app.charts explains). The panels are rows of ONE
faceted view, so they share the time axis by construction and one hover selection draws the
crosshair (a rule at the nearest time) through every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.components import ist_wall_times
from app.vega import Spec, ch, empty, long_rows, mark
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
# per series, a longer day thinned evenly (newest kept): light enough to rebuild and send on every
# one-second refresh of the Live panel
MAX_POINTS = 200
HOVER = "hover"


def _thin(n: int) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.r_[np.arange(0, n, -(-n // MAX_POINTS)), n - 1])


def long_frame(series: Series, straddle: Series) -> pd.DataFrame:
    """One row per (time, series) with a finite value: the shape a faceted Vega-Lite chart reads."""
    frames = []
    for source, specs in ((series, SERIES), (straddle, STRADDLE)):
        if len(source):
            keep = _thin(len(source))
            values = {name: source.values[column][keep] for _, column, name, _, _ in specs}
            frames.append(long_rows("t", ist_wall_times(source.ts[keep]), values, "value"))
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    panel = {name: (panel, step) for panel, _, name, _, step in SERIES + STRADDLE}
    names = frame.series.to_numpy()
    frame["panel"] = [panel[n][0] for n in names]
    frame["step"] = [panel[n][1] for n in names]
    return frame


def compact_day_chart(series: Series, straddle: Series) -> Spec:
    """Spot with its levels (step lines), PCR and the ATM straddle with its VWAP, one row each."""
    frame = long_frame(series, straddle)
    if frame.empty:
        return empty("No stored snapshots yet")
    specs = SERIES + STRADDLE
    colour = ch(
        "series:N",
        scale={"domain": [s[2] for s in specs], "range": [s[3] for s in specs]},
        legend={"orient": "top", "title": None, "columns": 0},
    )
    encoding = {
        "x": ch("t:T", title=None),
        "y": ch("value:Q", title=None, scale={"zero": False}),
        "color": colour,
    }
    tooltip = [ch("t:T", format="%H:%M:%S", title="time"), ch("series:N"), ch("value:Q", format=",.2f")]
    # the hover selection: the time nearest the pointer, read from the invisible points
    hover = {
        "name": HOVER,
        "select": {
            "type": "point",
            "fields": ["t"],
            "nearest": True,
            "on": "pointerover",
            "clear": "pointerout",
        },
        "views": ["points"],
    }
    layers = [
        {
            "mark": mark("line", strokeWidth=1.5),
            "encoding": encoding,
            "transform": [{"filter": "!datum.step"}],
        },
        {
            "mark": mark("line", strokeWidth=1, interpolate="step-after"),
            "encoding": encoding,
            "transform": [{"filter": "datum.step"}],
        },
        {
            "name": "points",
            "mark": mark("point", size=40, opacity=0),
            "encoding": {**encoding, "tooltip": tooltip},
        },
        {
            "mark": mark("rule", color="#94a3b8", strokeDash=[3, 3]),
            "encoding": {"x": ch("t:T")},
            "transform": [{"filter": {"param": HOVER, "empty": False}}],
        },
    ]
    header = {"labelAngle": 0, "labelAlign": "left", "labelAnchor": "start", "labelOrient": "top"}
    return {
        "data": {"name": "day"},
        "datasets": {"day": frame},
        # a facet cannot take the container width: a fixed width that fits the wide layout
        "facet": {"row": ch("panel:N", title=None, sort=list(PANELS), header=header)},
        "spec": {"layer": layers, "height": 110, "width": WIDTH},
        "params": [hover],
        "resolve": {"scale": {"y": "independent"}},
        "config": {"view": {"strokeWidth": 0}},
    }
