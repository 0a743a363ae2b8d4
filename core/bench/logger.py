"""The `logger` benchmark: SignalLogger throughput vs one commit per row, and the signals both it and
`stats` write."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core.bench.common import scratch_sqlite
from core.clock import to_epoch
from core.config import LoggerConfig, mask_url
from core.domain import Direction, Signal
from core.storage.database import make_engine, upgrade
from core.storage.models import AiSignalLog
from core.storage.signal_logger import SignalLogger

BENCH_ENGINE = "bench"  # rows written by bench_logger carry this engine name and are removed after
ENGINE_SIGNALS: tuple[tuple[str, str, Direction], ...] = (
    ("liquidity", "SWEEP_UP", "UP"), ("liquidity", "SWEEP_DOWN", "DOWN"),
    ("stoploss_hunt", "HUNT_UP", "UP"), ("smart_money", "BULLISH", "UP"),
    ("smart_money", "BEARISH", "DOWN"), ("gamma_squeeze", "SQUEEZE_UP", "UP"),
    ("options_trap", "BULL_TRAP", "DOWN"), ("dealer_gamma", "LONG_GAMMA", "NONE"),
    ("liquidity_vacuum", "LIQUIDITY_VACUUM_DOWN", "DOWN"),
)  # fmt: skip
SYMBOLS = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY")


def bench_signals(n: int, t0: float, engine: str | None = None) -> list[Signal]:
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


def _commit_per_row_rate(factory: sessionmaker[Session], signals: list[Signal]) -> float:
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
        baseline = bench_signals(min(baseline_n, n), t0, BENCH_ENGINE)
        per_row_rate = _commit_per_row_rate(factory, baseline)

        signals = bench_signals(n, t0 + 1e5, BENCH_ENGINE)
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


def run(db: str | None) -> dict[str, Any]:
    return bench_logger(db or scratch_sqlite("logger"))
