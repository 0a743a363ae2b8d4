"""The hourly statistics rollup: refreshing signal_stats_hourly and summing any window exactly.

signal_stats_hourly holds, per UTC hour, symbol, engine, signal and run, the SUMS and COUNTS behind
get_signal_statistics. rollup_state records the highest signal id and outcome id it has read. Both
raw tables are insert-only (ON CONFLICT DO NOTHING), so ids are an exact change log: a refresh
finds the hours touched by ids above the watermark - new signals, and late outcomes of old signals
(the learning loop, `python -m core evaluate` backfills) - and RECOMPUTES those whole hours from the
raw rows at or below the new watermark. Nothing is ever incremented, so a retried or concurrent
refresh cannot double count.

A window is then: rollup hours inside it + raw rows above the watermark + raw rows of the partial
first hour, which is exactly the raw GROUP BY, however stale the rollup. Deleting raw rows (the
bench does) needs `refresh_rollup(session, rebuild=True)`.

Every read leaves out the no-view signals (core.domain.NO_VIEW_SIGNALS) and can be narrowed to one
run or to every run but backtests (core.storage.runs), on the rollup rows and the raw rows alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.domain import NO_VIEW_SIGNALS
from core.storage.database import insert_ignoring_conflicts, rowcount
from core.storage.models import (
    OUTCOMES,
    AiSignalLog,
    RollupState,
    SignalOutcome,
    SignalStatsHourly,
    outcome_count,
)
from core.storage.runs import run_conditions
from core.storage.types import utc_hour

S, O, R = AiSignalLog, SignalOutcome, SignalStatsHourly  # noqa: E741 - short SQL aliases
ROLLUP = "signal_stats_hourly"
BUCKET = timedelta(hours=1)
# Dirty hours closer than this are recomputed as one range: the hours between hold few or no
# signals (nights, weekends), and one range scan beats many small ones.
MERGE_GAP = timedelta(hours=24)
LOCK_TIMEOUT = "30s"
SIGNAL_SUMS = ("n", "sum_confidence", "count_confidence")
OUTCOME_SUMS = ("n", "correct", "wrong", "neutral", "sum_move_pct", "count_move", "sum_abs_move_pct")


def bucket_floor(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def bucket_ceil(ts: datetime) -> datetime:
    floor = bucket_floor(ts)
    return floor if floor == ts else floor + BUCKET


@dataclass
class StatSums:
    """Per (engine, signal) signal sums and per (engine, signal, horizon) outcome sums, mergeable."""

    signals: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    outcomes: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)

    def add(self, target: dict[Any, list[float]], key: Any, values: Sequence[Any]) -> None:
        acc = target.setdefault(key, [0.0] * len(values))
        for i, v in enumerate(values):
            acc[i] += float(v or 0)  # PostgreSQL sums bigint columns as numeric (Decimal)

    def add_signal_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        for engine, signal, *values in rows:
            self.add(self.signals, (engine, signal), values)

    def add_outcome_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        for engine, signal, horizon, *values in rows:
            self.add(self.outcomes, (engine, signal, int(horizon)), values)


def _signal_sums(*group: Any) -> list[sa.ColumnElement[Any]]:
    conf = sa.func.coalesce(sa.func.sum(S.confidence), 0.0)
    return [*group, sa.func.count(), conf, sa.func.count(S.confidence)]


def _outcome_sums(*group: Any) -> list[sa.ColumnElement[Any]]:
    move = sa.func.coalesce(sa.func.sum(O.move_pct), 0.0)
    abs_move = sa.func.coalesce(sa.func.sum(sa.func.abs(O.move_pct)), 0.0)
    counts = [outcome_count(label) for label in OUTCOMES]
    return [*group, sa.func.count(), *counts, move, sa.func.count(O.move_pct), abs_move]


def raw_signal_sums(conds: Sequence[sa.ColumnElement[bool]]) -> sa.Select[*tuple[Any, ...]]:
    """(engine, signal, n, sum_confidence, count_confidence) of the raw signals matching `conds`."""
    return sa.select(*_signal_sums(S.engine, S.signal)).where(*conds).group_by(S.engine, S.signal)


def raw_outcome_sums(conds: Sequence[sa.ColumnElement[bool]]) -> sa.Select[*tuple[Any, ...]]:
    """(engine, signal, horizon_s, *OUTCOME_SUMS) of the raw outcomes whose pair matches `conds`."""
    group = (S.engine, S.signal, O.horizon_s)
    return sa.select(*_outcome_sums(*group)).join(O, O.signal_id == S.id).where(*conds).group_by(*group)


def window_sums(
    session: Session,
    symbol: str | None,
    since: datetime | None,
    run_id: str | None = None,
    exclude_backtests: bool = False,
) -> StatSums:
    """The sums of every signal (of `symbol`, of the run scope) stamped at or after `since` (all if
    None), and of their outcomes: rollup hours + rows above its watermark + the raw partial first
    hour. No-view signals are never counted."""
    sym = [*([S.symbol == symbol] if symbol else []), *signal_scope(run_id, exclude_backtests, S)]
    first = None if since is None else bucket_ceil(since)
    out = StatSums()
    scope = signal_scope(run_id, exclude_backtests, R)
    signal_wm, outcome_wm = _rollup_sums(session, symbol, first, out, scope)
    if since is not None and first is not None and since < first:
        edge = [*sym, S.timestamp >= since, S.timestamp < first]
        out.add_signal_rows(session.execute(raw_signal_sums(edge)))
        out.add_outcome_rows(session.execute(raw_outcome_sums(edge)))
    whole = [*sym] if first is None else [*sym, S.timestamp >= first]
    out.add_signal_rows(session.execute(raw_signal_sums([*whole, S.id > signal_wm])))
    out.add_outcome_rows(session.execute(raw_outcome_sums([*whole, S.id > signal_wm])))
    if signal_wm:  # outcomes stored after the refresh, of signals it had read
        late = [*whole, S.id <= signal_wm, O.id > outcome_wm]
        out.add_outcome_rows(session.execute(raw_outcome_sums(late)))
    return out


def signal_scope(
    run_id: str | None = None, exclude_backtests: bool = False, table: Any = S
) -> list[sa.ColumnElement[bool]]:
    """WHERE terms every statistic shares, on raw signals or rollup rows (`table`): no no-view
    signals, and the run scope."""
    return [
        table.signal.not_in(NO_VIEW_SIGNALS),
        *run_conditions(run_id, exclude_backtests, table.run_id, table.source),
    ]


def _rollup_sums(
    session: Session,
    symbol: str | None,
    first: datetime | None,
    out: StatSums,
    conds: Sequence[sa.ColumnElement[bool]] = (),
) -> tuple[int, int]:
    """Add the rollup's hours from `first` on to `out`; return the watermark those rows were read at.

    One statement reads rows and watermark together, so a refresh committing meanwhile cannot pair
    new rows with an old watermark (SQLite runs each SELECT in its own read transaction)."""
    st = RollupState
    sums = [sa.func.sum(getattr(R, name)) for name in ("n", *SIGNAL_SUMS[1:], *OUTCOME_SUMS[1:])]
    group = (st.signal_id, st.outcome_id, R.engine, R.signal, R.horizon_s)
    stmt = sa.select(*group, *sums).select_from(R).join(st, st.name == ROLLUP).where(*conds)
    if symbol:
        stmt = stmt.where(R.symbol == symbol)
    if first is not None:
        stmt = stmt.where(R.bucket_start >= first)
    watermark = (0, 0)
    for row in session.execute(stmt.group_by(*group)):
        signal_wm, outcome_wm, engine, signal, horizon, n, s_conf, n_conf, *outcome = row
        watermark = (int(signal_wm), int(outcome_wm))
        if horizon == 0:
            out.add(out.signals, (engine, signal), (n, s_conf, n_conf))
        else:
            out.add(out.outcomes, (engine, signal, int(horizon)), (n, *outcome))
    # No rollup rows in the window: then no raw row at or below the watermark is in it either, and
    # watermark 0 reads the (empty) rest raw without a second, racy, read of rollup_state.
    return watermark


def _watermarks(session: Session) -> tuple[int, int]:
    stmt = sa.select(RollupState.signal_id, RollupState.outcome_id).where(RollupState.name == ROLLUP)
    row = session.execute(stmt).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What a refresh did: the new watermark and how many hours it recomputed."""

    signal_id: int
    outcome_id: int
    dirty_buckets: int
    ranges: int
    rows: int


