"""The committed synthetic recording of the backtest tests and benchmark, and how it was made.

`python -m tests.core.backtest.synthetic` rewrites tests/data/synthetic_backtest_NIFTY.jsonl.gz from
the simulator (seeded, so the same code gives the same file): the demo scenario for NIFTY, sampled
like the real NSE recordings are (whole-chain snapshots, here every 30 s of event time), for 65
minutes: nearest expiry, ATM +- 8 strikes (about 140 kB). Synthetic data only: real recordings are never committed.

`python -m tests.core.backtest.synthetic --invariance` rewrites the delivery-invariance fixture,
tests/data/synthetic_invariance_NIFTY.jsonl.gz: the `switching` scenario (regimes change at
random) as 1-minute snapshots for 240 minutes, the resolution of the real 1-minute sessions.
"""

from __future__ import annotations

import gzip
import sys
from dataclasses import replace
from pathlib import Path

from core.config import FeedConfig
from core.domain import InstrumentInfo, MarketStatus, Tick
from core.feed.encode import dumps, encode_item
from core.feed.simulator import Simulator

SYNTHETIC_RECORDING = Path(__file__).resolve().parents[2] / "data" / "synthetic_backtest_NIFTY.jsonl.gz"
INVARIANCE_RECORDING = SYNTHETIC_RECORDING.with_name("synthetic_invariance_NIFTY.jsonl.gz")
START = "2026-11-25T09:15:00+05:30"


def write_synthetic_recording(
    path: Path = SYNTHETIC_RECORDING,
    minutes: float = 65.0,
    every_s: float = 30.0,
    strikes_each_side: int = 8,
    scenario: str = "demo",
) -> int:
    """Write the recording; returns the number of lines."""
    sim = Simulator(
        FeedConfig(symbols=("NIFTY",), scenario=scenario, seed=7, speed=0.0, start=START, delivery="sync"),
        step_s=1.0,
    )
    legs: dict[tuple, Tick] = {}
    spot: Tick | None = None
    expiry = None
    lines: list[str] = []
    next_dump, frame = sim.start_ts, 0
    for batch in sim.batches(until_ts=sim.start_ts + minutes * 60):
        for item in batch:
            if type(item) is InstrumentInfo and expiry is None:
                expiry = item.expiries[0]
                info = InstrumentInfo(item.symbol, item.lot_size, item.strike_step, (expiry,))
                lines.append(dumps({**encode_item(info), "frame": frame}))
            elif type(item) is Tick and item.right is None:
                spot = item
            elif type(item) is Tick and item.expiry == expiry:
                legs[item.key] = item
        ts = max((i.ts for i in batch if type(i) is not InstrumentInfo), default=next_dump)
        if spot is None or ts < next_dump:
            continue
        frame += 1
        atm = round(spot.ltp / 50.0) * 50.0
        near = [t for (e, k, r), t in sorted(legs.items()) if abs(k - atm) <= strikes_each_side * 50.0]
        for tick in [spot, *near]:
            lines.append(dumps({**encode_item(_at(tick, ts)), "frame": frame}))
        next_dump = ts + every_s
    lines.append(dumps({**encode_item(MarketStatus("CLOSED", next_dump)), "frame": frame + 1}))
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as fh:
        fh.write(("\n".join(lines) + "\n").encode())
    return len(lines)


def _at(tick: Tick, ts: float) -> Tick:
    return replace(tick, ts=ts, recv_ts=0.0)


if __name__ == "__main__":
    if sys.argv[1:] == ["--invariance"]:
        n = write_synthetic_recording(INVARIANCE_RECORDING, minutes=240, every_s=60, scenario="switching")
    else:
        n = write_synthetic_recording(Path(sys.argv[1]) if len(sys.argv) > 1 else SYNTHETIC_RECORDING)
    print(f"{n} lines", file=sys.stderr)
