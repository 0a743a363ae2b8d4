"""The `stats` benchmark: signal statistics, the hourly rollup and history pages over a million signals."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core.bench.common import percentiles, scratch_sqlite, time_ms
from core.bench.logger import bench_signals
from core.clock import to_epoch
from core.config import mask_url
from core.storage.database import make_engine, upgrade
from core.storage.filters import SignalFilter
from core.storage.models import AiSignalLog, SignalOutcome
from core.storage.queries import _raw_statistics, get_signal_statistics, query_signals
from core.storage.rollup import RefreshResult, refresh_rollup

HORIZONS = (300, 900, 1800)
INCREMENT_UID = "bench-inc-"  # the signals added to time an incremental refresh, removed after


def _load_rows(i0: int, n: int, t_end: float) -> list[dict[str, Any]]:
    span = 30 * 86400.0  # spread over 30 days before t_end, so "last 24 h" is ~1/30 of the rows
    rows = []
    for k, signal in enumerate(bench_signals(n, 0.0)):
        i = i0 + k
        row = AiSignalLog.values_from_signal(signal)
        row["signal_uid"] = f"bench-stat-{i:09d}"
        row["timestamp"] = datetime.fromtimestamp(t_end - span * (i / 1_000_000 % 1.0), UTC)
        rows.append(row)
    return rows


def _recent_rows(n: int, t_end: float) -> list[dict[str, Any]]:
    """n signals in the last n/2 seconds before t_end: what the logger adds between two refreshes."""
    rows = []
    for k, signal in enumerate(bench_signals(n, 0.0)):
        row = AiSignalLog.values_from_signal(signal)
        row["signal_uid"] = f"{INCREMENT_UID}{k:09d}"
        row["timestamp"] = datetime.fromtimestamp(t_end - 0.5 * (n - k), UTC)
        rows.append(row)
    return rows


def _copy_rows(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    """Insert rows; on PostgreSQL by COPY ... FROM STDIN in CSV (psycopg2), where an empty field is NULL."""
    table = AiSignalLog.__table__
    columns = [c.name for c in table.columns if c.name != "id"]
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.insert(table), rows)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([json.dumps(row[c]) if c == "metadata" else row[c] for c in columns])
    buffer.seek(0)
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None  # a pooled connection that is open has its driver connection
        cursor = driver.cursor()
        cursor.copy_expert(f"COPY ai_signal_logs ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
        raw.commit()
    finally:
        raw.close()


def _load(engine: sa.Engine, n: int, t_end: float, chunk: int = 20_000) -> None:
    after = _max_signal_id(engine)
    for i0 in range(0, n, chunk):
        _copy_rows(engine, _load_rows(i0, min(chunk, n - i0), t_end))
    _load_outcomes(engine, after)


def _max_signal_id(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(AiSignalLog.id), 0))).scalar_one())


def _load_outcomes(engine: sa.Engine, after_id: int) -> None:
    """One outcome per signal (id > after_id) and horizon, derived in SQL from the row id."""
    s, o = AiSignalLog.__table__, SignalOutcome.__table__
    for horizon in HORIZONS:
        bucket = (s.c.id + horizon) % 5
        outcome = sa.case((bucket < 2, "CORRECT"), (bucket < 4, "WRONG"), else_="NEUTRAL")
        move = (bucket - 2) * 0.05
        select = sa.select(s.c.id, sa.literal(horizon), s.c.timestamp, outcome, move).where(
            s.c.id > after_id, s.c.signal_uid.like("bench-%")
        )
        insert = sa.insert(o).from_select(
            ["signal_id", "horizon_s", "evaluated_at", "outcome", "move_pct"], select
        )
        with engine.begin() as conn:
            conn.execute(insert)


def _p50_ms(fn: Any, runs: int) -> float:
    return percentiles(time_ms(fn, runs), pcts=(50,), digits=1)["p50_ms"]


def _timed_refresh(factory: sessionmaker[Session], **kwargs: Any) -> tuple[float, RefreshResult]:
    start = time.perf_counter()
    with factory() as session:
        result = refresh_rollup(session, **kwargs)
    return round((time.perf_counter() - start) * 1000.0, 1), result


def _statistics_p50(
    factory: sessionmaker[Session], now: datetime, runs: int, suffix: str = ""
) -> dict[str, float]:
    """p50 of get_signal_statistics per window, asked mid-hour so each window has a raw edge hour."""
    now = now - timedelta(minutes=7, seconds=30)
    windows = {"24h": 24, "7d": 7 * 24, "all": None}
    return {
        f"statistics_{name}{suffix}_p50_ms": _p50_ms(
            lambda h=hours: get_signal_statistics(None, h, now, factory), runs
        )
        for name, hours in windows.items()
    }


def _bench_increment(
    engine: sa.Engine, factory: sessionmaker[Session], now: datetime, n: int, runs: int
) -> dict[str, Any]:
    """Add n recent signals (3 outcomes each), time statistics on the stale rollup, then the
    incremental refresh; finally remove them and refresh their hours back."""
    after = _max_signal_id(engine)
    _copy_rows(engine, _recent_rows(n, to_epoch(now)))
    _load_outcomes(engine, after)
    stale = _statistics_p50(factory, now, runs, "_stale")
    refresh_ms, result = _timed_refresh(factory)
    with factory() as session, session.begin():
        session.execute(sa.delete(AiSignalLog).where(AiSignalLog.signal_uid.like(f"{INCREMENT_UID}%")))
    _timed_refresh(factory, since_bucket=now - timedelta(hours=max(1.0, n / 7200 + 1)))
    return {
        "increment_signals": n,
        **stale,
        "refresh_incremental_ms": refresh_ms,
        "refresh_incremental_dirty_hours": result.dirty_buckets,
    }


def bench_statistics(url: str, n: int = 1_000_000, runs: int = 5, increment: int = 5_000) -> dict[str, Any]:
    """Load n signals (3 outcomes each) if not there yet, build the statistics rollup, then time
    statistics for 24 h, 7 days and all history, the incremental refresh after `increment` new
    signals, and a history page."""
    upgrade(url)
    engine = make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    try:
        with engine.connect() as conn:
            have = conn.execute(
                sa.select(sa.func.count()).where(AiSignalLog.__table__.c.signal_uid.like("bench-stat-%"))
            ).scalar_one()
        load_s = 0.0
        if have < n:
            start = time.perf_counter()
            _load(engine, n - have, to_epoch(now))
            load_s = time.perf_counter() - start
            if engine.dialect.name == "postgresql":
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("ANALYZE ai_signal_logs; ANALYZE signal_outcomes")
        rebuild_ms, built = _timed_refresh(factory, rebuild=True)
        page_filter = SignalFilter(engines=("smart_money",), min_confidence=0.7, horizon_s=900)
        week = SignalFilter(start=now - timedelta(days=7), end=now, outcome="CORRECT", horizon_s=900)
        return {
            "database": mask_url(url),
            "signals": max(have, n),
            "outcomes_per_signal": len(HORIZONS),
            "load_s": round(load_s, 1),
            "refresh_rebuild_ms": rebuild_ms,
            "rollup_rows": built.rows,
            **_statistics_p50(factory, now, runs),
            "statistics_all_raw_p50_ms": _p50_ms(lambda: _raw_statistics(None, None, now, factory), 3),
            **_bench_increment(engine, factory, now, increment, runs),
            "history_page_p50_ms": _p50_ms(lambda: query_signals(page_filter, 1, 50, factory), runs),
            "history_page_outcome_7d_p50_ms": _p50_ms(lambda: query_signals(week, 1, 50, factory), runs),
        }
    finally:
        engine.dispose()


def run(db: str | None) -> dict[str, Any]:
    return bench_statistics(db or scratch_sqlite("stats"))
