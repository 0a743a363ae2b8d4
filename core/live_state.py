"""The JSON shape of a symbol's latest state, shared by `live_chain_state` rows and the pages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from core.domain import LiveMetrics, Signal

HEADLINE_FIELDS = (
    "spot",
    "prev_close",
    "forward",
    "atm_strike",
    "atm_iv",
    "pcr_oi",
    "pcr_volume",
    "max_pain",
    "support",
    "resistance",
    "call_wall",
    "put_wall",
    "net_gex",
    "gamma_flip",
    "flip_state",
    "distance_from_flip_pts",
    "distance_from_flip_pct",
    "expected_move",
    "atm_straddle",
    "breach_probability",
    "volatility_regime",
    "regime",
    "regime_confidence",
    "flow_imbalance",
    "flow_direction",
    "total_call_oi",
    "total_put_oi",
    "time_to_expiry_years",
)

CHAIN_FIELDS = ("strikes", "call_oi", "put_oi", "call_iv", "put_iv", "call_ltp", "put_ltp", "gex_by_strike")


def metrics_headline(m: LiveMetrics) -> dict[str, Any]:
    """Headline metrics as plain JSON-friendly values."""
    out = {name: getattr(m, name) for name in HEADLINE_FIELDS}
    out["symbol"] = m.symbol
    out["expiry"] = m.expiry.isoformat() if m.expiry else None
    out["ts"] = m.ts
    out["em_bands"] = list(m.em_bands) if m.em_bands else None
    out["unavailable"] = dict(m.unavailable)
    return out


def signal_dict(s: Signal) -> dict[str, Any]:
    d = asdict(s)
    d["expiry"] = s.expiry.isoformat() if s.expiry else None
    d["reasons"] = list(s.reasons)
    d["features"] = dict(s.features)
    return d


def live_state_payload(
    metrics: LiveMetrics, signals: Iterable[Signal], results: Mapping[str, Any]
) -> dict[str, Any]:
    """Latest metrics, the chain window and the engines' current states for one symbol."""
    return {
        "metrics": metrics_headline(metrics),
        "chain": {name: [float(v) for v in getattr(metrics, name)] for name in CHAIN_FIELDS},
        "engines": {
            name: {
                "signal": r.signal,
                "direction": r.direction,
                "raw_score": r.raw_score,
                "active": r.active,
                "reasons": list(r.reasons),
            }
            for name, r in results.items()
        },
        "signals": [signal_dict(s) for s in signals],
    }
