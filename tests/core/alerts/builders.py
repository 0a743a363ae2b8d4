"""Factories for alert tests: a metrics cycle and a signal with only the fields a rule reads."""

from __future__ import annotations

from datetime import date
from typing import Any

from core.domain import Alert, LiveMetrics, Signal

T0 = 1_796_000_000.0  # an event time (epoch seconds)


def metrics(ts: float = T0, symbol: str = "NIFTY", spot: float = 25_000.0, **fields: Any) -> LiveMetrics:
    alerts = tuple(Alert(kind, "high", f"{kind} test", ts) for kind in fields.pop("alerts", ()))
    return LiveMetrics(symbol=symbol, expiry=date(2026, 12, 1), ts=ts, spot=spot, alerts=alerts, **fields)


def signal(ts: float = T0, symbol: str = "NIFTY", **fields: Any) -> Signal:
    values = {"engine": "LiquidityEngine", "signal": "SWEEP_UP", "direction": "UP", "confidence": 0.7,
              "raw_score": 0.7, "strength": 0.5, "spot_price": 25_000.0, "reasons": ("pierce_reclaim",),
              **fields}  # fmt: skip
    return Signal(ts=ts, symbol=symbol, **values)
