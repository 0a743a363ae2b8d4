"""The backtest scorecard: per engine, signal and horizon, how often the calls were right, how sure
we can be, what no skill would have scored on the same sessions, and whether the confidence meant
what it said.

Read from the database after the learning code scored the runs' signals (signal_outcomes), so the
numbers are those the Performance page shows for the same rows. Per row:
- signals, and signals per session-hour (session-hours: first to last stored snapshot per session);
- decided = CORRECT + WRONG (NEUTRAL is neither), hit rate = CORRECT / decided, with its 95 % Wilson
  interval (core.learning.performance.wilson_interval, by scipy.stats);
- baseline: core.backtest.baseline's directional or range baseline at that horizon, weighted by the
  row's decided calls of each kind (a row normally has one kind);
- Brier score of confidence against the outcome (CORRECT = 1, WRONG = 0) over decided calls, and a
  reliability table: confidence in `bins` equal bins, each with count, mean confidence, hit rate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.backtest.baseline import WindowCounts, baselines
from core.learning.outcomes import CORRECT, HORIZONS_S, NEUTRAL, WRONG
from core.learning.performance import wilson_interval
from core.learning.spot_paths import SpotPath, load_path
from core.market_calendar import MarketCalendar
from core.storage.models import AiSignalLog, MarketSnapshot, SignalOutcome

RELIABILITY_BINS = 5
S, SO, M = AiSignalLog, SignalOutcome, MarketSnapshot


def brier_score(confidences: Sequence[float], hits: Sequence[bool]) -> float | None:
    """Mean squared difference between confidence and outcome (1 hit, 0 miss); None when empty."""
    if not confidences:
        return None
    return sum((c - float(h)) ** 2 for c, h in zip(confidences, hits, strict=True)) / len(confidences)


def reliability(
    confidences: Sequence[float], hits: Sequence[bool], bins: int = RELIABILITY_BINS
) -> list[dict[str, Any]]:
    """Confidence in `bins` equal bins over [0, 1] (the top one closed at 1): count, mean confidence
    and observed hit rate per bin (None for an empty bin)."""
    counts, conf_sum, hit_sum = [0] * bins, [0.0] * bins, [0] * bins
    for c, h in zip(confidences, hits, strict=True):
        k = min(max(int(c * bins), 0), bins - 1)
        counts[k] += 1
        conf_sum[k] += c
        hit_sum[k] += bool(h)
    return [
        {
            "lo": k / bins,
            "hi": (k + 1) / bins,
            "count": counts[k],
            "mean_confidence": conf_sum[k] / counts[k] if counts[k] else None,
            "hit_rate": hit_sum[k] / counts[k] if counts[k] else None,
        }
        for k in range(bins)
    ]


@dataclass(frozen=True, slots=True)
class Sessions:
    """The sessions (one symbol in one run) the scorecard covers and their recorded spot paths."""

    paths: dict[tuple[str, str], SpotPath]

    @property
    def count(self) -> int:
        return len(self.paths)

    @property
    def hours(self) -> float:
        hours: float = sum((p.ts[-1] - p.ts[0]) / 3600.0 for p in self.paths.values() if len(p))
        return hours


def load_sessions(session: Session, run_ids: Sequence[str]) -> Sessions:
    """Every (run, symbol) with stored snapshots, each with its own run's spot path."""
    pairs = session.execute(
        sa.select(M.run_id, M.symbol).where(M.run_id.in_(list(run_ids))).group_by(M.run_id, M.symbol)
    ).all()
    paths = {
        (run, sym): load_path(session, sym, 0.0, math.inf, run)
        for run, sym in sorted(pairs)
        if run is not None  # the query selects runs by id
    }
    return Sessions({key: p for key, p in paths.items() if len(p)})


@dataclass
class _Row:
    """Accumulates one (engine, signal, horizon) row."""

    signals: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    decided_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    confidences: list[float] = field(default_factory=list)
    hits: list[bool] = field(default_factory=list)


def _kind(direction: str) -> str:
    return "range" if direction == "NONE" else "direction"


