"""Engine tiles on the Live page: an engine's current reading and its last signal, never at odds.

A reading is coloured as a call only when it is what the engine last signalled; a reading the
engine has not signalled (cooldown, an episode already told, a state not yet held) is grey and says
so, so a tile can never show one view in colour and the opposite view as its last signal.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.components import DIRECTION_COLOURS, engine_label
from app.signal_feed import signal_age
from core.domain import NO_VIEW_SIGNALS

GREY = "#94a3b8"


@dataclass(frozen=True, slots=True)
class TileView:
    """What one tile says, decided without Streamlit so it can be tested."""

    headline: str
    colour: str
    detail: str
    reasons: str
    last: str


def tile_view(state: Any, now_ts: float, published_at: Callable[[str], float | None]) -> TileView | None:
    """The tile's text for an EngineState; None before the engine's first metrics cycle."""
    result = getattr(state, "result", None)
    last = getattr(state, "last_signal", None)
    if result is None:
        return None
    held = getattr(state, "held", None)
    told = last is not None and (last.signal, last.direction)
    if held is not None or (result.active and result.signal in NO_VIEW_SIGNALS):
        # A state engine: its state is the debounced reading; a new reading shows as pending.
        headline = held or "settling"
        pending = result.active and result.signal != held
        if pending:
            headline += f" (reading {result.signal}, not yet held)"
        signalled = last is not None and last.signal == held and not pending
        colour = DIRECTION_COLOURS.get(last.direction, GREY) if signalled else GREY
        if held and not pending and held not in NO_VIEW_SIGNALS and not signalled:
            headline += " (held, not signalled)"
    elif result.active:
        headline = result.signal
        if told == (result.signal, result.direction):
            colour = DIRECTION_COLOURS.get(result.direction, GREY)
        else:
            headline += " (reading, not signalled)"
            colour = GREY
    else:
        headline, colour = "quiet", GREY
    if last is not None:
        src = "calibrated" if last.confidence_source == "calibrated" else "raw score"
        age = signal_age(last, now_ts, published_at)
        last_line = f"last signal {last.signal} {last.direction} {age} · conf {last.confidence:.2f} ({src})"
    else:
        last_line = "no signal yet this session"
    return TileView(
        headline,
        colour,
        f"{result.direction} · score {result.raw_score:.2f}",
        ", ".join(result.reasons[:3]),
        last_line,
    )


def engine_tile(name: str, state: Any, now_ts: float, published_at: Callable[[str], float | None]) -> None:
    """One bordered tile; the same number of elements every run, so refreshes never remount it."""
    view = tile_view(state, now_ts, published_at)
    with st.container(border=True):
        st.markdown(f"**{engine_label(name)}**")
        if view is None:
            st.caption("waiting for the first metrics cycle")
            return
        st.markdown(
            f'<span style="color:{view.colour};font-weight:600">{html.escape(view.headline)}</span> '
            f'<span style="color:{GREY}">{html.escape(view.detail)}</span>',
            unsafe_allow_html=True,
        )
        st.caption(view.reasons or "–")
        st.caption(view.last)
