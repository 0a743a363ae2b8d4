"""Performance for analysts: hit rates with Wilson intervals, reliability and Brier, confidence
distribution, the experience table and prediction accuracy over time (SQL aggregates only), of the
current run by default. Times are IST; every count and scoring rule is said on the page."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.components import date_range, engine_label, from_database, run_picker
from app.runtime import get_runtime
from core.clock import IST, ist_day_bounds
from core.learning import performance as perf
from core.learning.outcomes import NEUTRAL_BAND_PCT

runtime = get_runtime()
TEMPLATE = "plotly_dark"
HORIZONS = (300, 900, 1800)
# Ratios to 2 decimals, moves in % to 2 decimals, in every table (raw floats print 16 digits).
RATIO, PCT = "%.2f", "%.2f %%"
COLUMNS = {
    "engine": st.column_config.TextColumn("Engine"),
    "signal": st.column_config.TextColumn("Signal"),
    "symbol": st.column_config.TextColumn("Symbol"),
    "horizon_min": st.column_config.NumberColumn("Horizon (min)"),
    "tested": st.column_config.NumberColumn("Scored", help="outcomes at this horizon"),
    "n": st.column_config.NumberColumn("Decided", help="correct + wrong at the calibration horizon"),
    "hit_rate": st.column_config.NumberColumn("Hit rate", format=RATIO),
    "ci_low": st.column_config.NumberColumn("CI low", format=RATIO),
    "ci_high": st.column_config.NumberColumn("CI high", format=RATIO),
    "avg_move_pct": st.column_config.NumberColumn("Avg move", format=PCT),
    "avg_mfe_pct": st.column_config.NumberColumn("Avg best", format=PCT, help="max favourable excursion"),
    "avg_mae_pct": st.column_config.NumberColumn("Avg worst", format=PCT, help="max adverse excursion"),
    "brier": st.column_config.NumberColumn("Brier", format=RATIO),
    "mean_confidence": st.column_config.NumberColumn("Mean confidence", format=RATIO),
    "total_tests": st.column_config.NumberColumn("Tests"),
    "success_rate": st.column_config.NumberColumn("Success rate", format=RATIO),
    "adjusted_confidence": st.column_config.NumberColumn("Adjusted confidence", format=RATIO),
    "last_updated": st.column_config.TextColumn("Last updated (IST)"),
}
BANDS = " / ".join(f"{NEUTRAL_BAND_PCT[h]:.2f} %" for h in HORIZONS)

st.title("Performance")
st.caption(
    "Every stored signal is scored at 5, 15 and 30 minutes of market (event) time after it, so one "
    "signal gives up to three outcomes. UP and DOWN calls are correct when spot moves more than "
    f"{BANDS} (5 / 15 / 30 min) their way, wrong when it moves that far the other way, neutral in "
    "between. Range calls (direction NONE) are correct when spot stays within half the expected "
    "move for the horizon (from ATM IV) for the whole window, else wrong; without ATM IV they are "
    "not scored. Hit rate = correct / (correct + wrong); neutrals are counted apart. Intervals are "
    "95 % Wilson. Times are IST."
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


def table(rows: list[dict], key: str, columns: list[str]) -> None:
    """A table that fits the page: the named columns only, short engine names, page width."""
    frame = pd.DataFrame(rows)
    if "engine" in frame:
        frame["engine"] = frame["engine"].map(lambda e: engine_label(str(e)))
    if "last_updated" in frame:
        stamps = pd.to_datetime(frame["last_updated"], utc=True).dt.tz_convert(IST)
        frame["last_updated"] = stamps.dt.strftime("%Y-%m-%d %H:%M")
    shown = [c for c in columns if c in frame.columns]
    st.dataframe(
        frame[shown], hide_index=True, key=key, column_config=COLUMNS, width="stretch", column_order=shown
    )


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
    label = rows["engine"].map(lambda e: engine_label(str(e))) + " / " + rows["signal"]
    decided = rows["correct"] + rows["wrong"]
    fig = go.Figure(
        go.Bar(
            name="hit rate",
            x=label,
            y=rows["hit_rate"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": rows["ci_high"] - rows["hit_rate"],
                "arrayminus": rows["hit_rate"] - rows["ci_low"],
            },
            text=[f"{h:.0%} · n={n}" for h, n in zip(rows["hit_rate"], decided, strict=True)],
            textposition="outside",
            cliponaxis=False,
            marker_color="#3b82f6",
        )
    )
    # A 0 % bar has no height: a tick at every hit rate keeps it visible (and its label above it).
    fig.add_scatter(
        x=label, y=rows["hit_rate"], mode="markers", name="hit rate mark", showlegend=False,
        marker={"symbol": "line-ew-open", "size": 28, "line": {"width": 3, "color": "#93c5fd"}},
        hoverinfo="skip",
    )  # fmt: skip
    fig.add_hline(y=0.5, line_dash="dot", line_color="#94a3b8")
    fig.update_yaxes(range=[0, 1.12], title="hit rate", tickformat=".0%")
    return _layout(fig, f"Hit rate at {horizon_min} min (95 % Wilson interval; n = correct + wrong)")


def reliability_chart(rows: list[dict]) -> go.Figure:
    """Mean stated confidence per bucket vs the observed hit rate; the diagonal is perfect calibration."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], name="perfect", line={"dash": "dot", "color": "#94a3b8"})
    frame = pd.DataFrame(rows)
    for engine, part in frame.groupby("engine", sort=False):
        engine = engine_label(str(engine))
        fig.add_scatter(
            x=part["mean_confidence"],
            y=part["hit_rate"],
            name=str(engine),
            mode="lines+markers",
            text=[f"n={n}" for n in part["n"]],
            line={"width": 3 if engine == engine_label(perf.ALL_ENGINES) else 1},
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
    frame["bucket"] = pd.to_datetime(frame["bucket"], utc=True).dt.tz_convert(IST).dt.tz_localize(None)
    fig = go.Figure()
    for (kind, symbol), part in frame.groupby(["kind", "symbol"]):
        fig.add_scatter(
            x=part["bucket"], y=part["hit_rate"], name=f"{symbol} {kind} hit rate", mode="lines+markers"
        )
        if kind == "prediction":
            fig.add_scatter(x=part["bucket"], y=part["brier"], name=f"{symbol} Brier", line={"dash": "dot"})
    fig.update_yaxes(range=[0, 1])
    fig.update_xaxes(title="time (IST)")
    return _layout(fig, "Prediction accuracy over time (30 min; Brier: lower is better)")


# The default range ends today or on the newest signal's day if later (a simulator can run on the
# next trading day); the wall clock only picks this default, never an analytic. Read before the
# form: an outage ends the page run here, not inside a form without its button.
today = max(datetime.now(IST).date(), from_database(runtime, _latest_day) or date.min)
with st.sidebar.form("performance_filters"):
    run_id, exclude_backtests = run_picker(runtime, "p_run")
    days = st.date_input("Date range (IST)", (today - timedelta(days=7), today), key="p_dates")
    symbols = st.multiselect("Symbols", runtime.symbols, key="p_symbols")
    horizon = st.selectbox(
        "Calibration horizon", HORIZONS, index=1, key="p_horizon", format_func=lambda s: f"{s // 60} min"
    )
    st.form_submit_button("Apply filters")

start_day, end_day = date_range(days)
start, end = ist_day_bounds(start_day, end_day)
flt = perf.PerformanceFilter(
    symbols=tuple(symbols),
    start=start,
    end=end,
    horizon_s=int(horizon),
    run_id=run_id,
    exclude_backtests=exclude_backtests,
)
counts = from_database(runtime, _counts, flt)
if counts["signals"] == 0:
    hint = " Pick *All runs* under Run to see earlier runs." if run_id else ""
    st.info(
        "No stored signals in this range yet, so there is nothing to score. Signals appear as the "
        "engines fire; each is scored 5, 15 and 30 minutes of market time later." + hint
    )
    st.stop()

top = st.columns(4)
top[0].metric("Signals", f"{counts['signals']:,}", help="stored signals in the range")
top[1].metric(
    "Outcomes",
    f"{counts['outcomes']:,}",
    help="one per signal and horizon (5, 15, 30 min) once the horizon has passed: up to 3 per signal",
)
top[2].metric("Experience rows", f"{counts['experience']:,}", help="learned per engine/signal/horizon")
top[3].metric("Predictions", f"{counts['predictions']:,}", help="aggregate market calls, one per snapshot")
due = 3 * counts["signals"] - counts["outcomes"]
st.caption(
    f"{counts['outcomes']:,} outcomes from {counts['signals']:,} signals: each signal is scored at three "
    f"horizons, so up to {3 * counts['signals']:,}. "
    + (
        f"{due:,} are not scored yet (their horizon has not passed, or a range call had no ATM IV)."
        if due > 0
        else "Every horizon is scored."
    )
)

if counts["outcomes"] == 0:
    st.info(
        "Signals are stored but none has been scored yet: a signal's first outcome is due 5 minutes "
        "(event time) after it. To score a stored backlog run `python -m core evaluate --db URL`."
    )
else:
    st.subheader("Hit rate by engine, signal and horizon")
    hits = pd.DataFrame(from_database(runtime, _hit_rates, flt))
    st.plotly_chart(hit_rate_chart(hits, int(horizon) // 60), key="hit_rate_chart")
    table(
        hits.to_dict("records"),
        "hit_rate_table",
        ["engine", "signal", "horizon_min", "tested", "correct", "wrong", "neutral", "hit_rate",
         "ci_low", "ci_high", "avg_move_pct", "avg_mfe_pct", "avg_mae_pct"],
    )  # fmt: skip

    st.subheader("Calibration")
    reliability, brier = from_database(runtime, _calibration, flt)
    if reliability:
        left, right = st.columns([3, 2])
        left.plotly_chart(reliability_chart(reliability), key="reliability_chart")
        right.markdown("**Brier score per engine** (0 is perfect; always saying 50 % scores 0.25)")
        with right:
            table(brier, "brier_table", ["engine", "n", "brier", "mean_confidence", "hit_rate"])
    else:
        st.info(f"No decided outcomes at {int(horizon) // 60} min in this range yet.")

st.subheader("Confidence distribution")
distribution = from_database(runtime, _distribution, flt)
if distribution:
    st.plotly_chart(distribution_chart(distribution), key="distribution_chart")

st.subheader("Experience")
st.caption("Learned from the outcomes of every run, whatever the Run filter: the engines use it live.")
experience = from_database(runtime, _experience, flt.symbols)
if experience:
    table(
        experience,
        "experience_table",
        ["engine", "signal", "symbol", "horizon_min", "total_tests", "wins", "losses", "neutrals",
         "success_rate", "adjusted_confidence", "last_updated"],
    )  # fmt: skip
else:
    st.info("No experience yet: it is built from scored outcomes.")

st.subheader("Prediction accuracy over time")
bucket_s = 1800 if (end_day - start_day).days <= 3 else 86400
predictions = from_database(runtime, _predictions, flt, bucket_s)
if predictions:
    st.plotly_chart(prediction_chart(predictions), key="prediction_chart")
else:
    st.info("No scored predictions yet: each aggregate prediction is scored 30 minutes after it.")
