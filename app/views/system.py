"""System page for operators and demos: feed, engines, logger, database, and demo controls."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from app.alerts_ui import alerts_section, toast_new_alerts
from app.broker_panel import broker_section
from app.components import database_unavailable, feed_pill, fmt_ist, note_outage, reading_database
from app.runtime import get_runtime, restart_runtime
from core.storage.database import current_revision, head_revision, is_outage

runtime = get_runtime()
st.title("System")


@st.cache_data(ttl=10, show_spinner=False)
def _revisions(url: str) -> tuple[str | None, str]:
    return current_revision(url), head_revision()


def _rate(items: int) -> str:
    """Items per wall second between two refreshes of this panel (operational telemetry)."""
    now = time.monotonic()
    before = st.session_state.get("_feed_rate_sample")
    st.session_state["_feed_rate_sample"] = (now, items)
    if not before or now <= before[0] or items < before[1]:
        return "n/a"
    return f"{(items - before[1]) / (now - before[0]):,.0f}"


@st.fragment(run_every=2.0)
def health_panel() -> None:
    toast_new_alerts()
    h = runtime.health()
    feed, cycle, logger = h["feed"], h["cycle"], h["logger"]
    st.subheader("Feed")
    feed_pill(feed["mode"], feed["status"], feed["reason"])
    cols = st.columns(6)
    cols[5].metric(
        "Items/s", _rate(feed["items"]), help="feed items (ticks) per wall second since last refresh"
    )
    cols[0].metric("Frames", f"{feed['frames']:,}")
    cols[1].metric("Items", f"{feed['items']:,}")
    cols[2].metric("Reconnects", feed["reconnects"])
    cols[3].metric("Rejected", f"{feed['rejected_total']:,}")
    lag = feed.get("lag_s")
    cols[4].metric("Lag (recv − event)", "n/a" if lag is None else f"{lag:.2f} s")
    st.caption(f"{feed['describe']} · event time {fmt_ist(h['event_time'], with_date=True)}")
    if feed["rejected"]:
        st.dataframe(
            pd.DataFrame(sorted(feed["rejected"].items()), columns=["reason", "count"]),
            hide_index=True,
            key="rejects",
        )
    if feed["last_error"]:
        st.warning(f"Last feed error: {feed['last_error']}")

    st.subheader("Engines")
    cols = st.columns(4)
    cols[0].metric("Metrics cycles", f"{cycle['cycles']:,}")
    cols[1].metric("Cycle ms (mean / max)", f"{cycle['mean_ms'] or 0:.2f} / {cycle['max_ms']:.2f}")
    cols[2].metric("Signals", f"{cycle['signals']:,}")
    cols[3].metric("Cycle failures", cycle["failures"])
    engines = h["engines"]
    if engines.get("engines"):
        st.dataframe(pd.DataFrame.from_dict(engines["engines"], orient="index"), key="engine_health")
    if cycle["last_error"]:
        st.warning(f"Last cycle error: {cycle['last_error']}")

    st.subheader("Signal logger")
    cols = st.columns(6)
    down_since = logger.get("down_since")
    cols[0].metric("Database", "up" if logger.get("db_up") else f"DOWN since {fmt_ist(down_since)[:5]}")
    cols[1].metric("Queue depth", f"{logger.get('queue_depth', 0):,}")
    cols[2].metric("Written", f"{logger.get('written', 0):,}")
    cols[3].metric("Batches / retries", f"{logger.get('batches', 0):,} / {logger.get('retries', 0):,}")
    spill = logger.get("spill_size", {})
    cols[4].metric(
        "Spill journal", f"{spill.get('lines', 0):,} rows", help=f"{spill.get('bytes', 0):,} bytes"
    )
    cols[5].metric("Rejected rows", f"{logger.get('rejected', 0):,}")
    st.caption(
        f"last batch {logger.get('last_batch_ms') or 0:.1f} ms · snapshots written "
        f"{logger.get('snapshots_written', 0):,} · queue overflows to the journal {logger.get('overflowed', 0):,} "
        f"· dropped live-state updates {logger.get('dropped_live_state', 0):,}"
    )
    if logger.get("last_error"):  # cleared by the logger once the database answers again
        st.warning(f"Last database error ({fmt_ist(logger.get('last_error_at'))}): {logger['last_error']}")

    learning_section(h["learning"])
    alerts_section(h.get("alerts"))

    database_section(h["database"])


def database_section(masked_url: str) -> None:
    """URL and migration, or the outage state: a refused connection is news, not a traceback."""
    st.subheader("Database")
    try:
        current, head = _revisions(runtime.config.database_url)
    except Exception as exc:
        if not is_outage(exc):
            raise
        note_outage()
        st.write(f"`{masked_url}`")
        database_unavailable(runtime, exc)
        return
    st.write(f"`{masked_url}` · migration `{current}` (head `{head}`)")


def learning_section(learning: dict) -> None:
    st.subheader("Learning loop")
    cal = learning.get("calibration", {})
    cols = st.columns(5)
    cols[0].metric("Evaluator", "running" if learning.get("running") else "stopped")
    cols[1].metric("Passes / failures", f"{learning.get('passes', 0):,} / {learning.get('failures', 0):,}")
    cols[2].metric("Outcomes written", f"{learning.get('outcomes_written', 0):,}")
    cols[3].metric("Predictions scored", f"{learning.get('predictions_scored', 0):,}")
    cols[4].metric(
        "Calibrated keys",
        f"{cal.get('calibrated_keys', 0)} / {cal.get('keys', 0)}",
        help=f"engine/signal/symbol keys with >= {learning.get('min_outcomes')} decided outcomes at "
        f"{learning.get('calibration_horizon_s', 0) // 60} min use calibrated confidence",
    )
    if learning.get("last_error"):  # cleared by the next pass that succeeds
        st.warning(
            f"Last learning error ({fmt_ist(learning.get('last_error_at'))}): {learning['last_error']}"
        )


@st.fragment(run_every=2.0)
def replica_panel() -> None:
    """STRIKEIQ_LIVE_SOURCE=db: this process renders what a worker publishes; show its freshness."""
    toast_new_alerts()
    st.subheader("Live source: database")
    with reading_database(runtime):
        h = runtime.health()
    st.caption(
        "This dashboard has no feed of its own: it reads live_chain_state, which "
        "`python -m core worker --live-state` publishes. Feed, engine and logger telemetry live in "
        "that worker (its JSON summary and logs)."
    )
    rows = [
        {
            "symbol": s,
            "last update (UTC)": v["updated_at"] if v else "never",
            "age s": v["age_s"] if v else None,
        }
        for s, v in h["symbols"].items()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="replica_symbols")
    database_section(h["database"])


if runtime.config.live_source == "db":
    replica_panel()
    st.stop()
health_panel()
broker_section(runtime.config, runtime.health()["feed"]["reason"])

st.subheader("Demo controls")
if runtime.feed.mode != "SIMULATED":
    st.caption("Demo controls apply to the built-in simulator; this process runs another feed.")
else:
    from core.feed.scenarios import SCENARIOS

    fc = runtime.config.feed
    with st.form("demo"):
        cols = st.columns(3)
        names = list(SCENARIOS)
        scenario = cols[0].selectbox(
            "Scenario", names, index=names.index(fc.scenario) if fc.scenario in names else 0,
            format_func=lambda n: f"{n}: {SCENARIOS[n].description}",
        )  # fmt: skip
        speed = cols[1].number_input(
            "Speed (× real time)", min_value=1.0, max_value=100.0, value=max(1.0, fc.speed)
        )
        seed = cols[2].number_input("Seed", min_value=0, value=fc.seed, step=1)
        if st.form_submit_button("Restart simulator"):
            restart_runtime(scenario=scenario, speed=float(speed), seed=int(seed))
            st.rerun()
