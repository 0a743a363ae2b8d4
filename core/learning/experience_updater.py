"""experience_updater: formula_experience recomputed in SQL for the keys that new outcomes touched.

Incremental (only the touched engine/signal/symbol keys, plus their all-symbols rows) and idempotent:
a key's counts are always recomputed whole from signal_outcomes with GROUP BY and then upserted, so
running it twice, or after a crash between the outcome insert and this update, gives the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.learning.experience import Experience
from core.learning.outcomes import CORRECT, NEUTRAL, WRONG
from core.storage.models import AiSignalLog, FormulaExperience, SignalOutcome, outcome_count

S, SO, F = AiSignalLog, SignalOutcome, FormulaExperience.__table__
ExperienceKey = tuple[str, str, str]  # (engine, signal, symbol)
# Row values in one IN list: PostgreSQL and SQLite both bind one parameter per value.
KEYS_PER_QUERY = 300


def _counts(session: Session, where: sa.ColumnElement[bool], by_symbol: bool) -> list[dict[str, Any]]:
    """One row per (engine, signal, [symbol,] horizon): counts, mean raw score, latest evaluation."""
    group = [S.engine, S.signal, *([S.symbol] if by_symbol else []), SO.horizon_s]
    stmt = (
        sa.select(
            *group,
            outcome_count(CORRECT).label("wins"),
            outcome_count(WRONG).label("losses"),
            outcome_count(NEUTRAL).label("neutrals"),
            sa.func.avg(S.raw_score).label("mean_raw"),
            sa.func.max(SO.evaluated_at).label("last_updated"),
        )
        .join(SO, SO.signal_id == S.id)
        .where(where)
        .group_by(*group)
    )
    return [_experience_row(r._mapping, by_symbol) for r in session.execute(stmt)]


def _experience_row(r: Any, by_symbol: bool) -> dict[str, Any]:
    exp = Experience(int(r["wins"]), int(r["losses"]), int(r["neutrals"]))
    # A signal without a raw score (external) blends with the uninformative 0.5.
    mean_raw = float(r["mean_raw"]) if r["mean_raw"] is not None else 0.5
    return {
        "engine": r["engine"],
        "signal": r["signal"],
        "symbol": r["symbol"] if by_symbol else None,
        "horizon_s": int(r["horizon_s"]),
        "total_tests": exp.total,
        "wins": exp.wins,
        "losses": exp.losses,
        "neutrals": exp.neutrals,
        "success_rate": exp.success_rate,
        "adjusted_confidence": exp.adjusted_confidence(mean_raw),
        "last_updated": r["last_updated"],  # event time of the newest outcome: reruns change nothing
    }


def _upsert(session: Session, rows: list[dict[str, Any]], all_symbols: bool) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(F).values(rows)
    if all_symbols:
        # NULL symbols never conflict on the 4-column constraint; the partial unique index does.
        key = ["engine", "signal", "horizon_s"]
        where: sa.ColumnElement[bool] | None = F.c.symbol.is_(None)
    else:
        key, where = ["engine", "signal", "symbol", "horizon_s"], None
    changed = {name: stmt.excluded[name] for name in rows[0] if name not in (*key, "symbol")}
    session.execute(stmt.on_conflict_do_update(index_elements=key, index_where=where, set_=changed))


def update_experience(session: Session, keys: Iterable[ExperienceKey]) -> int:
    """Recompute and upsert formula_experience for `keys` and their all-symbols rows, every horizon.

    Returns the number of rows written. The caller commits."""
    triples = sorted(set(keys))
    written = 0
    for i in range(0, len(triples), KEYS_PER_QUERY):
        chunk = triples[i : i + KEYS_PER_QUERY]
        per_symbol = _counts(session, sa.tuple_(S.engine, S.signal, S.symbol).in_(chunk), True)
        _upsert(session, per_symbol, all_symbols=False)
        written += len(per_symbol)
    pairs = sorted({(engine, signal) for engine, signal, _ in triples})
    for i in range(0, len(pairs), KEYS_PER_QUERY):
        overall = _counts(session, sa.tuple_(S.engine, S.signal).in_(pairs[i : i + KEYS_PER_QUERY]), False)
        _upsert(session, overall, all_symbols=True)
        written += len(overall)
    return written


def rebuild_all(session: Session) -> int:
    """Recompute every key that has outcomes (after a schema or rule change). The caller commits."""
    keys = session.execute(sa.select(S.engine, S.signal, S.symbol).join(SO, SO.signal_id == S.id).distinct())
    return update_experience(session, [(engine, signal, symbol) for engine, signal, symbol in keys])
