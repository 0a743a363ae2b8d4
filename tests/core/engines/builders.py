"""Builders for engine tests: LiveMetrics with a realistic NIFTY chain, and spot paths fed at 1 s."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np

from core.analytics.regime import dealer_gamma, normalised_gex
from core.domain import LiveMetrics, frozen_array
from core.engines.base import EngineResult
from core.engines.history import EngineHistory

T0 = 1_796_789_400.0  # 2026-12-09 09:40 IST, a Wednesday session
EXPIRY = date(2026, 12, 15)
STRIKES = np.arange(24500.0, 25501.0, 50.0)


def chain(
    call_oi: dict[float, float] | None = None,
    put_oi: dict[float, float] | None = None,
    call_ltp: dict[float, float] | None = None,
    put_ltp: dict[float, float] | None = None,
) -> dict[str, np.ndarray]:
    """Per-strike arrays: 1,000,000 units per leg and 100 rupees, except where a dict overrides."""

    def arr(base: float, over: dict[float, float] | None) -> np.ndarray:
        values = np.full(len(STRIKES), base)
        for strike, value in (over or {}).items():
            values[int(np.flatnonzero(strike == STRIKES)[0])] = value
        return frozen_array(values)

    return {
        "strikes": frozen_array(STRIKES),
        "call_oi": arr(1_000_000.0, call_oi),
        "put_oi": arr(1_000_000.0, put_oi),
        "call_ltp": arr(100.0, call_ltp),
        "put_ltp": arr(100.0, put_ltp),
    }


def make_metrics(**overrides: Any) -> LiveMetrics:
    """A quiet NIFTY at 25000 with the chain from `chain()`; keyword overrides replace any field."""
    fields: dict[str, Any] = {
        "symbol": "NIFTY",
        "expiry": EXPIRY,
        "ts": T0,
        "spot": 25000.0,
        "atm_strike": 25000.0,
        "strike_step": 50.0,
        "lot_size": 65,
        **chain(),
    }
    fields.update(overrides)
    return stamped(with_gamma(LiveMetrics(**fields)))


def stamped(m: LiveMetrics) -> LiveMetrics:
    """Every leg's last tick at `m.ts`: a chain delivered whole at each update."""
    n = len(m.strikes) if m.strikes is not None else 0
    times = frozen_array(np.full(n, m.ts))
    return replace(m, call_ts=times, put_ts=times)


def with_gamma(m: LiveMetrics) -> LiveMetrics:
    """`gex_ratio` and `dealer_gamma` derived from net/gross GEX, as the analytics derive them,
    unless a test set them itself."""
    if m.dealer_gamma is not None or m.net_gex is None:
        return m
    g = normalised_gex(m.net_gex, m.gross_gex)
    return replace(m, gex_ratio=g, dealer_gamma=dealer_gamma(g))


def calm_path(n: int, start: float = 25000.0, seed: int = 3, sigma_1m: float = 0.0004) -> np.ndarray:
    """A seeded mean-reverting path at 1 s with the given 1-minute sigma (fraction): a calm tape."""
    rng = np.random.default_rng(seed)
    per_s = sigma_1m / np.sqrt(60.0)
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = x[i - 1] * (1 - 1 / 900.0) + rng.normal(0.0, per_s)
    return start * np.exp(x)


def ramp(a: float, b: float, seconds: int) -> np.ndarray:
    """Linear move from a to b over `seconds` samples (excluding a)."""
    return np.linspace(a, b, seconds + 1)[1:]


def feed(
    history: EngineHistory,
    spots: Iterable[float],
    start: float = T0,
    base: LiveMetrics | None = None,
    per_step: Callable[[int, float], dict[str, Any]] | None = None,
    step_s: float = 1.0,
) -> LiveMetrics:
    """Update `history` every `step_s` (default once per second) with `base` at each spot;
    returns the last metrics."""
    base = base or make_metrics()
    m = base
    for i, spot in enumerate(spots):
        extra = per_step(i, float(spot)) if per_step else {}
        m = stamped(replace(base, ts=start + i * step_s, spot=float(spot), **extra))
        history.update(m)
    return m


def run(
    engine: Any,
    spots: Sequence[float],
    base: LiveMetrics | None = None,
    per_step: Callable[[int, float], dict[str, Any]] | None = None,
    params: Any = None,
    step_s: float = 1.0,
    **final: Any,
) -> tuple[EngineResult, EngineHistory, LiveMetrics]:
    """Feed the path (a sample every `step_s`), then evaluate the engine on the last metrics
    (with `final` overrides).

    GEX overrides (net_gex, gross_gex) apply to the whole path: engines read the debounced
    dealer-gamma regime, and a regime seen on one update only is no regime."""
    gamma = {k: final.pop(k) for k in ("net_gex", "gross_gex") if k in final}
    if gamma:
        base = with_gamma(replace(base or make_metrics(), **gamma, gex_ratio=None, dealer_gamma=None))
    history = EngineHistory("NIFTY")
    feed(history, spots[:-1], base=base, per_step=per_step, step_s=step_s)
    start = T0 + (len(spots) - 1) * step_s
    m = replace(base or make_metrics(), ts=start, spot=float(spots[-1]))
    if per_step:
        m = replace(m, **per_step(len(spots) - 1, float(spots[-1])))
    m = stamped(replace(m, **final))
    history.update(m)
    return engine.evaluate(m, history, params), history, m


def volume_per_step(rate: float, spike_from: int = -1, spike_to: int = -1, mult: float = 1.0):
    """per_step producing cumulative volume at `rate` units/s, `mult` x between two step indices."""

    def step(i: int, _spot: float) -> dict[str, Any]:
        normal = i * rate
        extra = max(0, min(i, spike_to) - spike_from) * rate * (mult - 1) if spike_from >= 0 else 0.0
        total = normal + extra
        return {"total_call_volume": total / 2, "total_put_volume": total / 2}

    return step


# Levels and context of a quiet session: walls 100 points either side, dealers long gamma.
QUIET = {
    "support": 24900.0,
    "resistance": 25100.0,
    "put_wall": 24900.0,
    "call_wall": 25100.0,
    "net_gex": 2e9,
    "gross_gex": 6e9,
    "gamma_flip": 24700.0,
    "pcr_oi": 1.0,
    "volatility_regime": "normal",
    "expected_move": 250.0,
    "depth_ratio": 1.0,
    "spread_ratio": 1.0,
    "vol_spike_ratio": 1.0,
    "atm_straddle": 300.0,
}


def realistic(
    path: np.ndarray, per_step: Callable[[int, float], dict[str, Any]] | None = None, **fixed: Any
) -> list[LiveMetrics]:
    """Metrics at 1 s along a spot path, with the 1- and 5-minute returns the analytics supply."""
    base = make_metrics(**{**QUIET, **fixed})
    out = []
    for i, s in enumerate(path):
        r1 = float(np.log(s / path[max(0, i - 60)]))
        r5 = float(np.log(s / path[max(0, i - 300)]))
        extra = per_step(i, float(s)) if per_step else {}
        m = stamped(replace(base, ts=T0 + i, spot=float(s), ret_1m=r1, ret_5m=r5, **extra))
        if "net_gex" in extra or "gross_gex" in extra:
            m = with_gamma(replace(m, gex_ratio=None, dealer_gamma=None))
        out.append(m)
    return out
