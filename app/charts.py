"""Vega-Lite (Altair) charts built from snapshots and metrics. Functions from data to chart, nothing else.

Altair, not Plotly: Streamlit 1.67 derives a Plotly chart's element id from its figure, so a chart
whose data changes is unmounted and drawn afresh on every refresh (a blank frame), and Plotly's axis
auto-margins loop ("Too many auto-margin redraws"). A keyed Altair chart keeps its identity and is
updated in place. Legends sit above the plot, never on the time axis; strike charts are zoomed to
the strikes that matter and every axis says its unit.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.analytics.chain_view import pain_curve
from core.bus import ConfidencePoint, SpotPoint
from core.clock import IST
from core.domain import LiveMetrics, Signal

UP, DOWN, NEUTRAL = "#22c55e", "#ef4444", "#94a3b8"
SPOT, FLIP, PAIN = "#e2e8f0", "#eab308", "#a855f7"
MAX_POINTS = 600  # a path longer than this is thinned evenly (Vega-Lite takes at most 5,000 rows)
LEGEND = alt.Legend(orient="top", title=None, columns=4, labelLimit=160)  # wraps, never clipped


def _times(ts: Sequence[float]) -> pd.DatetimeIndex:
    """IST wall-clock times without a zone: Vega-Lite then shows them as IST whatever the browser's zone."""
    return pd.to_datetime(np.asarray(ts, dtype=float), unit="s", utc=True).tz_convert(IST).tz_localize(None)


def _finish(chart: alt.TopLevelMixin, title: str, height: int = 300) -> alt.TopLevelMixin:
    return chart.properties(title=alt.Title(title, anchor="start"), height=height).configure_view(
        strokeWidth=0
    )


def _empty(title: str) -> alt.TopLevelMixin:
    return _finish(alt.Chart(pd.DataFrame({"x": []})).mark_point(), title, height=120)


def _strike_x(domain: list[float] | None, title: str = "strike", field: str = "strike") -> alt.X:
    scale = alt.Scale(domain=domain, zero=False, nice=False) if domain else alt.Scale(zero=False)
    return alt.X(f"{field}:Q", title=title, scale=scale, axis=alt.Axis(format=",.0f"))


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


def level_marks(m: LiveMetrics, x_field: str = "strike") -> alt.LayerChart | None:
    """Spot (dashed) and gamma flip (dotted) rules with labels that point away from each other: the
    lower level is labelled on its left, the higher on its right, so the two never overlap."""
    levels = sorted(((x, n, c) for x, n, c in ((m.spot, "spot", SPOT), (m.gamma_flip, "flip", FLIP)) if x))
    if not levels:
        return None
    layers = []
    for i, (x, name, colour) in enumerate(levels):
        left = i == 0 and len(levels) > 1
        frame = pd.DataFrame({x_field: [x], "label": [f"{name} {x:,.0f}"]})
        base = alt.Chart(frame)
        dash = [6, 4] if name == "spot" else [2, 3]
        layers.append(base.mark_rule(color=colour, strokeDash=dash).encode(x=alt.X(f"{x_field}:Q")))
        layers.append(
            base.mark_text(
                align="right" if left else "left",
                dx=-4 if left else 4,
                y=6,
                baseline="top",
                color=colour,
                fontSize=11,
            ).encode(x=alt.X(f"{x_field}:Q"), text=alt.Text("label:N"))
        )
    return alt.layer(*layers)


def _with_levels(chart: alt.Chart, m: LiveMetrics, x_field: str = "strike") -> alt.LayerChart:
    marks = level_marks(m, x_field)
    return alt.layer(chart, marks) if marks is not None else alt.layer(chart)


