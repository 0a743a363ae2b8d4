"""Open-interest positioning of one expiry's chain: totals, put/call ratios, max pain, build-up and
the per-strike arrays LiveMetrics carries.

A pure function of the ChainArrays alone (no spot, no clock), so the structural engine keeps the
result for as long as the chain's legs have not ticked (core.analytics.chain_arrays.ChainCache).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from core.analytics import flow
from core.analytics.chain_arrays import ChainArrays
from core.domain import frozen_array


@dataclass(frozen=True, slots=True)
class Positioning:
    """LiveMetrics fields, and why some are None as (field, reason) in the order they were found."""

    fields: Mapping[str, Any]
    missing: tuple[tuple[str, str], ...]
    max_oi_strike: float | None  # the strike with the largest call + put OI


def positioning(c: ChainArrays) -> Positioning:
    strikes, oi, vol = c.strikes, c["oi"], c["volume"]
    day_change = oi - c["prev_oi"]
    out: dict[str, Any] = {}
    missing: list[tuple[str, str]] = []
    _totals(oi, vol, day_change, out, missing)
    out["max_pain"] = flow.max_pain(strikes, oi[0], oi[1])
    if out["max_pain"] is None:
        missing.append(("max_pain", "no open interest"))
    per_strike = {"call_oi": oi[0], "put_oi": oi[1], "call_volume": vol[0]}
    per_strike.update(put_volume=vol[1], call_ltp=c["ltp"][0], put_ltp=c["ltp"][1])
    per_strike.update(call_ts=c["ts"][0], put_ts=c["ts"][1])
    per_strike.update(call_bid=c["bid"][0], put_bid=c["bid"][1], call_ask=c["ask"][0], put_ask=c["ask"][1])
    per_strike.update(call_oi_change=day_change[0], put_oi_change=day_change[1])
    # The chain's own (read-only float) strikes, not a copy: one object for as long as the strike
    # grid holds, which the engines' history compares by identity before comparing values.
    out["strikes"] = strikes
    out.update({k: frozen_array(v) for k, v in per_strike.items()})
    total = np.nansum(oi, axis=0)
    max_oi_strike = float(strikes[np.argmax(total)]) if total.max(initial=0) > 0 else None
    classes = flow.buildup_classes(c["ltp"] - c["prev_close"], day_change)
    out["buildup_counts"] = MappingProxyType(flow.buildup_counts(classes))
    out["call_buildup"], out["put_buildup"] = tuple(classes[0].tolist()), tuple(classes[1].tolist())
    return Positioning(MappingProxyType(out), tuple(missing), max_oi_strike)


def _totals(
    oi: np.ndarray,
    vol: np.ndarray,
    day_change: np.ndarray,
    out: dict[str, Any],
    missing: list[tuple[str, str]],
) -> None:
    """Totals and put/call ratios; a total with no reported leg is None, not a silent 0."""
    totals = {}
    for name, arr in (("oi", oi), ("volume", vol), ("oi_change", day_change)):
        known = np.isfinite(arr).any(axis=1)
        sums = np.nansum(arr, axis=1)
        totals[name] = [float(sums[i]) if known[i] else None for i in (0, 1)]
    for side, i in (("call", 0), ("put", 1)):
        for name in ("oi", "volume"):
            out[f"total_{side}_{name}"] = totals[name][i]
            if totals[name][i] is None:
                missing.append((f"total_{side}_{name}", f"no {side} leg reports {name}"))
    for field, name in (("pcr_oi", "oi"), ("pcr_volume", "volume"), ("pcr_oi_change", "oi_change")):
        calls, puts = totals[name]
        out[field] = flow.ratio(puts, calls) if calls is not None and puts is not None else None
        if out[field] is None:
            missing.append((field, f"call {name.replace('_', ' ')} is zero or unreported"))
