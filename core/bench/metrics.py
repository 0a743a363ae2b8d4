"""The `metrics` benchmark: LiveStructuralEngine.compute_all on a realistic chain (SPEC §11), in ms.

One NIFTY snapshot with two expiries x 81 strikes x CE/PE (324 legs), priced by Black-76 from a
skewed smile so every leg needs a real IV solve. One iteration is one second of a live chain:
TICKING_LEGS legs have a new tick (a new Tick object, price and OI moved), as a broker streams
a chain, and both expiries are computed in one compute_all call (IV solve, greeks, GEX, flip
grid, max pain, flow, regime); one-expiry compute timings are reported too. The engine reuses
what depends only on unchanged legs, so a chain where nothing ticks would measure that reuse.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import numpy as np

from core.analytics.greeks import black76_price
from core.analytics.structural import LiveStructuralEngine
from core.bench.common import percentiles
from core.clock import IST
from core.config import AnalyticsConfig
from core.domain import ChainSnapshot, Right, Tick
from core.market_calendar import MarketCalendar, expiry_close_epoch

BENCH_TS = datetime(2026, 11, 25, 11, 0, tzinfo=IST).timestamp()
SPOT, STEP, LOT, STRIKES_EACH_SIDE = 25012.5, 50.0, 65, 40
# Legs with a new tick per second: broker delivery (core.feed.delivery) streams a NIFTY chain at
# about 60 leg ticks a second, most near the money; here a fifth of the legs, every leg in turn.
TICKING_LEGS = 64


def _smile(strikes: np.ndarray, forward: float, T: float) -> np.ndarray:
    """A skewed smile: richer puts (downside), a mild wing lift, 12 % at the money."""
    m = np.log(strikes / forward) / math.sqrt(T)
    return 0.12 - 0.02 * m + 0.015 * m * m


def _legs(expiry: date, ts: float, r: float) -> list[Tick]:
    T = (expiry_close_epoch(expiry) - ts) / (365 * 86400.0)
    forward = SPOT * math.exp(r * T)
    atm = round(SPOT / STEP) * STEP
    strikes = atm + STEP * np.arange(-STRIKES_EACH_SIDE, STRIKES_EACH_SIDE + 1)
    vols = np.clip(_smile(strikes, forward, T), 0.05, 1.0)
    distance = (strikes - SPOT) / (10 * STEP)
    legs = []
    sides: tuple[tuple[Right, np.ndarray], ...] = (("CE", distance), ("PE", -distance))
    for right, side in sides:
        prices = np.maximum(black76_price(right, forward, strikes, T, r, vols), 0.05)
        oi = np.round((2.0e6 * np.exp(-((side - 0.4) ** 2)) + 2.0e5) / LOT) * LOT
        for k, px, q in zip(strikes, prices, oi, strict=True):
            tick_px = max(round(px * 20) / 20, 0.05)  # NSE tick size is 5 paise
            legs.append(
                Tick(
                    symbol="NIFTY", ts=ts, ltp=tick_px, expiry=expiry, strike=float(k), right=right,
                    oi=float(q), prev_oi=float(q) * 0.97, volume=float(q) * 0.6,
                    bid=max(tick_px - 0.05, 0.05), ask=tick_px + 0.05, bid_qty=650.0, ask_qty=975.0,
                    prev_close=tick_px * 1.02,
                )
            )  # fmt: skip
    return legs


def bench_snapshot(ts: float = BENCH_TS, r: float = 0.055) -> ChainSnapshot:
    """The benchmark's 324-leg NIFTY snapshot (two weekly expiries x 81 strikes x CE/PE)."""
    expiries = tuple(MarketCalendar.default().expiries("NIFTY", datetime.fromtimestamp(ts, IST).date(), 2))
    legs = [t for e in expiries for t in _legs(e, ts, r)]
    return ChainSnapshot(
        symbol="NIFTY", ts=ts, spot=SPOT, spot_prev_close=24950.0, atm_strike=round(SPOT / STEP) * STEP,
        lot_size=LOT, strike_step=STEP, expiries=expiries,
        legs=MappingProxyType({t.key: t for t in legs}), tick_count=len(legs),
    )  # fmt: skip


def ticking(base: ChainSnapshot, i: int, spot: float | None = None) -> ChainSnapshot:
    """`base` one second later (event time BENCH_TS + i): TICKING_LEGS legs, a window that walks
    round the chain, have a new tick, their price a tick up or down and their OI a lot more or
    less, and spot is `spot` (unchanged when None)."""
    legs = dict(base.legs)
    keys = list(legs)
    ts = BENCH_TS + i
    for j in range(TICKING_LEGS):
        t = legs[keys[(i * TICKING_LEGS + j) % len(keys)]]
        up = (i + j) % 2 == 0
        ltp = round(max(t.ltp + (0.05 if up else -0.05), 0.05), 2)
        oi = (t.oi or 0.0) + (LOT if up else -LOT)
        legs[t.key] = replace(t, ts=ts, ltp=ltp, bid=max(ltp - 0.05, 0.05), ask=ltp + 0.05, oi=oi)
    return replace(base, ts=ts, spot=base.spot if spot is None else spot, legs=MappingProxyType(legs))


def bench_metrics(iterations: int = 300) -> dict[str, Any]:
    """Time full recomputes; returns {"legs", "iterations", "p50_ms", "p99_ms", "mean_ms", "per_expiry"}.

    Each iteration advances event time by one second so the stateful parts (flow, ring buffers,
    spot history) do their real work rather than short-circuiting on a repeated timestamp. The
    total is compute_all (both expiries, as the runtime calls it); per_expiry times compute for
    one expiry on a second engine fed the same snapshots (as a caller wanting one expiry does).
    """
    config = AnalyticsConfig()
    engine, single = LiveStructuralEngine(config), LiveStructuralEngine(config)
    base = bench_snapshot(r=config.risk_free_rate)
    snapshots = [base]
    for i in range(1, iterations + 10):
        snapshots.append(ticking(snapshots[-1], i))
    for snap in snapshots[:10]:  # warm-up: imports, caches, first-time allocations
        engine.compute_all(snap)
        for expiry in base.expiries:
            single.compute(snap, expiry)
    total_ms, per_expiry_ms = [], []
    for snap in snapshots[10:]:
        start = time.perf_counter()
        engine.compute_all(snap)
        total_ms.append((time.perf_counter() - start) * 1000.0)
        for expiry in base.expiries:
            t0 = time.perf_counter()
            single.compute(snap, expiry)
            per_expiry_ms.append((time.perf_counter() - t0) * 1000.0)
    return {
        "legs": len(base.legs),
        "ticking_legs_per_cycle": TICKING_LEGS,
        "iterations": iterations,
        **percentiles(total_ms, mean=True),
        "per_expiry": {"legs": len(base.legs) // len(base.expiries), **percentiles(per_expiry_ms, mean=True)},
    }


def run(db: str | None) -> dict[str, Any]:
    return bench_metrics()
