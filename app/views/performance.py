"""Performance for analysts: hit rates with Wilson intervals, reliability and Brier, confidence
distribution, the experience table and prediction accuracy over time (SQL aggregates only), of the
current run by default."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.components import run_picker
from app.runtime import get_runtime
from core.clock import IST
from core.learning import performance as perf

runtime = get_runtime()
TEMPLATE = "plotly_dark"
HORIZONS = (300, 900, 1800)
# Ratios and percentages to 3 decimals in every table (raw floats print 16 digits).
FLOAT_COLUMNS = {
    name: st.column_config.NumberColumn(format="%.3f")
    for name in (
        "hit_rate", "ci_low", "ci_high", "avg_move_pct", "avg_mfe_pct", "avg_mae_pct", "brier",
        "success_rate", "adjusted_confidence", "avg_confidence", "mean_confidence",
    )
}  # fmt: skip

st.title("Performance")
st.caption(
    "Every stored signal is scored 5, 15 and 30 minutes (event time) after it. Hit rate = correct / "
    "(correct + wrong); neutral moves are counted apart. Intervals are 95 % Wilson."
)


@st.cache_data(ttl=15, show_spinner=False)
def _counts(flt: perf.PerformanceFilter) -> dict:
    return perf.counts(flt)


@st.cache_data(ttl=15, show_spinner=False)
def _latest_day() -> date | None:
    latest = perf.latest_signal_time()
    return latest.astimezone(IST).date() if latest is not None else None


@st.cache_data(ttl=15, show_spinner=False)
def _hit_rates(flt: perf.PerformanceFilter) -> list[dict]:
    return perf.hit_rates(flt)


@st.cache_data(ttl=15, show_spinner=False)
def _calibration(flt: perf.PerformanceFilter) -> tuple[list[dict], list[dict]]:
    return perf.reliability(flt), perf.brier_scores(flt)


@st.cache_data(ttl=15, show_spinner=False)
def _distribution(flt: perf.PerformanceFilter) -> list[dict]:
    return perf.confidence_distribution(flt)


@st.cache_data(ttl=15, show_spinner=False)
def _experience(symbols: tuple[str, ...]) -> list[dict]:
    return perf.experience_table(symbols)


@st.cache_data(ttl=15, show_spinner=False)
def _predictions(flt: perf.PerformanceFilter, bucket_s: int) -> list[dict]:
    return perf.prediction_accuracy(flt, bucket_s)


def _ist_bound(d: date, end: bool) -> datetime:
    return datetime.combine(d + timedelta(days=1) if end else d, time(0), IST).astimezone(UTC)


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=height,
        margin={"l": 40, "r": 20, "t": 40, "b": 30},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def hit_rate_chart(frame: pd.DataFrame, horizon_min: int) -> go.Figure:
    """Hit rate per engine/signal at one horizon, with the Wilson interval as error bars."""
    rows = frame[(frame["horizon_min"] == horizon_min) & frame["hit_rate"].notna()]
    label = rows["engine"] + " / " + rows["signal"]
    fig = go.Figure(
        go.Bar(
            x=label,
            y=rows["hit_rate"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": rows["ci_high"] - rows["hit_rate"],
                "arrayminus": rows["hit_rate"] - rows["ci_low"],
            },
            text=[f"n={c + w}" for c, w in zip(rows["correct"], rows["wrong"], strict=True)],
            marker_color="#3b82f6",
        )
    )
    fig.add_hline(y=0.5, line_dash="dot", line_color="#94a3b8")
    fig.update_yaxes(range=[0, 1], title="hit rate")
    return _layout(fig, f"Hit rate at {horizon_min} min (95 % Wilson interval)")


def reliability_chart(rows: list[dict]) -> go.Figure:
    """Mean stated confidence per bucket vs the observed hit rate; the diagonal is perfect calibration."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], name="perfect", line={"dash": "dot", "color": "#94a3b8"})
    frame = pd.DataFrame(rows)
    for engine, part in frame.groupby("engine", sort=False):
        fig.add_scatter(
            x=part["mean_confidence"],
            y=part["hit_rate"],
            name=str(engine),
            mode="lines+markers",
            text=[f"n={n}" for n in part["n"]],
            line={"width": 3 if engine == perf.ALL_ENGINES else 1},
        )
    fig.update_xaxes(range=[0, 1], title="stated confidence")
    fig.update_yaxes(range=[0, 1], title="observed hit rate")
    return _layout(fig, "Reliability (confidence bucket vs observed hit rate)", 420)


