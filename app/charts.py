"""Vega-Lite charts built from snapshots and metrics. Functions from data to chart spec, nothing else.

Vega-Lite, not Plotly: Streamlit 1.67 derives a Plotly chart's element id from its figure, so a chart
whose data changes is unmounted and drawn afresh on every refresh (a blank frame), and Plotly's axis
auto-margins loop ("Too many auto-margin redraws"). A keyed Vega-Lite chart keeps its identity and is
updated in place. The specs are plain dicts (app.vega says why not Altair objects). Legends sit above
the plot, never on the time axis; strike charts are zoomed to the strikes that matter and every axis
says its unit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from app.components import ist_wall_times
from app.vega import LEGEND, Layers, Spec, ch, empty, long_rows, mark
from core.analytics.chain_view import pain_curve
from core.bus import ConfidencePoint, SpotPoint
from core.domain import LiveMetrics, Signal

UP, DOWN, NEUTRAL = "#22c55e", "#ef4444", "#94a3b8"
SPOT, FLIP, PAIN = "#e2e8f0", "#eab308", "#a855f7"
MAX_POINTS = 600  # a path longer than this is thinned evenly: every refresh sends it again
CRORE = 1e7


def _strike_x(domain: list[float] | None, title: str = "strike", field: str = "strike") -> Spec:
    scale = {"domain": domain, "zero": False, "nice": False} if domain else {"zero": False}
    return ch(f"{field}:Q", title=title, scale=scale, axis={"format": ",.0f"})


def _in_view(strikes: np.ndarray, domain: list[float] | None) -> np.ndarray:
    """Mask of the strikes inside the chart's x domain (all of them without one): the arrays are cut
    before any frame is built, which costs far less than filtering the frames."""
    return (strikes >= domain[0]) & (strikes <= domain[1]) if domain else np.ones(len(strikes), dtype=bool)


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


def level_marks(chart: Layers, m: LiveMetrics, x_field: str = "strike") -> Layers:
    """Adds spot (dashed) and gamma flip (dotted) rules with labels that point away from each other:
    the lower level is labelled on its left, the higher on its right, so the two never overlap."""
    levels = sorted(((x, n, c) for x, n, c in ((m.spot, "spot", SPOT), (m.gamma_flip, "flip", FLIP)) if x))
    for i, (x, name, colour) in enumerate(levels):
        left = i == 0 and len(levels) > 1
        row = {x_field: x, "label": f"{name} {x:,.0f}"}
        dash = [6, 4] if name == "spot" else [2, 3]
        at = ch(f"{x_field}:Q")
        chart.note(row, mark("rule", color=colour, strokeDash=dash), x=at)
        text = mark(
            "text",
            align="right" if left else "left",
            dx=-4 if left else 4,
            y=6,
            baseline="top",
            color=colour,
            fontSize=11,
        )
        chart.note(row, text, x=at, text=ch("label:N"))
    return chart


def spot_chart(points: Sequence[SpotPoint], signals: Sequence[Signal]) -> Spec:
    """Spot with support, resistance, gamma flip, max pain, expected-move bands and signal markers."""
    if not points:
        return empty("Spot (waiting for data)")
    if len(points) > MAX_POINTS:
        points = list(points)[:: -(-len(points) // MAX_POINTS)] + [points[-1]]
    times = ist_wall_times([p.ts for p in points])
    series = {
        "spot": [p.spot for p in points],
        "support": [p.support for p in points],
        "resistance": [p.resistance for p in points],
        "gamma flip": [p.gamma_flip for p in points],
        "max pain": [p.max_pain for p in points],
        "EM -1σ": [p.em_bands[1] if p.em_bands else None for p in points],
        "EM +1σ": [p.em_bands[2] if p.em_bands else None for p in points],
    }
    frame = long_rows("time", times, series, "level")
    names = list(series)
    chart = Layers().add(
        "levels",
        frame,
        mark("line", interpolate="step-after", strokeWidth=1.5),
        x=ch("time:T", title="time (IST)"),
        y=ch("level:Q", title="index points", scale={"zero": False}, axis={"format": ",.0f"}),
        color=ch(
            "series:N",
            scale={"domain": names, "range": [SPOT, UP, DOWN, FLIP, PAIN, "#64748b", "#64748b"]},
            legend=LEGEND,
        ),
        strokeDash=ch("series:N", scale={"domain": names, "range": [[1, 0]] * 5 + [[3, 3]] * 2}, legend=None),
        tooltip=[ch("time:T", format="%H:%M:%S"), ch("series:N"), ch("level:Q", format=",.2f")],
    )
    start = points[0].ts
    marks = [s for s in signals if s.ts >= start and s.spot_price]
    if marks:
        sig = pd.DataFrame(
            {
                "time": ist_wall_times([s.ts for s in marks]),
                "spot": [s.spot_price for s in marks],
                "direction": [s.direction for s in marks],
                "signal": [
                    f"{s.engine.removesuffix('Engine')}: {s.signal} ({s.confidence:.2f})" for s in marks
                ],
            }
        )
        directions = ["UP", "DOWN", "NONE"]
        chart.add(
            "signals",
            sig,
            mark("point", size=110, filled=True),
            x=ch("time:T"),
            y=ch("spot:Q"),
            shape=ch(
                "direction:N",
                scale={"domain": directions, "range": ["triangle-up", "triangle-down", "circle"]},
                legend=None,
            ),
            fill=ch("direction:N", scale={"domain": directions, "range": [UP, DOWN, NEUTRAL]}, legend=None),
            tooltip=[ch("signal:N"), ch("time:T", format="%H:%M:%S"), ch("spot:Q", format=",.2f")],
        )
    return chart.chart("Spot with levels", height=380)


def gex_by_strike_chart(m: LiveMetrics) -> Spec:
    """Net GEX per strike (₹ Cr per 1 % move), spot and flip marked, zoomed to strikes that carry GEX."""
    if not len(m.strikes):
        return empty("GEX by strike (no chain yet)")
    gex = np.asarray(m.gex_by_strike, dtype=float) / CRORE
    domain = focus_range(m, [gex])
    half = 0.4 * (m.strike_step or 50.0)
    strikes = np.asarray(m.strikes, dtype=float)
    keep = _in_view(strikes, domain)
    strikes, gex = strikes[keep], gex[keep]
    frame = pd.DataFrame({"strike": strikes, "lo": strikes - half, "hi": strikes + half, "gex": gex,
                          "sign": np.where(gex >= 0, "+", "-")})  # fmt: skip
    chart = Layers().add(
        "gex",
        frame,
        mark("rect"),
        x=_strike_x(domain, field="lo"),
        x2=ch("hi"),
        y=ch("gex:Q", title="₹ Cr per 1 % move"),
        y2={"datum": 0},
        color=ch("sign:N", scale={"domain": ["+", "-"], "range": [UP, DOWN]}, legend=None),
        tooltip=[ch("strike:Q", format=",.0f"), ch("gex:Q", title="₹ Cr", format=",.1f")],
    )
    return level_marks(chart, m).chart(f"GEX by strike ({m.gex_convention})")


def oi_chart(m: LiveMetrics, unit: str = "contracts") -> Spec:
    """Call and put OI per strike side by side, with the day's OI change as lines."""
    if not len(m.strikes):
        return empty("OI by strike (no chain yet)")
    div = {"contracts": float(max(m.lot_size, 1)), "lakh units": 1e5}.get(unit, 1.0)
    strikes = np.asarray(m.strikes, dtype=float)
    call_oi, put_oi = np.asarray(m.call_oi, dtype=float) / div, np.asarray(m.put_oi, dtype=float) / div
    domain = focus_range(m, [call_oi, put_oi], share=0.25)
    w = 0.38 * (m.strike_step or 50.0)
    keep = _in_view(strikes, domain)
    k = strikes[keep]
    both = np.r_[k, k]  # calls, then puts

    def sides(call: str, put: str) -> np.ndarray:
        return np.repeat([call, put], len(k))

    bars = pd.DataFrame({"strike": both, "lo": np.r_[k - w, k], "hi": np.r_[k, k + w],
                         "oi": np.r_[call_oi[keep], put_oi[keep]], "series": sides("call OI", "put OI")})  # fmt: skip
    colour = ch(
        "series:N",
        legend=LEGEND,
        scale={
            "domain": ["call OI", "put OI", "call ΔOI", "put ΔOI"],
            "range": [DOWN, UP, "#fca5a5", "#86efac"],
        },
    )
    y = ch("oi:Q", title=f"OI ({unit})", axis={"format": ",.3~s"})
    tip = [ch("strike:Q", format=",.0f"), ch("series:N"), ch("oi:Q", format=",.2f")]
    chart = Layers().add(
        "oi",
        bars,
        mark("rect", opacity=0.8),
        x=_strike_x(domain, field="lo"),
        x2=ch("hi"),
        y=y,
        y2={"datum": 0},
        color=colour,
        tooltip=tip,
    )
    if len(m.call_oi_change) == len(strikes):
        change = np.r_[
            np.asarray(m.call_oi_change, dtype=float)[keep], np.asarray(m.put_oi_change, dtype=float)[keep]
        ]
        changes = pd.DataFrame({"strike": both, "oi": change / div, "series": sides("call ΔOI", "put ΔOI")})
        chart.add(
            "oi change",
            changes,
            mark("line", point=True),
            x=_strike_x(domain),
            y=y,
            color=colour,
            tooltip=tip,
        )
    return level_marks(chart, m).chart("Open interest by strike (ΔOI since previous close)")


