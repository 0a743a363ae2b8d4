"""The logger and stats benchmarks run on both databases and clean up what they wrote."""

from __future__ import annotations

import sqlalchemy as sa

from core.bench.logger import BENCH_ENGINE, bench_logger
from core.bench.stats import bench_statistics
from core.storage.database import make_engine
from core.storage.models import AiSignalLog


def test_logger_benchmark_writes_every_signal_then_removes_them(db_url):
    out = bench_logger(db_url, n=500, baseline_n=50)
    assert out["flushed"] and out["signals"] == 500 and out["logger_signals_per_s"] > 0
    engine = make_engine(db_url)
    with engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).where(AiSignalLog.engine == BENCH_ENGINE)).scalar_one()
    engine.dispose()
    assert left == 0


def test_statistics_benchmark_loads_its_signals_once(db_url):
    """On PostgreSQL the rows go in by COPY (psycopg2's copy_expert); a second run loads nothing."""
    first = bench_statistics(db_url, n=1_000, runs=1, increment=50)
    assert first["signals"] == 1_000 and first["rollup_rows"] > 0
    again = bench_statistics(db_url, n=1_000, runs=1, increment=50)
    assert again["load_s"] == 0.0 and again["rollup_rows"] == first["rollup_rows"]
