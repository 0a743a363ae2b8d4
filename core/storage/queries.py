"""Read API over stored signals and their outcomes; every aggregate is computed in SQL (GROUP BY).

Every read can be narrowed to one run, or to every run but backtests (core.storage.runs), and none
returns the no-view signals (core.domain.NO_VIEW_SIGNALS) of legacy databases.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from core.clock import IST
from core.storage.database import SessionLocal
from core.storage.filters import PENDING, SignalFilter
from core.storage.models import OUTCOMES, AiSignalLog, SignalOutcome, outcome_count
from core.storage.rollup import raw_signal_sums, signal_scope, window_sums
from core.storage.runs import check_run
from core.storage.types import ist_date

SessionFactory = Callable[[], Session]
MAX_PAGE_SIZE = 1000

S = AiSignalLog
O = SignalOutcome  # noqa: E741 - short alias used throughout the SQL below
SIGNAL_COLUMNS = (
    S.id, S.signal_uid, S.timestamp, S.symbol, S.expiry, S.engine, S.signal, S.direction,
    S.confidence, S.raw_score, S.strength, S.spot_price, S.metadata_.label("metadata"), S.source,
    S.run_id,
)  # fmt: skip


def _factory(session_factory: SessionFactory | None) -> SessionFactory:
    return session_factory or SessionLocal


def _since(hours: float | None, now: datetime | None) -> datetime | None:
    if hours is None:
        return None
    if not (isinstance(hours, int | float) and math.isfinite(hours) and hours > 0):
        raise ValueError(f"hours must be a positive number of hours, got {hours!r}")
    return (now or datetime.now(UTC)) - timedelta(hours=hours)


def _window(
    symbol: str | None,
    hours: float | None,
    now: datetime | None,
    run_id: str | None = None,
    exclude_backtests: bool = False,
) -> list[sa.ColumnElement[bool]]:
    check_run(run_id, exclude_backtests)
    conds = signal_scope(run_id, exclude_backtests)
    if symbol:
        conds.append(S.symbol == symbol)
    since = _since(hours, now)
    if since is not None:
        conds.append(S.timestamp >= since)
    return conds


def _signal_dict(row: sa.Row[*tuple[Any, ...]]) -> dict[str, Any]:
    return dict(row._mapping)


def get_recent_signals(
    symbol: str | None = None,
    limit: int = 100,
    hours: float | None = None,
    session_factory: SessionFactory | None = None,
    now: datetime | None = None,
    *,
    run_id: str | None = None,
    exclude_backtests: bool = False,
) -> list[dict[str, Any]]:
    """The newest stored signals (optionally of one symbol, within the last `hours` before `now`,
    of one run or of every run but backtests)."""
    if not (isinstance(limit, int) and 1 <= limit <= 10_000):
        raise ValueError(f"limit must be an integer between 1 and 10000, got {limit!r}")
    stmt = sa.select(*SIGNAL_COLUMNS).where(*_window(symbol, hours, now, run_id, exclude_backtests))
    stmt = stmt.order_by(S.timestamp.desc(), S.id.desc()).limit(limit)
    with _factory(session_factory)() as session:
        return [_signal_dict(row) for row in session.execute(stmt)]


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def get_signal_statistics(
    symbol: str | None = None,
    hours: float | None = 24,
    now: datetime | None = None,
    session_factory: SessionFactory | None = None,
    *,
    run_id: str | None = None,
    exclude_backtests: bool = False,
) -> dict[str, Any]:
    """Totals, counts by engine and signal, average confidence, and per engine/signal/horizon hit
    rate (CORRECT / (CORRECT + WRONG), neutrals counted apart) and average move from outcomes, of
    one run (`run_id`), of every run but backtests, or of all stored signals.

    Answered from the hourly rollup plus raw GROUP BYs for the window's partial first hour and for
    rows newer than the rollup (core.storage.rollup), so any window costs about the same and the
    result equals the raw aggregate over the window exactly."""
    check_run(run_id, exclude_backtests)
    since = _since(hours, now)
    with _factory(session_factory)() as session:
        _tune_reads(session)
        sums = window_sums(session, symbol, since, run_id, exclude_backtests)
    count_rows = [(e, s, int(v[0]), v[1], int(v[2])) for (e, s), v in sums.signals.items()]
    outcome_rows = [
        (e, s, h, int(n), c, w, nt, _ratio(move, n_move), _ratio(abs_move, n_move))
        for (e, s, h), (n, c, w, nt, move, n_move, abs_move) in sorted(sums.outcomes.items())
    ]
    return {
        "symbol": symbol,
        "hours": hours,
        **_count_summary(count_rows),
        "outcomes": [_outcome_dict(row) for row in outcome_rows],
    }


def _tune_reads(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    # One snapshot for all the statements of one answer, so a signal committed meanwhile is either
    # in every part or in none.
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    # The default page cost (4) models spinning disks: PostgreSQL then hash-joins every stored
    # outcome even for a one-hour edge. At SSD cost the index nested loop wins 2-3x. LOCAL: this
    # transaction only.
    session.execute(sa.text("SET LOCAL random_page_cost = 1.1"))


def _raw_statistics(
    symbol: str | None,
    hours: float | None,
    now: datetime | None,
    session_factory: SessionFactory | None,
    run_id: str | None = None,
    exclude_backtests: bool = False,
) -> dict[str, Any]:
    """The same answer straight from the raw tables (the tests' reference for the rollup path)."""
    conds = _window(symbol, hours, now, run_id, exclude_backtests)
    with _factory(session_factory)() as session:
        _tune_reads(session)
        count_rows = session.execute(raw_signal_sums(conds)).all()
        outcome_rows = session.execute(_outcome_stats(conds)).all()
    return {
        "symbol": symbol,
        "hours": hours,
        **_count_summary(count_rows),
        "outcomes": [_outcome_dict(row) for row in outcome_rows],
    }


def _count_summary(count_rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Totals from the per (engine, signal) groups: a few dozen rows, never the signals themselves."""
    by_engine: dict[str, int] = {}
    by_signal: dict[str, int] = {}
    pairs = []
    total = conf_sum = conf_n = 0.0
    for engine, signal, n, c_sum, c_n in count_rows:
        by_engine[engine] = by_engine.get(engine, 0) + n
        by_signal[signal] = by_signal.get(signal, 0) + n
        pairs.append(
            {"engine": engine, "signal": signal, "count": n, "avg_confidence": _ratio(c_sum or 0.0, c_n)}
        )
        total, conf_sum, conf_n = total + n, conf_sum + (c_sum or 0.0), conf_n + c_n
    return {
        "total": int(total),
        "avg_confidence": _ratio(conf_sum, conf_n),
        "by_engine": by_engine,
        "by_signal": by_signal,
        "by_engine_signal": sorted(pairs, key=lambda p: (-p["count"], p["engine"], p["signal"])),
    }


def _outcome_stats(conds: Sequence[sa.ColumnElement[bool]]) -> sa.Select[*tuple[Any, ...]]:
    return (
        sa.select(
            S.engine,
            S.signal,
            O.horizon_s,
            sa.func.count(),
            *(outcome_count(label) for label in OUTCOMES),
            sa.func.avg(O.move_pct),
            sa.func.avg(sa.func.abs(O.move_pct)),
        )  # fmt: skip
        .join(O, O.signal_id == S.id)
        .where(*conds)
        .group_by(S.engine, S.signal, O.horizon_s)
        .order_by(S.engine, S.signal, O.horizon_s)
    )


def _outcome_dict(row: Sequence[Any]) -> dict[str, Any]:
    engine, signal, horizon, n, correct, wrong, neutral, avg_move, avg_abs = row
    return {
        "engine": engine,
        "signal": signal,
        "horizon_s": horizon,
        "evaluated": n,
        "correct": int(correct),
        "wrong": int(wrong),
        "neutral": int(neutral),
        "hit_rate": _ratio(int(correct), int(correct) + int(wrong)),
        "avg_move_pct": None if avg_move is None else float(avg_move),
        "avg_abs_move_pct": None if avg_abs is None else float(avg_abs),
    }


def latest_signal_id(session_factory: SessionFactory | None = None) -> int:
    """The newest stored signal's id (0 on an empty table): a page's `SignalFilter.max_id`."""
    with _factory(session_factory)() as session:
        return int(session.execute(sa.select(sa.func.max(S.id))).scalar() or 0)


def _conditions(f: SignalFilter) -> list[sa.ColumnElement[bool]]:
    conds = signal_scope(f.run_id, f.exclude_backtests)
    if f.start is not None:
        conds.append(S.timestamp >= f.start)
    if f.end is not None:
        conds.append(S.timestamp <= f.end)
    for column, values in ((S.symbol, f.symbols), (S.engine, f.engines), (S.signal, f.signals)):
        if values:
            conds.append(column.in_(list(values)))
    if f.direction is not None:
        conds.append(S.direction == f.direction)
    if f.min_confidence is not None:
        conds.append(S.confidence >= f.min_confidence)
    if f.max_confidence is not None:
        conds.append(S.confidence <= f.max_confidence)
    if f.max_id is not None:
        conds.append(S.id <= f.max_id)
    if f.outcome is not None:
        # An alias: the history query may already join signal_outcomes for the shown horizon.
        oc = aliased(SignalOutcome)
        match = sa.select(oc.id).where(oc.signal_id == S.id)
        if f.horizon_s is not None:
            match = match.where(oc.horizon_s == f.horizon_s)
        if f.outcome == PENDING:
            conds.append(~sa.exists(match))
        else:
            conds.append(sa.exists(match.where(oc.outcome == f.outcome)))
    return conds


def _history_select(f: SignalFilter) -> sa.Select[*tuple[Any, ...]]:
    stmt = sa.select(*SIGNAL_COLUMNS)
    if f.horizon_s is not None:
        on = sa.and_(O.signal_id == S.id, O.horizon_s == f.horizon_s)
        stmt = stmt.add_columns(O.outcome, O.move_pct, O.mfe_pct, O.mae_pct).outerjoin(O, on)
    else:
        nulls = [sa.null().label(n) for n in ("outcome", "move_pct", "mfe_pct", "mae_pct")]
        stmt = stmt.add_columns(*nulls)
    return stmt.where(*_conditions(f)).order_by(S.timestamp.desc(), S.id.desc())


def query_signals(
    filter: SignalFilter, page: int = 1, page_size: int = 50, session_factory: SessionFactory | None = None
) -> tuple[list[dict[str, Any]], int]:
    """One page (1-based, newest first) of the filtered history and the total number of matches."""
    filter.validate()
    if not (isinstance(page, int) and page >= 1):
        raise ValueError(f"page must be a whole number >= 1, got {page!r}")
    if not (isinstance(page_size, int) and 1 <= page_size <= MAX_PAGE_SIZE):
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size!r}")
    count = sa.select(sa.func.count()).select_from(S).where(*_conditions(filter))
    stmt = _history_select(filter).offset((page - 1) * page_size).limit(page_size)
    with _factory(session_factory)() as session:
        total = session.execute(count).scalar_one()
        rows = [_signal_dict(row) for row in session.execute(stmt)]
    return rows, int(total)


CSV_COLUMNS = (
    "signal_uid", "timestamp", "symbol", "expiry", "engine", "signal", "direction", "confidence",
    "raw_score", "strength", "spot_price", "reasons", "outcome", "move_pct", "mfe_pct", "mae_pct",
    "source", "run_id",
)  # fmt: skip


def _csv_cell(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(IST).isoformat()  # ISO 8601 with +05:30, as the page shows times
    if isinstance(value, datetime | date):
        return value.isoformat()
    # A text cell starting with = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _csv_row(row: dict[str, Any]) -> list[Any]:
    meta = row.get("metadata") or {}
    row = {**row, "reasons": "; ".join(str(r) for r in meta.get("reasons") or ())}
    return [_csv_cell(row.get(col)) for col in CSV_COLUMNS]


def iter_signals_csv(
    filter: SignalFilter, session_factory: SessionFactory | None = None, chunk_rows: int = 1000
) -> Iterator[str]:
    """The filtered history as CSV text: the header, then one chunk of lines per `chunk_rows` rows,
    streamed from the database (yield_per) so an export never holds the whole set in memory."""
    filter.validate()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    stmt = _history_select(filter).execution_options(yield_per=chunk_rows)
    with _factory(session_factory)() as session:
        for chunk in session.execute(stmt).partitions():
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(_csv_row(dict(row._mapping)) for row in chunk)
            yield buffer.getvalue()


def signals_per_day(
    filter: SignalFilter, session_factory: SessionFactory | None = None
) -> list[dict[str, Any]]:
    """Signal counts per IST trading day and engine for the filtered set, oldest day first."""
    filter.validate()
    day = ist_date(S.timestamp).label("day")
    stmt = (
        sa.select(day, S.engine, sa.func.count().label("count"))
        .where(*_conditions(filter))
        .group_by(day, S.engine)
        .order_by(day, S.engine)
    )
    with _factory(session_factory)() as session:
        return [{"day": d, "engine": e, "count": int(n)} for d, e, n in session.execute(stmt)]