def gex_profile_chart(m: LiveMetrics) -> Spec:
    """Net GEX as a function of hypothetical spot (the flip grid)."""
    if not len(m.gex_profile_spot):
        return empty("GEX profile (unavailable)")
    frame = pd.DataFrame(
        {"strike": m.gex_profile_spot, "gex": np.asarray(m.gex_profile, dtype=float) / CRORE}
    )
    chart = Layers().add(
        "profile",
        frame,
        mark("area", opacity=0.5, line=True),
        x=_strike_x(None, "hypothetical spot"),
        y=ch("gex:Q", title="₹ Cr per 1 % move"),
        tooltip=[ch("strike:Q", title="spot", format=",.0f"), ch("gex:Q", format=",.1f")],
    )
    return level_marks(chart, m).chart("Net GEX vs spot")


def iv_smile_chart(m: LiveMetrics) -> Spec:
    """Call and put implied vol per strike, zoomed to strikes with open interest."""
    if not len(m.strikes):
        return empty("IV smile (no chain yet)")
    domain = focus_range(m, [m.call_oi, m.put_oi], share=0.25)
    strikes = np.asarray(m.strikes, dtype=float)
    keep = _in_view(strikes, domain)
    iv = {
        "call IV": np.asarray(m.call_iv, dtype=float)[keep] * 100,
        "put IV": np.asarray(m.put_iv, dtype=float)[keep] * 100,
    }
    frame = long_rows("strike", strikes[keep], iv, "iv")
    chart = Layers().add(
        "smile",
        frame,
        mark("line", point=True),
        x=_strike_x(domain),
        y=ch("iv:Q", title="IV %", scale={"zero": False}),
        color=ch("series:N", legend=LEGEND),
        tooltip=[ch("strike:Q", format=",.0f"), ch("series:N"), ch("iv:Q", format=".2f")],
    )
    return level_marks(chart, m).chart("IV smile")


