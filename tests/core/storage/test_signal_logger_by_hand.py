"""A SignalLogger driven by hand (a backtest's): write_queued writes in the caller's thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import LoggerConfig
from core.storage.models import AiSignalLog, MarketSnapshot
from core.storage.signal_logger import SignalLogger
from tests.core.storage.helpers import count, make_metrics, make_signal


def test_write_queued_stores_everything_queued_in_batches_without_a_writer_thread(
    session_factory, tmp_path: Path
) -> None:
    logger = SignalLogger(session_factory, LoggerConfig(batch_size=100), tmp_path / "spill.jsonl")
    for _ in range(250):
        logger.log(make_signal())
    logger.log_snapshot(make_metrics())
    assert count(session_factory, AiSignalLog.__table__) == 0  # queued, nothing written yet
    logger.write_queued()
    assert count(session_factory, AiSignalLog.__table__) == 250
    assert count(session_factory, MarketSnapshot.__table__) == 1
    stats = logger.stats()
    assert stats["written"] == 250 and stats["batches"] == 3 and stats["queue_depth"] == 0
    assert not stats["running"]
    assert logger.stop() is True
    assert stats["spilled"] == 0


def test_write_queued_refuses_while_the_writer_thread_runs(session_factory, tmp_path: Path) -> None:
    logger = SignalLogger(session_factory, LoggerConfig(), tmp_path / "spill.jsonl")
    logger.start()
    try:
        with pytest.raises(RuntimeError, match="without a running writer thread"):
            logger.write_queued()
    finally:
        assert logger.stop(timeout=10)
