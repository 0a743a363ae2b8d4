"""The history the structural engine keeps per (symbol, expiry), between compute calls."""

from __future__ import annotations

from core.analytics import flow, regime
from core.state.history import RingBuffer


class ExpiryState:
    """OI steps, liquidity, ATM IV and regime memory of one (symbol, expiry); dropped at expiry."""

    __slots__ = ("oi_steps", "spread", "depth", "atm_iv", "debounce", "previous")

    def __init__(self) -> None:
        self.oi_steps = flow.OiFlowTracker()
        self.spread = RingBuffer(1024)
        self.depth = RingBuffer(1024)
        self.atm_iv = RingBuffer(5000)  # one sample a minute: about 13 sessions
        self.debounce = regime.RegimeDebounce()
        self.previous: regime.RegimeInputs | None = None


def append_spaced(buf: RingBuffer, ts: float, value: float, spacing: float) -> None:
    """Append unless the last sample is less than `spacing` seconds old (bounded sampling rate)."""
    last = buf.last()
    if last is None or ts - last[0] >= spacing:
        buf.append(ts, value)
