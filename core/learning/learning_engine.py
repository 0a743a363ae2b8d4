"""learning_engine: scores stored signals at 5, 15 and 30 minutes of event time into signal_outcomes.

Signals are read in id order in chunks; each chunk loads one spot path per symbol and run (one
query for the chunk's time range: a signal is scored against its own run's prices only, a legacy
signal without a run against every snapshot of its symbol), applies the pure rules of
core.learning.outcomes, inserts the verdicts with ON CONFLICT DO NOTHING (one row per signal and
horizon, so reruns are harmless) and refreshes the touched formula_experience keys in the same
transaction. Nothing here reads the wall clock: `now` is
event time (the runtime's clock), or +inf for an offline backlog where the recording decides.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from tqdm import tqdm

from core.clock import to_datetime, to_epoch
from core.learning.experience_updater import ExperienceKey, update_experience
from core.learning.outcomes import HORIZONS_S, OutcomeResult, evaluate_outcome
from core.learning.spot_paths import SpotPath, due_bound, load_path, session_close_for
from core.market_calendar import MarketCalendar
from core.storage.database import insert_ignoring_conflicts
from core.storage.models import AiSignalLog, SignalOutcome

SessionFactory = Callable[[], Session]
S, SO = AiSignalLog, SignalOutcome
CHUNK_SIGNALS = 2000
# Paths are loaded this far beyond the chunk's signals: before, for the ATM IV at entry; after, so
# the sample that proves a horizon was reached (the first one past its end) is there.
PATH_MARGIN_S = 300.0


@dataclass(frozen=True, slots=True)
class StoredSignal:
    """The columns of a stored signal that scoring needs."""

    id: int
    ts: float
    symbol: str
    engine: str
    signal: str
    direction: str
    spot: float
    run_id: str | None = None  # None: a legacy signal, scored against every snapshot of its symbol


PathKey = tuple[str, str | None]  # (symbol, run_id)


def _pending_conditions(
    now: float, since: float | None, calendar: MarketCalendar | None = None
) -> list[sa.ColumnElement[bool]]:
    scored = sa.select(sa.func.count()).where(SO.signal_id == S.id).scalar_subquery()
    conds = [S.spot_price > 0, scored < len(HORIZONS_S)]
    if math.isfinite(now):
        # Signals younger than the shortest horizon (and not cut by a close) cannot be due yet.
        bound = due_bound(calendar or MarketCalendar.default(), now, min(HORIZONS_S))
        conds.append(S.timestamp <= to_datetime(bound))
    if since is not None:
        conds.append(S.timestamp >= to_datetime(since))
    return conds


def count_pending(session: Session, now: float = math.inf, since: float | None = None) -> int:
    """Stored signals that still lack an outcome at some horizon."""
    return int(
        session.execute(sa.select(sa.func.count()).where(*_pending_conditions(now, since))).scalar_one()
    )


def pending_signals(
    session: Session,
    now: float,
    since: float | None,
    after_id: int,
    limit: int = CHUNK_SIGNALS,
    calendar: MarketCalendar | None = None,
) -> list[StoredSignal]:
    cols = (S.id, S.timestamp, S.symbol, S.engine, S.signal, S.direction, S.spot_price, S.run_id)
    stmt = sa.select(*cols).where(*_pending_conditions(now, since, calendar), S.id > after_id)
    out = []
    for r in session.execute(stmt.order_by(S.id).limit(limit)).all():
        assert r[6] is not None  # _pending_conditions keeps spot_price > 0
        out.append(StoredSignal(r[0], to_epoch(r[1]), r[2], r[3], r[4], r[5], float(r[6]), r[7]))
    return out


def _stored_horizons(session: Session, signal_ids: Sequence[int]) -> dict[int, set[int]]:
    stmt = sa.select(SO.signal_id, SO.horizon_s).where(SO.signal_id.in_(signal_ids))
    done: dict[int, set[int]] = {}
    for signal_id, horizon in session.execute(stmt):
        done.setdefault(signal_id, set()).add(horizon)
    return done


def score_signal(
    sig: StoredSignal,
    path: SpotPath,
    close_ts: float | None,
    now: float = math.inf,
    horizons: Iterable[int] = HORIZONS_S,
) -> list[OutcomeResult]:
    """The verdicts that are due for `sig` at `now` (event time), from the recorded `path`."""
    after = path.after(sig.ts)
    iv = path.atm_iv_at(sig.ts) if sig.direction == "NONE" else None
    out: list[OutcomeResult] = []
    for horizon in horizons:
        end = sig.ts + horizon if close_ts is None else min(sig.ts + horizon, close_ts)
        if now < end:  # live: the window is still open, however much of it is recorded
            continue
        result = evaluate_outcome(
            sig.direction, sig.ts, sig.spot, after.ts, after.spot, horizon,
            session_close_ts=close_ts, atm_iv=iv,
        )  # fmt: skip
        if result is not None:
            out.append(result)
    return out


def outcome_row(signal_id: int, r: OutcomeResult) -> dict[str, Any]:
    return {
        "signal_id": signal_id,
        "horizon_s": r.horizon_s,
        "evaluated_at": to_datetime(r.evaluated_ts),
        "spot_at_eval": r.spot_at_eval,
        "move_pct": r.move_pct,
        "mfe_pct": r.mfe_pct,
        "mae_pct": r.mae_pct,
        "outcome": r.outcome,
        "at_close": r.at_close,
    }


def _paths(session: Session, signals: Iterable[StoredSignal]) -> dict[PathKey, SpotPath]:
    """One query per symbol and run over the chunk's whole time range (plus the longest horizon and
    margins)."""
    spans: dict[PathKey, list[float]] = {}
    for s in signals:
        lo_hi = spans.setdefault((s.symbol, s.run_id), [s.ts, s.ts])
        lo_hi[0], lo_hi[1] = min(lo_hi[0], s.ts), max(lo_hi[1], s.ts)
    return {
        (symbol, run): load_path(
            session, symbol, lo - PATH_MARGIN_S, hi + max(HORIZONS_S) + PATH_MARGIN_S, run
        )
        for (symbol, run), (lo, hi) in spans.items()
    }


def score_chunk(
    session: Session, signals: Sequence[StoredSignal], now: float, calendar: MarketCalendar
) -> tuple[list[dict[str, Any]], set[ExperienceKey]]:
    """Outcome rows for a chunk of signals and the experience keys they touch."""
    paths = _paths(session, signals)
    done = _stored_horizons(session, [s.id for s in signals])
    rows: list[dict[str, Any]] = []
    touched: set[ExperienceKey] = set()
    for sig in signals:
        todo = [h for h in HORIZONS_S if h not in done.get(sig.id, ())]
        path = paths[sig.symbol, sig.run_id]
        results = score_signal(sig, path, session_close_for(calendar, sig.ts), now, todo)
        rows.extend(outcome_row(sig.id, r) for r in results)
        if results:
            touched.add((sig.engine, sig.signal, sig.symbol))
    return rows, touched


def evaluate_signals(
    session_factory: SessionFactory,
    now: float = math.inf,
    since: float | None = None,
    calendar: MarketCalendar | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Score every pending signal (timestamp in [since, now]) and update experience; one transaction
    per chunk, so an interruption loses at most the chunk in flight (and a rerun redoes it)."""
    calendar = calendar or MarketCalendar.default()
    stats = {"signals_checked": 0, "outcomes_written": 0, "experience_rows": 0}
    with session_factory() as session:
        total = count_pending(session, now, since) if progress else 0
    bar = tqdm(total=total, disable=not progress, unit="signal", desc="outcomes", file=sys.stderr)
    after_id = 0
    with bar:
        while True:
            with session_factory() as session:
                chunk = pending_signals(session, now, since, after_id, calendar=calendar)
                if not chunk:
                    break
                rows, touched = score_chunk(session, chunk, now, calendar)
                if rows:
                    insert_ignoring_conflicts(session, SO.__table__, rows, ["signal_id", "horizon_s"])
                    stats["experience_rows"] += update_experience(session, touched)
                session.commit()
            after_id = chunk[-1].id
            stats["signals_checked"] += len(chunk)
            stats["outcomes_written"] += len(rows)
            bar.update(len(chunk))
    return stats