def spot_chart(points: Sequence[SpotPoint], signals: Sequence[Signal]) -> alt.TopLevelMixin:
    """Spot with support, resistance, gamma flip, max pain, expected-move bands and signal markers."""
    if not points:
        return _empty("Spot (waiting for data)")
    if len(points) > MAX_POINTS:
        points = list(points)[:: -(-len(points) // MAX_POINTS)] + [points[-1]]
    times = _times([p.ts for p in points])
    series = {
        "spot": [p.spot for p in points],
        "support": [p.support for p in points],
        "resistance": [p.resistance for p in points],
        "gamma flip": [p.gamma_flip for p in points],
        "max pain": [p.max_pain for p in points],
        "EM -1σ": [p.em_bands[1] if p.em_bands else None for p in points],
        "EM +1σ": [p.em_bands[2] if p.em_bands else None for p in points],
    }
    frame = (
        pd.DataFrame({"time": times, **series}).melt("time", var_name="series", value_name="level").dropna()
    )
    colours = alt.Scale(domain=list(series), range=[SPOT, UP, DOWN, FLIP, PAIN, "#64748b", "#64748b"])
    dashes = alt.Scale(domain=list(series), range=[[1, 0]] * 5 + [[3, 3]] * 2)
    lines = (
        alt.Chart(frame)
        .mark_line(interpolate="step-after", strokeWidth=1.5)
        .encode(
            x=alt.X("time:T", title="time (IST)"),
            y=alt.Y(
                "level:Q", title="index points", scale=alt.Scale(zero=False), axis=alt.Axis(format=",.0f")
            ),
            color=alt.Color("series:N", scale=colours, legend=LEGEND),
            strokeDash=alt.StrokeDash("series:N", scale=dashes, legend=None),
            tooltip=[
                alt.Tooltip("time:T", format="%H:%M:%S"),
                alt.Tooltip("series:N"),
                alt.Tooltip("level:Q", format=",.2f"),
            ],
        )
    )
    start = points[0].ts
    marks = [s for s in signals if s.ts >= start and s.spot_price]
    layers: list[alt.Chart] = [lines]
    if marks:
        sig = pd.DataFrame(
            {
                "time": _times([s.ts for s in marks]),
                "spot": [s.spot_price for s in marks],
                "direction": [s.direction for s in marks],
                "signal": [
                    f"{s.engine.removesuffix('Engine')}: {s.signal} ({s.confidence:.2f})" for s in marks
                ],
            }
        )
        layers.append(
            alt.Chart(sig)
            .mark_point(size=110, filled=True)
            .encode(
                x=alt.X("time:T"),
                y=alt.Y("spot:Q"),
                shape=alt.Shape(
                    "direction:N",
                    scale=alt.Scale(
                        domain=["UP", "DOWN", "NONE"], range=["triangle-up", "triangle-down", "circle"]
                    ),
                    legend=None,
                ),  # fmt: skip
                fill=alt.Fill(
                    "direction:N",
                    scale=alt.Scale(domain=["UP", "DOWN", "NONE"], range=[UP, DOWN, NEUTRAL]),
                    legend=None,
                ),  # fmt: skip
                tooltip=[
                    alt.Tooltip("signal:N"),
                    alt.Tooltip("time:T", format="%H:%M:%S"),
                    alt.Tooltip("spot:Q", format=",.2f"),
                ],
            )
        )
    return _finish(alt.layer(*layers), "Spot with levels", height=380)


def gex_by_strike_chart(m: LiveMetrics) -> alt.TopLevelMixin:
    """Net GEX per strike (₹ Cr per 1 % move), spot and flip marked, zoomed to strikes that carry GEX."""
    if not len(m.strikes):
        return _empty("GEX by strike (no chain yet)")
    gex = np.asarray(m.gex_by_strike, dtype=float) / 1e7
    domain = focus_range(m, [gex])
    half = 0.4 * (m.strike_step or 50.0)
    frame = pd.DataFrame({"strike": m.strikes, "lo": np.asarray(m.strikes) - half,
                          "hi": np.asarray(m.strikes) + half, "gex": gex, "sign": np.where(gex >= 0, "+", "-")})  # fmt: skip
    if domain:
        frame = frame[(frame.strike >= domain[0]) & (frame.strike <= domain[1])]
    bars = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=_strike_x(domain, field="lo"),
            x2=alt.X2("hi"),
            y=alt.Y("gex:Q", title="₹ Cr per 1 % move"),
            y2=alt.datum(0),
            color=alt.Color("sign:N", scale=alt.Scale(domain=["+", "-"], range=[UP, DOWN]), legend=None),
            tooltip=[
                alt.Tooltip("strike:Q", format=",.0f"),
                alt.Tooltip("gex:Q", title="₹ Cr", format=",.1f"),
            ],
        )
    )
    return _finish(_with_levels(bars, m), f"GEX by strike ({m.gex_convention})")


