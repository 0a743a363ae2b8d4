"""The JSON shape of a symbol's latest state (`live_chain_state`), written by a worker, read by replicas."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields
from datetime import date
from typing import Any

from core.domain import LiveMetrics, Signal, frozen_array
from core.engines.base import EngineResult
from core.engines.pipeline import EngineState

SCALAR_FIELDS = tuple(
    f.name
    for f in fields(LiveMetrics)
    if f.name not in ("expiry", "alerts", "buildup_counts", "unavailable", "em_bands")
    and f.type in ("float | None", "float", "str | None", "str", "int")
)
ARRAY_FIELDS = (
    "strikes", "call_oi", "put_oi", "call_oi_change", "put_oi_change", "call_volume", "put_volume",
    "call_ltp", "put_ltp", "call_iv", "put_iv", "call_delta", "put_delta", "call_gex", "put_gex",
    "gex_by_strike", "gex_profile_spot", "gex_profile",
)  # fmt: skip


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and value != value else value  # NaN -> null


def metrics_to_dict(m: LiveMetrics) -> dict[str, Any]:
    """Every scalar metric, the per-strike arrays and the reasons for what is unavailable."""
    out: dict[str, Any] = {name: _plain(getattr(m, name)) for name in SCALAR_FIELDS}
    out["expiry"] = m.expiry.isoformat() if m.expiry else None
    out["em_bands"] = list(m.em_bands) if m.em_bands else None
    out["buildup_counts"] = dict(m.buildup_counts)
    out["buildup"] = {"call": list(m.call_buildup), "put": list(m.put_buildup)}
    out["unavailable"] = dict(m.unavailable)
    out["arrays"] = {name: [_plain(float(v)) for v in getattr(m, name)] for name in ARRAY_FIELDS}
    return out


def metrics_from_dict(d: Mapping[str, Any]) -> LiveMetrics:
    """The inverse of `metrics_to_dict` (alerts are not carried)."""
    arrays: dict[str, Any] = {  # LiveMetrics' array fields by name, as the JSON holds them
        name: frozen_array([float("nan") if v is None else v for v in d.get("arrays", {}).get(name, [])])
        for name in ARRAY_FIELDS
    }
    scalars = {name: d[name] for name in SCALAR_FIELDS if name in d and d[name] is not None}
    scalars.setdefault("spot", None)
    return LiveMetrics(
        **scalars,
        expiry=date.fromisoformat(d["expiry"]) if d.get("expiry") else None,
        em_bands=tuple(d["em_bands"]) if d.get("em_bands") else None,
        buildup_counts=dict(d.get("buildup_counts") or {}),
        call_buildup=tuple(d.get("buildup", {}).get("call", ())),
        put_buildup=tuple(d.get("buildup", {}).get("put", ())),
        unavailable=dict(d.get("unavailable") or {}),
        **arrays,
    )


def signal_to_dict(s: Signal) -> dict[str, Any]:
    d = asdict(s)
    d["expiry"] = s.expiry.isoformat() if s.expiry else None
    d["reasons"] = list(s.reasons)
    d["features"] = dict(s.features)
    return d


def signal_from_dict(d: Mapping[str, Any]) -> Signal:
    return Signal(
        **{
            **d,
            "expiry": date.fromisoformat(d["expiry"]) if d.get("expiry") else None,
            "reasons": tuple(d.get("reasons") or ()),
            "features": dict(d.get("features") or {}),
        }
    )


def _state_to_dict(state: EngineState) -> dict[str, Any]:
    r = state.result
    return {
        "result": None
        if r is None
        else {
            "signal": r.signal,
            "direction": r.direction,
            "raw_score": r.raw_score,
            "strength": r.strength,
            "reasons": list(r.reasons),
            "active": r.active,
        },
        "updated_ts": state.updated_ts,
        "last_signal": signal_to_dict(state.last_signal) if state.last_signal else None,
        "held": state.held,
    }


def _state_from_dict(engine: str, d: Mapping[str, Any]) -> EngineState:
    r = d.get("result")
    result = None if r is None else EngineResult(**{**r, "reasons": tuple(r.get("reasons") or ())})
    last = d.get("last_signal")
    held = d.get("held")
    return EngineState(engine, result, d.get("updated_ts"), signal_from_dict(last) if last else None, held)


def live_state_payload(
    by_expiry: Mapping[date, LiveMetrics],
    default_expiry: date | None,
    engine_states: Mapping[str, EngineState],
    signals: Iterable[Signal],
    feed: Mapping[str, Any],
) -> dict[str, Any]:
    """Everything a replica's Live page needs for one symbol, as JSON."""
    return {
        "default_expiry": default_expiry.isoformat() if default_expiry else None,
        "metrics": {e.isoformat(): metrics_to_dict(m) for e, m in by_expiry.items()},
        "engines": {name: _state_to_dict(s) for name, s in engine_states.items()},
        "signals": [signal_to_dict(s) for s in signals],
        "feed": dict(feed),
    }


def parse_live_state(
    payload: Mapping[str, Any],
) -> tuple[dict[date, LiveMetrics], date | None, dict[str, EngineState], list[Signal], dict[str, str]]:
    """The inverse of `live_state_payload`."""
    by_expiry = {date.fromisoformat(e): metrics_from_dict(d) for e, d in payload.get("metrics", {}).items()}
    default = payload.get("default_expiry")
    states = {name: _state_from_dict(name, d) for name, d in payload.get("engines", {}).items()}
    signals = [signal_from_dict(d) for d in payload.get("signals", [])]
    return (
        by_expiry,
        date.fromisoformat(default) if default else None,
        states,
        signals,
        dict(payload.get("feed", {})),
    )
