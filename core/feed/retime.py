"""Re-time a snapshot recording the way a broker streams it: each leg's tick at its own moment.

A snapshot source (NSE's page, a Kite `quote()` poll) gives every leg of the chain one shared
timestamp. Kite and Upstox instead stream each instrument when it trades. `broker_stream` keeps
every value and moves each option leg's tick to a seeded uniform moment within the `spread_s`
seconds after its snapshot, then regroups the stream into `batch_s` event-time slices, as a
websocket client receives packets. The underlying's tick keeps its time. Used to check that the
signals are a property of the market, not of its delivery.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np

from core.domain import FeedItem, Tick


def broker_stream(
    batches: Iterable[list[FeedItem]], seed: int = 0, spread_s: float = 60.0, batch_s: float = 1.0
) -> Iterator[list[FeedItem]]:
    """The same items re-timed leg by leg, in event-time order, batched by `batch_s` slices.

    A leg's new time never passes the next snapshot of the recording (capped just before it),
    so a leg's values stay in their recorded order.
    """
    rng = np.random.default_rng(seed)
    pending: list[tuple[float, int, FeedItem]] = []  # heap of (event ts, arrival order, item)
    order = 0
    out: list[FeedItem] = []
    slice_end: float | None = None

    def flush_until(limit: float) -> Iterator[list[FeedItem]]:
        nonlocal out, slice_end
        while pending and pending[0][0] < limit:
            ts, _, item = heapq.heappop(pending)
            if slice_end is not None and ts >= slice_end and out:
                yield out
                out = []
            if not out:
                slice_end = (ts // batch_s + 1) * batch_s
            out.append(item)

    for batch, next_ts in _with_next_ts(batches):
        ticks = [i for i in batch if type(i) is Tick]
        if not ticks:  # instrument lines and market status: pass on at once, in place
            yield from flush_until(float("inf"))
            if out:
                yield out
                out, slice_end = [], None
            yield batch
            continue
        t0 = min(t.ts for t in ticks)
        yield from flush_until(t0)
        legs = [t for t in ticks if t.strike is not None]
        offsets = rng.uniform(0.0, spread_s, len(legs))
        for tick, dt in zip(legs, offsets, strict=True):
            ts = min(tick.ts + float(dt), next_ts - 1e-3)
            heapq.heappush(pending, (ts, order, replace(tick, ts=ts)))
            order += 1
        for item in batch:
            if type(item) is not Tick or item.strike is None:
                heapq.heappush(pending, (getattr(item, "ts", t0), order, item))
                order += 1
    yield from flush_until(float("inf"))
    if out:
        yield out


def _with_next_ts(batches: Iterable[list[FeedItem]]) -> Iterator[tuple[list[FeedItem], float]]:
    """Each batch with the first tick time of the next batch that has ticks (inf at the end)."""
    held: list[list[FeedItem]] = []
    for batch in batches:
        times = [i.ts for i in batch if type(i) is Tick]
        if times:
            for b in held:
                yield b, min(times)
            held = []
        held.append(batch)
    for b in held:
        yield b, float("inf")