def oi_chart(m: LiveMetrics, unit: str = "contracts") -> alt.TopLevelMixin:
    """Call and put OI per strike side by side, with the day's OI change as lines."""
    if not len(m.strikes):
        return _empty("OI by strike (no chain yet)")
    div = {"contracts": float(max(m.lot_size, 1)), "lakh units": 1e5}.get(unit, 1.0)
    strikes = np.asarray(m.strikes, dtype=float)
    call_oi, put_oi = np.asarray(m.call_oi, dtype=float) / div, np.asarray(m.put_oi, dtype=float) / div
    domain = focus_range(m, [call_oi, put_oi], share=0.25)
    w = 0.38 * (m.strike_step or 50.0)
    rows = []
    for side, oi, lo, hi in (("call OI", call_oi, -w, 0.0), ("put OI", put_oi, 0.0, w)):
        rows.append(
            pd.DataFrame(
                {"strike": strikes, "lo": strikes + lo, "hi": strikes + hi, "oi": oi, "series": side}
            )
        )
    bars_frame = pd.concat(rows)
    changes = []
    if len(m.call_oi_change) == len(strikes):
        for side, d in (("call ΔOI", m.call_oi_change), ("put ΔOI", m.put_oi_change)):
            changes.append(
                pd.DataFrame({"strike": strikes, "oi": np.asarray(d, dtype=float) / div, "series": side})
            )
    if domain:
        bars_frame = bars_frame[(bars_frame.strike >= domain[0]) & (bars_frame.strike <= domain[1])]
        changes = [c[(c.strike >= domain[0]) & (c.strike <= domain[1])] for c in changes]
    colours = alt.Scale(
        domain=["call OI", "put OI", "call ΔOI", "put ΔOI"], range=[DOWN, UP, "#fca5a5", "#86efac"]
    )
    y = alt.Y("oi:Q", title=f"OI ({unit})", axis=alt.Axis(format=",.3~s"))
    tip = [alt.Tooltip("strike:Q", format=",.0f"), "series:N", alt.Tooltip("oi:Q", format=",.2f")]
    bars = (
        alt.Chart(bars_frame)
        .mark_rect(opacity=0.8)
        .encode(
            x=_strike_x(domain, field="lo"),
            x2=alt.X2("hi"),
            y=y,
            y2=alt.datum(0),
            color=alt.Color("series:N", scale=colours, legend=LEGEND),
            tooltip=tip,
        )  # fmt: skip
    )
    layers = [bars]
    if changes:
        layers.append(
            alt.Chart(pd.concat(changes))
            .mark_line(point=True)
            .encode(
                x=_strike_x(domain),
                y=y,
                color=alt.Color("series:N", scale=colours, legend=LEGEND),
                tooltip=tip,
            )
        )
    marks = level_marks(m)
    chart = alt.layer(*layers, marks) if marks is not None else alt.layer(*layers)
    return _finish(chart, "Open interest by strike (ΔOI since previous close)")


def gex_profile_chart(m: LiveMetrics) -> alt.TopLevelMixin:
    """Net GEX as a function of hypothetical spot (the flip grid)."""
    if not len(m.gex_profile_spot):
        return _empty("GEX profile (unavailable)")
    frame = pd.DataFrame({"strike": m.gex_profile_spot, "gex": np.asarray(m.gex_profile, dtype=float) / 1e7})
    area = (
        alt.Chart(frame)
        .mark_area(opacity=0.5, line=True)
        .encode(
            x=_strike_x(None, "hypothetical spot"),
            y=alt.Y("gex:Q", title="₹ Cr per 1 % move"),
            tooltip=[
                alt.Tooltip("strike:Q", title="spot", format=",.0f"),
                alt.Tooltip("gex:Q", format=",.1f"),
            ],
        )
    )
    return _finish(_with_levels(area, m), "Net GEX vs spot")