def refresh_rollup(
    session: Session, since_bucket: datetime | None = None, rebuild: bool = False
) -> RefreshResult:
    """Bring signal_stats_hourly up to the rows stored now, and COMMIT `session`.

    Recomputes the hours holding signals or outcomes with ids above the stored watermark, plus every
    hour from `since_bucket` on, or everything with `rebuild`. Use a session with no uncommitted
    writes to signals or outcomes: on PostgreSQL the refresh waits for those writers to finish.
    Concurrent refreshes queue on the rollup_state row, so they never interleave.
    """
    _lock_state(session)
    old_signal, old_outcome = (0, 0) if rebuild else _watermarks(session)
    new_signal, new_outcome = _settled_max_ids(session)
    ranges: list[tuple[datetime | None, datetime | None]]
    if old_signal == 0 and old_outcome == 0:
        ranges, dirty = [(None, None)], 0
    else:
        buckets = _dirty_buckets(session, old_signal, new_signal, old_outcome, new_outcome)
        ranges, dirty = _ranges(buckets, since_bucket), len(buckets)
    rows = sum(_recompute(session, lo, hi, new_signal, new_outcome) for lo, hi in ranges)
    session.execute(
        sa.update(RollupState)
        .where(RollupState.name == ROLLUP)
        .values(signal_id=new_signal, outcome_id=new_outcome)
    )
    session.commit()
    return RefreshResult(new_signal, new_outcome, dirty, len(ranges), rows)


