"""Vega-Lite specs as plain dicts, which Streamlit's `st.vega_lite_chart` draws as they are.

Not Altair objects: the Live panel rebuilds its charts every second, and Altair validates every
object it builds against the Vega-Lite JSON schema and deep-copies the chart on each `.properties`,
`layer` and `to_dict`. That was about three quarters of a Live rerun's server time. These dicts are
the same Vega-Lite; the tests validate every chart against the schema Altair ships
(tests/app/test_chart_specs.py), so the check runs once per change instead of once per refresh.

Data travels as pandas DataFrames in the spec's top-level `datasets`, which Streamlit sends as Arrow,
as it does for Altair charts; each layer names the dataset it reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

Spec = dict[str, Any]
KINDS = {"Q": "quantitative", "N": "nominal", "T": "temporal"}
LEGEND: Spec = {"orient": "top", "title": None, "columns": 4, "labelLimit": 160}  # wraps, never clipped


def ch(shorthand: str, **props: Any) -> Spec:
    """An encoding channel from Altair-style shorthand: `ch("gex:Q", title="₹ Cr")`; no type for x2/y2."""
    field, _, kind = shorthand.partition(":")
    return {"field": field, **({"type": KINDS[kind]} if kind else {}), **props}


def long_rows(
    x_name: str, x: Sequence[Any] | np.ndarray, series: Mapping[str, Any], value_name: str
) -> pd.DataFrame:
    """One row per (x, series) with a finite value, series after series: `melt` then `dropna`, built
    from arrays in one frame (a frame per series, or filtering string columns, costs a refresh more)."""
    xs = np.asarray(x)
    values = [np.asarray(v, dtype=float) for v in series.values()]
    ok = [np.isfinite(v) for v in values]
    return pd.DataFrame({
        x_name: np.concatenate([xs[k] for k in ok]) if ok else xs[:0],
        "series": np.repeat(list(series), [int(k.sum()) for k in ok]),
        value_name: np.concatenate([v[k] for v, k in zip(values, ok, strict=True)]) if ok else [],
    })  # fmt: skip


def mark(kind: str, **props: Any) -> Spec:
    return {"type": kind, **props}


class Layers:
    """A layered chart being assembled: named datasets and the layers that read them."""

    def __init__(self) -> None:
        self.layers: list[Spec] = []
        self.datasets: dict[str, pd.DataFrame] = {}

    def add(self, name: str, data: pd.DataFrame, mark: Spec, **encoding: Spec) -> Layers:
        self.datasets[name] = data
        self.layers.append({"data": {"name": name}, "mark": mark, "encoding": encoding})
        return self

    def note(self, row: Spec, mark: Spec, **encoding: Spec) -> Layers:
        """A layer drawn from one row carried inline in the spec (a level, a pin and its label): Streamlit
        sends each named dataset as its own Arrow table, which costs a refresh more than a row of JSON."""
        self.layers.append({"data": {"values": [row]}, "mark": mark, "encoding": encoding})
        return self

    def chart(self, title: str, height: int = 300) -> Spec:
        return finish({"layer": self.layers, "datasets": self.datasets}, title, height)


def finish(spec: Spec, title: str, height: int = 300) -> Spec:
    """Title at the left, fixed height, no frame around the plot."""
    return {
        **spec,
        "title": {"text": title, "anchor": "start"},
        "height": height,
        "config": {"view": {"strokeWidth": 0}},
    }


def empty(title: str) -> Spec:
    """A titled blank chart, for a series that has no data yet."""
    return finish(
        {"data": {"name": "empty"}, "mark": mark("point"), "datasets": {"empty": pd.DataFrame({"x": []})}},
        title,
        height=120,
    )


def as_json(spec: Spec) -> Spec:
    """The spec with each dataset as JSON records (times as ISO strings): what Vega-Lite receives once
    Streamlit has sent the DataFrames, in the form a schema validator or a test can read."""
    out = dict(spec)
    if "datasets" in spec:
        out["datasets"] = {
            name: [
                {k: v.isoformat() if isinstance(v, pd.Timestamp) else v for k, v in row.items()}
                for row in frame.to_dict("records")
            ]
            for name, frame in spec["datasets"].items()
        }
    return out
