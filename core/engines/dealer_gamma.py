"""DealerGammaEngine: the dealers' gamma regime from normalised net GEX (LONG/SHORT_GAMMA, GAMMA_NEUTRAL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from core.domain import Direction, LiveMetrics
from core.engines.base import EngineParams, EngineResult, num
from core.engines.history import EngineHistory


@dataclass(frozen=True, slots=True)
class DealerGammaParams(EngineParams):
    """g = net_gex / gross_gex; |g| > threshold (0.15) is a long or short gamma regime.

    Confidence = w_g * min(|g| / g_full, 1) + w_flip * min(distance to flip / flip_full_pct, 1) for
    LONG/SHORT; for GAMMA_NEUTRAL the complements (small |g|, close to the flip).

    Hysteresis (the SPEC gives only the entry band): a regime entered beyond +-threshold holds until
    |g| falls inside exit_band (0.10), so a g hovering at 0.15 is one regime change, not one every
    cooldown. The regime between the bands is read from the g history of the last hold_window_s.
    """

    threshold: float = 0.15
    exit_band: float = 0.10
    hold_window_s: float = 1800.0
    g_full: float = 0.6  # |g| at which the gamma part of confidence saturates
    flip_full_pct: float = 0.01  # distance from the flip (fraction of spot) at which it saturates
    w_g: float = 0.7
    w_flip: float = 0.3


class DealerGammaEngine:
    """A classifier, not a two-sided score: every update with GEX has a regime (active), and the
    pipeline's episode logic emits it only when the regime changes."""

    name: ClassVar[str] = "DealerGammaEngine"
    params_type: ClassVar[type[EngineParams]] = DealerGammaParams

    def evaluate(
        self, metrics: LiveMetrics, history: EngineHistory, params: DealerGammaParams | None = None
    ) -> EngineResult:
        p = params or DealerGammaParams()
        net, gross = metrics.net_gex, metrics.gross_gex
        flip_dist = _flip_distance(metrics)
        features: dict[str, Any] = {
            "net_gex": num(net),
            "gross_gex": num(gross),
            "gamma_flip": num(metrics.gamma_flip),
            "flip_state": metrics.flip_state or None,
            "flip_distance_pct": num(flip_dist),
            "ret_5m": num(metrics.ret_5m),
        }
        if net is None or gross is None or not gross > 0:
            return EngineResult.inactive(features)
        g = max(-1.0, min(1.0, net / gross))
        features["g"] = num(g)
        far = min((flip_dist if flip_dist is not None else 0.0) / p.flip_full_pct, 1.0)
        flip_tag = "far_from_flip" if far >= 0.5 else "near_flip"
        held = _held_regime(g, history, p)
        features["held"] = held != 0 and abs(g) <= p.threshold
        if held == 0:
            score = p.w_g * (1.0 - abs(g) / p.threshold) + p.w_flip * (1.0 - far)
            return _result("GAMMA_NEUTRAL", "NONE", score, abs(g), ("g_within_band", flip_tag), features)
        score = p.w_g * min(abs(g) / p.g_full, 1.0) + p.w_flip * far
        if held > 0:
            return _result("LONG_GAMMA", "NONE", score, abs(g), ("g_above_band", flip_tag), features)
        ret = metrics.ret_5m
        # Short-gamma dealers hedge with the move, so it extends: the direction is the recent move's.
        direction: Direction = (
            "UP" if ret is not None and ret > 0 else "DOWN" if ret is not None and ret < 0 else "NONE"
        )
        return _result("SHORT_GAMMA", direction, score, abs(g), ("g_below_band", flip_tag), features)


def _held_regime(g: float, history: EngineHistory, p: DealerGammaParams) -> int:
    """+1 long, -1 short, 0 neutral: the latest g sample beyond the entry band or inside the exit
    band decides (a Schmitt trigger read from history, so the engine keeps no state)."""
    if abs(g) > p.threshold:
        return 1 if g > 0 else -1
    if abs(g) <= p.exit_band:
        return 0
    ts, net = history.window("net_gex", p.hold_window_s)
    gross = history.sample("gross_gex", ts)
    with np.errstate(divide="ignore", invalid="ignore"):
        series = np.where(gross > 0, net / gross, np.nan)
    last = -1
    regime = 0
    for value, mask in (
        (1, series > p.threshold),
        (-1, series < -p.threshold),
        (0, np.abs(series) <= p.exit_band),
    ):
        hits = np.flatnonzero(mask)
        if len(hits) and hits[-1] > last:
            last, regime = int(hits[-1]), value
    return regime if regime == 0 or regime * g > 0 else 0


def _flip_distance(m: LiveMetrics) -> float | None:
    """|spot - flip| / spot as a fraction; with no crossing on the grid the flip is far away (inf)."""
    if m.spot is None or not m.spot > 0:
        return None
    if m.gamma_flip is None:
        return float("inf") if m.flip_state in ("all positive", "all negative") else None
    return abs(m.spot - m.gamma_flip) / m.spot


def _result(
    signal: str, direction: Direction, score: float, strength: float, reasons: tuple[str, ...], features: dict
) -> EngineResult:
    score = round(max(0.0, min(1.0, score)), 9)
    return EngineResult(signal, direction, score, round(min(strength, 1.0), 9), reasons, features, True)
