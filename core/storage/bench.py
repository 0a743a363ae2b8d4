"""Storage benchmarks: SignalLogger throughput vs commit-per-row, and statistics over many signals."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from core.clock import to_epoch
from core.config import LoggerConfig, mask_url
from core.domain import Signal
from core.storage.database import make_engine, upgrade
from core.storage.models import AiSignalLog, SignalOutcome
from core.storage.queries import SignalFilter, _raw_statistics, get_signal_statistics, query_signals
from core.storage.rollup import RefreshResult, refresh_rollup
from core.storage.signal_logger import SignalLogger

BENCH_ENGINE = "bench"  # rows written by bench_logger carry this engine name and are removed after
ENGINE_SIGNALS = (
    ("liquidity", "SWEEP_UP", "UP"), ("liquidity", "SWEEP_DOWN", "DOWN"),
    ("stoploss_hunt", "HUNT_UP", "UP"), ("smart_money", "BULLISH", "UP"),
    ("smart_money", "BEARISH", "DOWN"), ("gamma_squeeze", "SQUEEZE_UP", "UP"),
    ("options_trap", "BULL_TRAP", "DOWN"), ("dealer_gamma", "LONG_GAMMA", "NONE"),
    ("liquidity_vacuum", "LIQUIDITY_VACUUM_DOWN", "DOWN"),
)  # fmt: skip
SYMBOLS = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY")
HORIZONS = (300, 900, 1800)
INCREMENT_UID = "bench-inc-"  # the signals added to time an incremental refresh, removed after


def _signals(n: int, t0: float, engine: str | None = None) -> list[Signal]:
    out = []
    for i in range(n):
        eng, sig, direction = ENGINE_SIGNALS[i % len(ENGINE_SIGNALS)]
        conf = 0.5 + (i % 50) / 100.0
        out.append(
            Signal(
                ts=t0 + i * 0.01,
                symbol=SYMBOLS[i % len(SYMBOLS)],
                engine=engine or eng,
                signal=sig,
                direction=direction,
                confidence=conf,
                raw_score=conf,
                strength=conf,
                spot_price=25000.0 + i % 400,
                reasons=("rule_a", "rule_b"),
                features={"score_up": conf, "score_down": 1 - conf, "i": i},
            )  # fmt: skip
        )
    return out


def _commit_per_row_rate(factory: sessionmaker, signals: list[Signal]) -> float:
    """Signals/s of the pattern the logger replaces: `session.add(row); session.commit()` per signal."""
    start = time.perf_counter()
    for signal in signals:
        with factory() as session:
            session.add(AiSignalLog.from_signal(signal))
            session.commit()
    return len(signals) / (time.perf_counter() - start)


def bench_logger(url: str, n: int = 20_000, baseline_n: int = 2_000) -> dict[str, Any]:
    """Signals/s of the SignalLogger (enqueue n, flush) vs one commit per row, in the same run."""
    upgrade(url)
    engine = make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    t0 = to_epoch(datetime(2026, 1, 5, 3, 45, tzinfo=UTC))
    try:
        baseline = _signals(min(baseline_n, n), t0, BENCH_ENGINE)
        per_row_rate = _commit_per_row_rate(factory, baseline)

        signals = _signals(n, t0 + 1e5, BENCH_ENGINE)
        with tempfile.TemporaryDirectory() as tmp:
            logger = SignalLogger(factory, LoggerConfig(), Path(tmp) / "spill.jsonl")
            logger.start()
            logger.flush()  # the writer is up and the pool has a connection before timing starts
            start = time.perf_counter()
            for signal in signals:
                logger.log(signal)
            enqueued = time.perf_counter()
            flushed = logger.flush(timeout=600)
            elapsed = time.perf_counter() - start
            stats = logger.stats()
            logger.stop()
        logger_rate = n / elapsed
        return {
            "database": mask_url(url),
            "signals": n,
            "logger_signals_per_s": round(logger_rate),
            "enqueue_us_per_signal": round((enqueued - start) / n * 1e6, 2),
            "commit_per_row_signals_per_s": round(per_row_rate),
            "commit_per_row_sample": len(baseline),
            "ratio": round(logger_rate / per_row_rate, 1),
            "flushed": flushed,
            "batches": stats["batches"],
            "last_batch_ms": round(stats["last_batch_ms"], 2),
        }
    finally:
        with factory() as session, session.begin():
            session.execute(sa.delete(AiSignalLog).where(AiSignalLog.engine == BENCH_ENGINE))
        engine.dispose()


def _load_rows(i0: int, n: int, t_end: float) -> list[dict[str, Any]]:
    span = 30 * 86400.0  # spread over 30 days before t_end, so "last 24 h" is ~1/30 of the rows
    rows = []
    for k, signal in enumerate(_signals(n, 0.0)):
        i = i0 + k
        row = AiSignalLog.values_from_signal(signal)
        row["signal_uid"] = f"bench-stat-{i:09d}"
        row["timestamp"] = datetime.fromtimestamp(t_end - span * (i / 1_000_000 % 1.0), UTC)
        rows.append(row)
    return rows


def _recent_rows(n: int, t_end: float) -> list[dict[str, Any]]:
    """n signals in the last n/2 seconds before t_end: what the logger adds between two refreshes."""
    rows = []
    for k, signal in enumerate(_signals(n, 0.0)):
        row = AiSignalLog.values_from_signal(signal)
        row["signal_uid"] = f"{INCREMENT_UID}{k:09d}"
        row["timestamp"] = datetime.fromtimestamp(t_end - 0.5 * (n - k), UTC)
        rows.append(row)
    return rows


def _copy_rows(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    table = AiSignalLog.__table__
    columns = [c.name for c in table.columns if c.name != "id"]
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.insert(table), rows)
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        with cursor.copy(f"COPY ai_signal_logs ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                row["metadata"] = json.dumps(row["metadata"])
                copy.write_row([row[c] for c in columns])
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
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return round(statistics.median(times), 1)


def _timed_refresh(factory: sessionmaker, **kwargs: Any) -> tuple[float, RefreshResult]:
    start = time.perf_counter()
    with factory() as session:
        result = refresh_rollup(session, **kwargs)
    return round((time.perf_counter() - start) * 1000.0, 1), result


def _statistics_p50(factory: sessionmaker, now: datetime, runs: int, suffix: str = "") -> dict[str, float]:
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
    engine: sa.Engine, factory: sessionmaker, now: datetime, n: int, runs: int
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


if __name__ == "__main__":
    # python -m core.storage.bench [URL] [N] [logger|statistics]
    target = sys.argv[1] if len(sys.argv) > 1 else "sqlite:///data/bench.db"
    kind = sys.argv[3] if len(sys.argv) > 3 else "logger"
    if kind == "statistics":
        count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
        print(json.dumps(bench_statistics(target, count), indent=2))
    else:
        count = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
        print(json.dumps(bench_logger(target, count), indent=2))
