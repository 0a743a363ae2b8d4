"""The history the structural engine keeps per (symbol, expiry), between compute calls, and what it
keeps of the last chain: results that depend on the chain alone are reused while no leg has ticked
(the chain is then the same ChainArrays object, core.analytics.chain_arrays.ChainCache)."""

from __future__ import annotations

import numpy as np

from core.analytics import flow, numeric, regime
from core.analytics.chain_arrays import ChainArrays
from core.analytics.positioning import Positioning, positioning
from core.state.history import RingBuffer

MICRO_WINDOW_S, MICRO_MIN_SAMPLES = 600.0, 5


class ExpiryState:
    """OI steps, liquidity, ATM IV and regime memory of one (symbol, expiry); dropped at expiry."""

    __slots__ = (
        "oi_steps",
        "spread",
        "depth",
        "atm_iv",
        "debounce",
        "previous",
        "_positioning",
        "_flow",
        "_liquidity",
    )

    def __init__(self) -> None:
        self.oi_steps = flow.OiFlowTracker()
        self.spread = RingBuffer(1024)
        self.depth = RingBuffer(1024)
        self.atm_iv = RingBuffer(5000)  # one sample a minute: about 13 sessions
        self.debounce = regime.RegimeDebounce()
        self.previous: regime.RegimeInputs | None = None
        self._positioning: tuple[ChainArrays, Positioning] | None = None
        self._flow: tuple[ChainArrays, flow.LegFlow, np.ndarray, flow.FlowSummary] | None = None
        self._liquidity: tuple[ChainArrays, np.ndarray, tuple[float | None, float | None]] | None = None

    def chain_positioning(self, chain: ChainArrays) -> Positioning:
        """positioning(chain), computed once per chain object."""
        if self._positioning is None or self._positioning[0] is not chain:
            self._positioning = (chain, positioning(chain))
        return self._positioning[1]

    def flow_summary(self, ts: float, chain: ChainArrays, window: np.ndarray) -> flow.FlowSummary:
        """Record the chain's OI at `ts` in the OI steps and summarise them over `window` strikes.

        Recording the chain last recorded again changes nothing once every seen leg has a step
        (the tracker is settled), so the steps and, over the same window, the summary are kept."""
        memo = self._flow
        if memo is not None and memo[0] is chain and self.oi_steps.settled:
            legs = memo[1]
            if np.array_equal(memo[2], window):
                return memo[3]
        else:
            legs = self.oi_steps.update(ts, chain.strikes, chain["oi"], chain.premium)
        summary = flow.summarize_flow(legs, window)
        self._flow = (chain, legs, window, summary)
        return summary

    def near_liquidity(self, chain: ChainArrays, near: np.ndarray) -> tuple[float | None, float | None]:
        """flow.near_atm_liquidity over the `near` strikes, computed once per chain object and window."""
        memo = self._liquidity
        if memo is not None and memo[0] is chain and np.array_equal(memo[1], near):
            return memo[2]
        quotes = (chain[name][:, near] for name in ("bid", "ask", "bid_qty", "ask_qty"))
        found = flow.near_atm_liquidity(*quotes)
        self._liquidity = (chain, near, found)
        return found


def append_spaced(buf: RingBuffer, ts: float, value: float, spacing: float) -> None:
    """Append unless the last sample is less than `spacing` seconds old (bounded sampling rate)."""
    last = buf.last()
    if last is None or ts - last[0] >= spacing:
        buf.append(ts, value)


def rolling_ratio(buf: RingBuffer, ts: float, value: float) -> float | None:
    """Record `value` at `ts` in `buf`; value over the median of the last MICRO_WINDOW_S seconds of it,
    None until MICRO_MIN_SAMPLES samples (or a median that is not positive)."""
    append_spaced(buf, ts, value, 1e-9)
    _, hist = buf.window(MICRO_WINDOW_S, now=ts)
    median = numeric.median(hist) if len(hist) >= MICRO_MIN_SAMPLES else 0.0
    return value / median if median > 0 else None