def distribution_chart(rows: list[dict]) -> go.Figure:
    frame = pd.DataFrame(rows).groupby(["bucket_low", "source"], as_index=False)["count"].sum()
    fig = go.Figure()
    for source, part in frame.groupby("source"):
        fig.add_bar(x=part["bucket_low"] + 0.05, y=part["count"], name=str(source), width=0.1)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(range=[0, 1], title="confidence")
    return _layout(fig, "Confidence of stored signals (raw vs calibrated)")


def prediction_chart(rows: list[dict]) -> go.Figure:
    frame = pd.DataFrame(rows)
    fig = go.Figure()
    for (kind, symbol), part in frame.groupby(["kind", "symbol"]):
        fig.add_scatter(
            x=part["bucket"], y=part["hit_rate"], name=f"{symbol} {kind} hit rate", mode="lines+markers"
        )
        if kind == "prediction":
            fig.add_scatter(x=part["bucket"], y=part["brier"], name=f"{symbol} Brier", line={"dash": "dot"})
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, "Prediction accuracy over time (30 min; Brier: lower is better)")


with st.sidebar.form("performance_filters"):
    run_id, exclude_backtests = run_picker(runtime, "p_run")
    # The default range ends today or on the newest signal's day if later (a simulator can run on
    # the next trading day); the wall clock only picks this default, never an analytic.
    today = max(datetime.now(IST).date(), _latest_day() or date.min)
    days = st.date_input("Date range (IST)", (today - timedelta(days=7), today), key="p_dates")
    symbols = st.multiselect("Symbols", runtime.symbols, key="p_symbols")
    horizon = st.selectbox(
        "Calibration horizon", HORIZONS, index=1, key="p_horizon", format_func=lambda s: f"{s // 60} min"
    )
    st.form_submit_button("Apply filters")

start_day, end_day = days if isinstance(days, tuple) and len(days) == 2 else (today, today)
flt = perf.PerformanceFilter(
    symbols=tuple(symbols),
    start=_ist_bound(start_day, end=False),
    end=_ist_bound(end_day, end=True),
    horizon_s=int(horizon),
    run_id=run_id,
    exclude_backtests=exclude_backtests,
)
counts = _counts(flt)
if counts["signals"] == 0:
    hint = " Pick *All runs* under Run to see earlier runs." if run_id else ""
    st.info(
        "No stored signals in this range yet, so there is nothing to score. Signals appear as the "
        "engines fire; each is scored 5, 15 and 30 minutes of market time later." + hint
    )
    st.stop()

top = st.columns(4)
top[0].metric("Signals", f"{counts['signals']:,}")
top[1].metric("Outcomes", f"{counts['outcomes']:,}")
top[2].metric("Experience rows", f"{counts['experience']:,}")
top[3].metric("Predictions", f"{counts['predictions']:,}")

if counts["outcomes"] == 0:
    st.info(
        "Signals are stored but none has been scored yet: a signal's first outcome is due 5 minutes "
        "(event time) after it. To score a stored backlog run `python -m core evaluate --db URL`."
    )
else:
    st.subheader("Hit rate by engine, signal and horizon")
    hits = pd.DataFrame(_hit_rates(flt))
    st.plotly_chart(hit_rate_chart(hits, int(horizon) // 60), key="hit_rate_chart")
    st.dataframe(hits, hide_index=True, key="hit_rate_table", column_config=FLOAT_COLUMNS)

    st.subheader("Calibration")
    reliability, brier = _calibration(flt)
    if reliability:
        left, right = st.columns([3, 2])
        left.plotly_chart(reliability_chart(reliability), key="reliability_chart")
        right.markdown("**Brier score per engine** (0 is perfect; always saying 50 % scores 0.25)")
        right.dataframe(pd.DataFrame(brier), hide_index=True, key="brier_table", column_config=FLOAT_COLUMNS)
    else:
        st.info(f"No decided outcomes at {int(horizon) // 60} min in this range yet.")

st.subheader("Confidence distribution")
distribution = _distribution(flt)
if distribution:
    st.plotly_chart(distribution_chart(distribution), key="distribution_chart")

st.subheader("Experience")
st.caption("Learned from the outcomes of every run, whatever the Run filter: the engines use it live.")
experience = _experience(flt.symbols)
if experience:
    st.dataframe(
        pd.DataFrame(experience), hide_index=True, key="experience_table", column_config=FLOAT_COLUMNS
    )
else:
    st.info("No experience yet: it is built from scored outcomes.")

st.subheader("Prediction accuracy over time")
bucket_s = 1800 if (end_day - start_day).days <= 3 else 86400
predictions = _predictions(flt, bucket_s)
if predictions:
    st.plotly_chart(prediction_chart(predictions), key="prediction_chart")
else:
    st.info("No scored predictions yet: each aggregate prediction is scored 30 minutes after it.")
