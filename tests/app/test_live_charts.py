"""Chart specs (issue 13, defect 9): spot and flip labels point away from each other, legends sit
above the plot (never on the time axis), strike charts are zoomed to the strikes that matter and
every axis says its unit; times are shown in IST."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np

from app import charts
from app.vega import as_json
from core.bus import ConfidencePoint
from core.clock import IST
from core.domain import frozen_array
from tests.app.test_chain_page import _metrics


def _chain_metrics(**overrides):
    n = 41  # strikes 24,000 .. 26,000
    gex = np.zeros(n)
    gex[18:24] = np.linspace(-5e9, 5e9, 6)  # GEX only near the money
    bell = frozen_array(1e6 * np.exp(-0.5 * ((np.arange(n) - 20) / 3.0) ** 2))  # OI near the money
    values = dict(
        call_oi=bell, put_oi=bell, gamma_flip=25_030.0, max_pain=25_000.0, expected_move=120.0, gex_by_strike=frozen_array(gex),
        call_oi_change=frozen_array(np.zeros(n)), put_oi_change=frozen_array(np.ones(n)),
    )  # fmt: skip
    values.update(overrides)
    return _metrics(**values)


def _layers(spec: dict) -> list[dict]:
    out = []
    for layer in spec.get("layer", [spec]):
        out.extend(_layers(layer) if "layer" in layer else [layer])
    return out


def _label_marks(spec: dict) -> dict[str, dict]:
    marks = {}
    for layer in _layers(spec):
        mark = layer.get("mark")
        if isinstance(mark, dict) and mark.get("type") == "text":
            label = layer["data"]["values"][0]["label"]
            marks[label.split(" ")[0]] = mark
    return marks


def test_spot_and_flip_labels_point_away_from_each_other():
    for spot, flip in ((25_010.0, 25_030.0), (25_030.0, 25_010.0)):
        spec = as_json(charts.gex_by_strike_chart(_chain_metrics(spot=spot, gamma_flip=flip)))
        marks = _label_marks(spec)
        lower, higher = ("spot", "flip") if spot < flip else ("flip", "spot")
        assert marks[lower]["align"] == "right" and marks[lower]["dx"] < 0
        assert marks[higher]["align"] == "left" and marks[higher]["dx"] > 0


def test_strike_charts_zoom_to_the_strikes_that_matter_with_axis_units():
    m = _chain_metrics()
    for chart, y_title in (
        (charts.gex_by_strike_chart(m), "₹ Cr per 1 % move"),
        (charts.oi_chart(m, "lakh units"), "OI (lakh units)"),
    ):
        spec = as_json(chart)
        first = _layers(spec)[0]
        x = first["encoding"]["x"]
        lo, hi = x["scale"]["domain"]
        assert hi - lo < 0.8 * (26_000 - 24_000) and lo <= m.spot <= hi
        assert x["title"] == "strike" and first["encoding"]["y"]["title"] == y_title


def test_legends_sit_above_the_plot_and_times_are_ist():
    points = [
        ConfidencePoint(1_796_000_000.0 + i, e, "UP", 0.5, True) for i in range(50) for e in ("AEngine", "B")
    ]
    spec = as_json(charts.confidence_chart(points))
    (layer,) = _layers(spec)
    enc = layer["encoding"]
    assert enc["color"]["legend"]["orient"] == "top"
    assert enc["x"]["title"] == "time (IST)"
    first = spec["datasets"][layer["data"]["name"]][0]["time"]
    # 00:53:20 UTC, sent as 06:23:20 with no zone, so the browser shows IST wherever it is.
    assert first == datetime.fromtimestamp(1_796_000_000.0, IST).strftime("%Y-%m-%dT%H:%M:%S")
    assert json.dumps(spec).count('"engine"') > 0


def test_the_max_pain_label_sits_on_a_line_below_the_spot_and_flip_labels():
    """Max pain 25,000 right beside the flip (25,030): the labels are stacked, never drawn over each other."""
    marks = _label_marks(as_json(charts.max_pain_chart(_chain_metrics(spot=24_990.0, gamma_flip=25_030.0))))
    pain = marks["max"]
    for level in (marks["spot"], marks["flip"]):
        assert pain.get("baseline") == level.get("baseline") == "top"
        assert pain["y"] >= level["y"] + level["fontSize"] + 2