def _lock_state(session: Session) -> None:
    """Create the state row if missing and write-lock it: the row lock (PostgreSQL) or the write
    lock (SQLite) makes a second refresh wait until this one commits."""
    row = {"name": ROLLUP, "signal_id": 0, "outcome_id": 0}
    insert_ignoring_conflicts(session, RollupState.__table__, [row], ["name"])
    session.execute(
        sa.update(RollupState).where(RollupState.name == ROLLUP).values(signal_id=RollupState.signal_id)
    )


def _max_ids(conn: Session | sa.Connection) -> tuple[int, int]:
    top_signal = sa.select(sa.func.coalesce(sa.func.max(S.id), 0)).scalar_subquery()
    top_outcome = sa.select(sa.func.coalesce(sa.func.max(O.id), 0)).scalar_subquery()
    stmt = sa.select(top_signal, top_outcome)
    signal_id, outcome_id = conn.execute(stmt).one()
    return int(signal_id), int(outcome_id)


def _settled_max_ids(session: Session) -> tuple[int, int]:
    """The highest ids such that every lower id is committed (or rolled back) and visible.

    PostgreSQL hands out sequence values before commit, so a transaction holding id 100 may commit
    after one holding 101: a watermark of 101 read then would skip 100 for good. A SHARE lock waits
    for every open writer of the two tables (an INSERT holds ROW EXCLUSIVE until commit); ids
    handed out after it are higher. It is taken on a side connection and released at once, so
    writers are paused for milliseconds, not for the recompute. SQLite has one writer at a time,
    and this session already holds the write lock.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return _max_ids(session)
    with bind.engine.connect() as conn, conn.begin():
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        conn.exec_driver_sql("LOCK TABLE ai_signal_logs, signal_outcomes IN SHARE MODE")
        return _max_ids(conn)


def _dirty_buckets(session: Session, old_s: int, new_s: int, old_o: int, new_o: int) -> list[datetime]:
    """The hours of signals, and of the signals of outcomes, with ids in (old, new]."""
    hour = utc_hour(S.timestamp)
    new_signals = sa.select(hour).where(S.id > old_s, S.id <= new_s)
    new_outcomes = sa.select(hour).join(O, O.signal_id == S.id).where(O.id > old_o, O.id <= new_o)
    union = sa.union(new_signals, new_outcomes).subquery()
    return sorted(session.execute(sa.select(union.c[0])).scalars())


def _ranges(
    buckets: Sequence[datetime], since_bucket: datetime | None
) -> list[tuple[datetime | None, datetime | None]]:
    """[lo, hi) ranges covering `buckets` (neighbours within MERGE_GAP joined) and `since_bucket` on."""
    since = None if since_bucket is None else bucket_floor(since_bucket)
    ranges: list[list[datetime]] = []
    for b in buckets:
        if since is not None and b >= since:
            break
        if ranges and b - ranges[-1][1] <= MERGE_GAP:
            ranges[-1][1] = b + BUCKET
        else:
            ranges.append([b, b + BUCKET])
    out: list[tuple[datetime | None, datetime | None]] = [(lo, hi) for lo, hi in ranges]
    if since is not None:
        out.append((since, None))
    return out


def _recompute(session: Session, lo: datetime | None, hi: datetime | None, max_s: int, max_o: int) -> int:
    """Replace the rollup rows of hours [lo, hi) with sums of the raw rows up to the watermark."""
    delete = sa.delete(R)
    conds = [S.id <= max_s]
    if lo is not None:
        delete, conds = delete.where(R.bucket_start >= lo), [*conds, S.timestamp >= lo]
    if hi is not None:
        delete, conds = delete.where(R.bucket_start < hi), [*conds, S.timestamp < hi]
    session.execute(delete)
    # Legacy signals (NULL run) share the run key '' (literal text: PostgreSQL matches GROUP BY to
    # the SELECT by its text, and a bound '' would get a different parameter name in each).
    run = sa.func.coalesce(S.run_id, sa.literal_column("''"))
    key = (utc_hour(S.timestamp), S.symbol, S.engine, S.signal)
    zero, zero_f = sa.literal(0, sa.BigInteger), sa.literal(0.0, sa.Double)
    source = sa.func.max(S.source)
    _, n, conf, n_conf = _signal_sums(None)
    signals = sa.select(
        *key, sa.literal(0, sa.Integer), n, conf, n_conf, zero, zero, zero, zero_f, zero, zero_f, run, source
    )
    signals = signals.where(*conds).group_by(*key, run)
    _, n, correct, wrong, neutral, move, n_move, abs_move = _outcome_sums(None)
    outcomes = sa.select(
        *key, O.horizon_s, n, zero_f, zero, correct, wrong, neutral, move, n_move, abs_move, run, source
    )
    outcomes = (
        outcomes.join(O, O.signal_id == S.id).where(*conds, O.id <= max_o).group_by(*key, O.horizon_s, run)
    )
    columns = ["bucket_start", "symbol", "engine", "signal", "horizon_s", "n", "sum_confidence",
               "count_confidence", *OUTCOME_SUMS[1:], "run_id", "source"]  # fmt: skip
    insert = sa.insert(R).from_select(columns, sa.union_all(signals, outcomes))
    # SQLAlchemy closes an INSERT's cursor before rowcount is read unless told to keep it.
    result = session.execute(insert, execution_options={"preserve_rowcount": True})
    return max(rowcount(result) or 0, 0)
