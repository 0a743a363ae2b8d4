"""The Live page's signal feed: newest signals in a table, one picked for its reasons and features.

A pick follows the signal, not the row: st.dataframe reports selections by row position, and rows
shift whenever a signal arrives, so the table's key changes with its rows (a stale position can never
pick another signal) and the picked signal's id is kept in session state and marked in the table.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st

from app.components import fmt_ist
from core.domain import Signal

SHOWN = 50
PICKED = "live_selected_signal"
PICK_BG = "rgba(59, 130, 246, 0.30)"


def feed_key(shown: Sequence[Signal]) -> str:
    """Widget key for this exact list of rows: it changes whenever a row moves."""
    digest = hashlib.sha1("|".join(s.id for s in shown).encode()).hexdigest()[:12]
    return f"signal_feed_{digest}"


def fmt_age(seconds: float) -> str:
    """12 s, 4 min 05 s, 2 h 10 min: how long ago, in the units a person reads at a glance."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def signal_age(signal: Signal, now_event_ts: float, published_at: Callable[[str], float | None]) -> str:
    """Age in wall time when the bus knows when it published the signal; else event time, said so.

    Event time runs 20x on a fast simulator, so an event-time age would read twenty times too old.
    """
    wall = published_at(signal.id)
    if wall is not None:
        return f"{fmt_age(time.time() - wall)} ago"
    return f"{fmt_age(now_event_ts - signal.ts)} ago (event time)"


def feed_frame(shown: Sequence[Signal], picked_id: str | None) -> pd.DataFrame:
    """One row per signal; spot with thousands separators, confidence to two decimals."""
    return pd.DataFrame(
        [
            {
                "": "▶" if s.id == picked_id else "",
                "time": fmt_ist(s.ts),
                "engine": s.engine.removesuffix("Engine"),
                "signal": s.signal,
                "direction": s.direction,
                "confidence": f"{s.confidence:.2f}",
                "source": s.confidence_source,
                "spot": "–" if s.spot_price is None else f"{s.spot_price:,.2f}",
                "reasons": ", ".join(s.reasons),
            }
            for s in shown
        ]
    )


def picked_signal(signals: Sequence[Signal], shown: Sequence[Signal], rows: Sequence[int]) -> Signal:
    """The signal a fresh click picked, else the one picked before (by id), else the newest."""
    if rows and rows[0] < len(shown):
        st.session_state[PICKED] = shown[rows[0]].id
    chosen = st.session_state.get(PICKED)
    return next((s for s in signals if s.id == chosen), signals[0])


def signal_feed(signals: Sequence[Signal], published_at: Callable[[str], float | None]) -> None:
    st.subheader("Signal feed")
    if not signals:
        st.caption("No signals yet this session: engines fire only when their rules line up.")
        return
    shown = list(signals[:SHOWN])
    key = feed_key(shown)
    rows = list(st.session_state[key]["selection"]["rows"]) if key in st.session_state else []
    chosen = picked_signal(signals, shown, rows)
    frame = feed_frame(shown, chosen.id)
    style = frame.style.apply(lambda r: [f"background-color: {PICK_BG}" if r[""] else ""] * len(r), axis=1)
    st.dataframe(style, hide_index=True, key=key, on_select="rerun", selection_mode="single-row")
    st.markdown(
        f"**▶ {fmt_ist(chosen.ts)} · {chosen.engine.removesuffix('Engine')} · {chosen.signal}** "
        f"({chosen.direction}, confidence {chosen.confidence:.2f} {chosen.confidence_source}, spot "
        f"{'–' if chosen.spot_price is None else f'{chosen.spot_price:,.2f}'}, "
        f"{signal_age(chosen, signals[0].ts, published_at)}) — select a row to inspect it"
    )
    left, right = st.columns([1, 2])
    left.write("Reasons")
    left.write("\n".join(f"- {r}" for r in chosen.reasons) or "none")
    right.write("Features the rules looked at")
    right.json(dict(chosen.features), expanded=False)