def max_pain_chart(m: LiveMetrics) -> Spec:
    """Writers' total payout if the index settles at each strike; its minimum is max pain."""
    if not len(m.strikes) or m.max_pain is None:
        return empty("Max-pain curve (no open interest yet)")
    domain = focus_range(m, [m.call_oi, m.put_oi], share=0.25)
    strikes = np.asarray(m.strikes, dtype=float)
    pain = pain_curve(strikes, np.asarray(m.call_oi), np.asarray(m.put_oi)) / CRORE
    keep = _in_view(strikes, domain)
    chart = Layers().add(
        "pain",
        pd.DataFrame({"strike": strikes[keep], "pain": pain[keep]}),
        mark("line", point=True, color=PAIN),
        x=_strike_x(domain, "settlement price (strike)"),
        y=ch("pain:Q", title="₹ Cr paid by writers", scale={"zero": False}),
        tooltip=[ch("strike:Q", format=",.0f"), ch("pain:Q", title="₹ Cr", format=",.0f")],
    )
    pin = {"strike": m.max_pain, "label": f"max pain {m.max_pain:,.0f}"}
    chart.note(pin, mark("rule", color=PAIN, strokeDash=[2, 3]), x=ch("strike:Q"))
    # a line under the spot and flip labels (y 6, 11 px), so a max pain next to either never overlaps it
    label = mark("text", align="left", dx=4, y=22, baseline="top", color=PAIN, fontSize=11)
    chart.note(pin, label, x=ch("strike:Q"), text=ch("label:N"))
    return level_marks(chart, m).chart("Max-pain curve")


def confidence_chart(points: Sequence[ConfidencePoint]) -> Spec:
    """Each engine's raw score over time; the legend above the plot, clear of the time axis."""
    if not points:
        return empty("Engine confidence (waiting for data)")
    cycles = sorted({p.ts for p in points})
    if len(cycles) > MAX_POINTS:  # thin whole cycles, so every engine keeps the same moments
        keep = set(cycles[:: -(-len(cycles) // MAX_POINTS)])
        points = [p for p in points if p.ts in keep]
    frame = pd.DataFrame(
        {
            "time": ist_wall_times([p.ts for p in points]),
            "engine": [p.engine.removesuffix("Engine") for p in points],
            "score": [p.raw_score for p in points],
        }
    )
    chart = Layers().add(
        "confidence",
        frame,
        mark("line", strokeWidth=1.5),
        x=ch("time:T", title="time (IST)"),
        y=ch("score:Q", title="raw score (0-1)", scale={"domain": [0, 1]}),
        color=ch("engine:N", legend=LEGEND),
        tooltip=[ch("engine:N"), ch("time:T", format="%H:%M:%S"), ch("score:Q", format=".2f")],
    )
    return chart.chart("Engine confidence over time")