def iv_smile_chart(m: LiveMetrics) -> alt.TopLevelMixin:
    """Call and put implied vol per strike, zoomed to strikes with open interest."""
    if not len(m.strikes):
        return _empty("IV smile (no chain yet)")
    domain = focus_range(m, [m.call_oi, m.put_oi], share=0.25)
    frame = pd.DataFrame({"strike": m.strikes, "call IV": np.asarray(m.call_iv, dtype=float) * 100,
                          "put IV": np.asarray(m.put_iv, dtype=float) * 100})  # fmt: skip
    if domain:
        frame = frame[(frame.strike >= domain[0]) & (frame.strike <= domain[1])]
    frame = frame.melt("strike", var_name="series", value_name="iv").dropna()
    lines = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=_strike_x(domain),
            y=alt.Y("iv:Q", title="IV %", scale=alt.Scale(zero=False)),
            color=alt.Color("series:N", legend=LEGEND),
            tooltip=[alt.Tooltip("strike:Q", format=",.0f"), "series:N", alt.Tooltip("iv:Q", format=".2f")],
        )
    )
    return _finish(_with_levels(lines, m), "IV smile")


def max_pain_chart(m: LiveMetrics) -> alt.TopLevelMixin:
    """Writers' total payout if the index settles at each strike; its minimum is max pain."""
    if not len(m.strikes) or m.max_pain is None:
        return _empty("Max-pain curve (no open interest yet)")
    domain = focus_range(m, [m.call_oi, m.put_oi], share=0.25)
    pain = pain_curve(np.asarray(m.strikes), np.asarray(m.call_oi), np.asarray(m.put_oi)) / 1e7
    frame = pd.DataFrame({"strike": m.strikes, "pain": pain})
    if domain:
        frame = frame[(frame.strike >= domain[0]) & (frame.strike <= domain[1])]
    line = (
        alt.Chart(frame)
        .mark_line(point=True, color=PAIN)
        .encode(
            x=_strike_x(domain, "settlement price (strike)"),
            y=alt.Y("pain:Q", title="₹ Cr paid by writers", scale=alt.Scale(zero=False)),
            tooltip=[
                alt.Tooltip("strike:Q", format=",.0f"),
                alt.Tooltip("pain:Q", title="₹ Cr", format=",.0f"),
            ],
        )
    )
    pin = pd.DataFrame({"strike": [m.max_pain], "label": [f"max pain {m.max_pain:,.0f}"]})
    rule = alt.Chart(pin).mark_rule(color=PAIN, strokeDash=[2, 3]).encode(x=alt.X("strike:Q"))
    text = (
        alt.Chart(pin)
        .mark_text(align="left", dx=4, y=20, color=PAIN)
        .encode(x=alt.X("strike:Q"), text=alt.Text("label:N"))
    )
    return _finish(
        alt.layer(line, rule, text, *([level_marks(m)] if level_marks(m) else [])), "Max-pain curve"
    )


def confidence_chart(points: Sequence[ConfidencePoint]) -> alt.TopLevelMixin:
    """Each engine's raw score over time; the legend above the plot, clear of the time axis."""
    if not points:
        return _empty("Engine confidence (waiting for data)")
    cycles = sorted({p.ts for p in points})
    if len(cycles) > MAX_POINTS:  # thin whole cycles, so every engine keeps the same moments
        keep = set(cycles[:: -(-len(cycles) // MAX_POINTS)])
        points = [p for p in points if p.ts in keep]
    frame = pd.DataFrame(
        {
            "time": _times([p.ts for p in points]),
            "engine": [p.engine.removesuffix("Engine") for p in points],
            "score": [p.raw_score for p in points],
        }
    )
    lines = (
        alt.Chart(frame)
        .mark_line(strokeWidth=1.5)
        .encode(
            x=alt.X("time:T", title="time (IST)"),
            y=alt.Y("score:Q", title="raw score (0-1)", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("engine:N", legend=LEGEND),
            tooltip=[
                alt.Tooltip("engine:N"),
                alt.Tooltip("time:T", format="%H:%M:%S"),
                alt.Tooltip("score:Q", format=".2f"),
            ],
        )
    )
    return _finish(lines, "Engine confidence over time")