def _signal_rows(
    session: Session, run_ids: Sequence[str], horizons: Iterable[int]
) -> dict[tuple[str, str, int], _Row]:
    horizons = tuple(horizons)
    sigs = session.execute(
        sa.select(S.id, S.engine, S.signal, S.direction, S.confidence).where(S.run_id.in_(list(run_ids)))
    ).all()
    outcome_stmt = (
        sa.select(SO.signal_id, SO.horizon_s, SO.outcome)
        .join(S, S.id == SO.signal_id)
        .where(S.run_id.in_(list(run_ids)), SO.horizon_s.in_(horizons))
    )
    outcomes = {(sid, h): o for sid, h, o in session.execute(outcome_stmt)}
    rows: dict[tuple[str, str, int], _Row] = defaultdict(_Row)
    for sid, engine, name, direction, confidence in sigs:
        for h in horizons:
            row = rows[engine, name, h]
            row.signals += 1
            row.by_kind[_kind(direction)] += 1
            outcome = outcomes.get((sid, h))
            if outcome is None:
                continue
            row.outcomes[outcome] += 1
            if outcome in (CORRECT, WRONG):
                row.decided_kind[_kind(direction)] += 1
                assert confidence is not None  # the engines stamp every signal they emit
                row.confidences.append(float(confidence))
                row.hits.append(outcome == CORRECT)
    return rows


def row_baseline(
    decided_by_kind: dict[str, int], signals_by_kind: dict[str, int], counts: WindowCounts
) -> float | None:
    """The baseline of a row: each kind's baseline weighted by the row's decided calls of that kind
    (by its signals while none is decided)."""
    weights = decided_by_kind if sum(decided_by_kind.values()) else signals_by_kind
    parts = [(weights.get("direction", 0), counts.directional), (weights.get("range", 0), counts.range)]
    parts = [(w, b) for w, b in parts if w]
    known = [(w, b) for w, b in parts if b is not None]
    if not parts or len(known) < len(parts):
        return None
    return sum(w * b for w, b in known) / sum(w for w, _ in known)


def _finish(
    key: tuple[str, str, int], row: _Row, sessions: Sessions, counts: WindowCounts, bins: int
) -> dict[str, Any]:
    engine, name, horizon = key
    correct, wrong, neutral = row.outcomes[CORRECT], row.outcomes[WRONG], row.outcomes[NEUTRAL]
    decided = correct + wrong
    low, high = wilson_interval(correct, decided)
    hit_rate = correct / decided if decided else None
    baseline = row_baseline(row.decided_kind, row.by_kind, counts)
    kinds = [k for k in ("direction", "range") if row.by_kind.get(k)]
    hours = sessions.hours
    return {
        "engine": engine,
        "signal": name,
        "horizon_s": horizon,
        "kind": kinds[0] if len(kinds) == 1 else "mixed",
        "sessions": sessions.count,
        "session_hours": round(hours, 4),
        "signals": row.signals,
        "signals_per_session_hour": row.signals / hours if hours > 0 else None,
        "scored": correct + wrong + neutral,
        "decided": decided,
        "correct": correct,
        "wrong": wrong,
        "neutral": neutral,
        "hit_rate": hit_rate,
        "ci_low": low,
        "ci_high": high,
        "baseline": baseline,
        "edge": hit_rate - baseline if hit_rate is not None and baseline is not None else None,
        "brier": brier_score(row.confidences, row.hits),
        "reliability": reliability(row.confidences, row.hits, bins),
    }


def build_scorecard(
    session: Session,
    run_ids: Sequence[str],
    calendar: MarketCalendar | None = None,
    horizons: Sequence[int] = HORIZONS_S,
    bins: int = RELIABILITY_BINS,
) -> dict[str, Any]:
    """The scorecard of runs `run_ids` (already scored by the learning code): its rows, the sessions
    and the per-horizon window counts behind the baselines."""
    calendar = calendar or MarketCalendar.default()
    sessions = load_sessions(session, run_ids)
    counts = baselines(sessions.paths.values(), horizons, calendar)
    rows = _signal_rows(session, run_ids, horizons)
    return {
        "sessions": sessions.count,
        "session_hours": round(sessions.hours, 4),
        "baselines": {str(h): counts[h].as_dict() for h in horizons},
        "engines": [_finish(key, rows[key], sessions, counts[key[2]], bins) for key in sorted(rows)],
    }
