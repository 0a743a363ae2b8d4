"""Test builders: `make_tick(**overrides)`, `make_snapshot(legs, ...)` and `make_chain(...)`.

Chains are priced with Black-76 from a flat (or caller-supplied) volatility on the carry forward, so
every number in them is deterministic and can be checked by hand. Nothing here is random.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import numpy as np

from core.analytics.greeks import black76_price
from core.clock import IST
from core.domain import ChainSnapshot, LegKey, Tick
from core.market_calendar import expiry_close_epoch

DEFAULT_TS = datetime(2026, 11, 25, 10, 0, tzinfo=IST).timestamp()  # a Wednesday, mid-session
DEFAULT_EXPIRIES = (date(2026, 12, 1), date(2026, 12, 8))  # the next two NIFTY weekly expiries
DEFAULT_RATE = 0.055


def make_tick(**overrides: Any) -> Tick:
    """An option-leg Tick (NIFTY 25000 CE, nearest expiry) with every field overridable.

    Pass `right=None, expiry=None, strike=None` for an underlying tick.
    """
    fields: dict[str, Any] = {
        "symbol": "NIFTY",
        "ts": DEFAULT_TS,
        "ltp": 100.0,
        "recv_ts": DEFAULT_TS,
        "expiry": DEFAULT_EXPIRIES[0],
        "strike": 25000.0,
        "right": "CE",
    }
    fields.update(overrides)
    return Tick(**fields)


def make_snapshot(
    legs: Iterable[Tick],
    spot: float | None = 25000.0,
    ts: float = DEFAULT_TS,
    symbol: str = "NIFTY",
    strike_step: float = 50.0,
    lot_size: int = 65,
    atm_strike: float | None = None,
    expiries: tuple[date, ...] | None = None,
    spot_prev_close: float | None = None,
) -> ChainSnapshot:
    """A ChainSnapshot holding `legs` (later legs replace earlier ones with the same key)."""
    by_key: dict[LegKey, Tick] = {t.key: t for t in legs}
    if expiries is None:
        expiries = tuple(sorted({k[0] for k in by_key})) or DEFAULT_EXPIRIES
    if atm_strike is None and spot is not None and strike_step > 0:
        atm_strike = round(spot / strike_step) * strike_step
    return ChainSnapshot(
        symbol=symbol,
        ts=ts,
        spot=spot,
        spot_prev_close=spot_prev_close,
        atm_strike=atm_strike,
        lot_size=lot_size,
        strike_step=strike_step,
        expiries=expiries,
        legs=MappingProxyType(by_key),
        tick_count=len(by_key),
    )


def default_oi(strike: float, right: str, spot: float, step: float) -> float:
    """A realistic OI shape in units: calls concentrated above spot, puts below, peaks at round strikes."""
    distance = (strike - spot) / (10 * step)
    side = distance if right == "CE" else -distance
    base = 2_000_000 * math.exp(-((side - 0.4) ** 2)) + 200_000
    return float(round(base * (1.6 if strike % (4 * step) == 0 else 1.0)))


def make_chain(
    spot: float = 25000.0,
    ts: float = DEFAULT_TS,
    expiries: tuple[date, ...] = DEFAULT_EXPIRIES,
    strikes_each_side: int = 10,
    strike_step: float = 50.0,
    sigma: float | Callable[[float, date], float] = 0.12,
    rate: float = DEFAULT_RATE,
    oi: Callable[[float, str], float] | None = None,
    spread: float = 0.01,
    prev_close_factor: float = 1.0,
    prev_oi_factor: float = 1.0,
    overrides: Mapping[tuple[date, float, str], Mapping[str, Any]] | None = None,
    **snapshot_kw: Any,
) -> ChainSnapshot:
    """A full Black-76-priced chain: `2 * strikes_each_side + 1` strikes per expiry, CE and PE.

    `sigma` is a flat vol or `sigma(strike, expiry)`; `oi(strike, right)` defaults to `default_oi`.
    Quotes are mid -+ spread/2 relative, LTP at mid; prev_close/prev_oi are the current values times
    the factors. `overrides[(expiry, strike, right)]` replaces individual Tick fields.
    """
    atm = round(spot / strike_step) * strike_step
    strikes = atm + strike_step * np.arange(-strikes_each_side, strikes_each_side + 1)
    legs: list[Tick] = []
    for expiry in expiries:
        T = max((expiry_close_epoch(expiry) - ts) / (365 * 86400.0), 1 / 8760)
        forward = spot * math.exp(rate * T)
        for right in ("CE", "PE"):
            vols = np.array([sigma(k, expiry) if callable(sigma) else sigma for k in strikes])
            prices = black76_price(right, forward, strikes, T, rate, vols)
            for strike, price in zip(strikes, prices, strict=True):
                leg_oi = oi(strike, right) if oi else default_oi(strike, right, spot, strike_step)
                fields = _leg_fields(float(price), leg_oi, spread, prev_close_factor, prev_oi_factor)
                fields.update(expiry=expiry, strike=float(strike), right=right, ts=ts)
                fields.update((overrides or {}).get((expiry, float(strike), right), {}))
                legs.append(make_tick(**fields))
    snapshot_kw.setdefault("strike_step", strike_step)
    return make_snapshot(legs, spot=spot, ts=ts, expiries=tuple(expiries), **snapshot_kw)


def _leg_fields(
    price: float, oi: float, spread: float, close_factor: float, oi_factor: float
) -> dict[str, Any]:
    """Quote, depth, OI, volume and previous-day values of one priced leg."""
    return {
        "ltp": price,
        "bid": price * (1 - spread / 2),
        "ask": price * (1 + spread / 2),
        "bid_qty": 650.0,
        "ask_qty": 1300.0,
        "oi": oi,
        "prev_oi": oi * oi_factor,
        "volume": oi * 0.5,
        "prev_close": price * close_factor,
    }
