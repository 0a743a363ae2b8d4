"""Runs: every row the logger writes names its run and source, the spill journal keeps them, and a
Runtime is one run with a source derived from its feed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.clock import to_datetime
from core.config import Config, FeedConfig, LoggerConfig
from core.runtime import Runtime
from core.storage.models import (
    AiSignalLog,
    MarketSnapshot,
    OptionChainSnapshot,
    Prediction,
    SmartMoneyPrediction,
)
from core.storage.runs import feed_source
from core.storage.signal_logger import SignalLogger
from core.storage.spill import SpillJournal, encode_row
from tests.core.storage.helpers import (
    T0,
    SwitchableFactory,
    bad_engine,
    make_metrics,
    make_signal,
    unreachable_url,
)

PATIENT = LoggerConfig(batch_size=100, flush_interval_ms=60_000, retry_initial_s=3600, retry_max_s=3600)
STAMPED = (AiSignalLog, MarketSnapshot, OptionChainSnapshot, Prediction, SmartMoneyPrediction)


@pytest.fixture
def spill_path(tmp_path: Path) -> Path:
    return tmp_path / "spill" / "signals.jsonl"


@pytest.fixture
def make_logger(spill_path: Path) -> Iterator:
    loggers: list[SignalLogger] = []

    def build(factory, run_id: str | None, source: str | None) -> SignalLogger:
        logger = SignalLogger(factory, PATIENT, spill_path, run_id=run_id, source=source)
        loggers.append(logger)
        logger.start()
        return logger

    yield build
    for logger in loggers:
        logger.stop(timeout=10)


@pytest.fixture
def outage(engine, dialect, tmp_path) -> Iterator[SwitchableFactory]:
    broken = bad_engine(unreachable_url(dialect, tmp_path))
    yield SwitchableFactory(engine, broken)
    broken.dispose()


def runs_by_table(session_factory) -> dict[str, set[tuple[str | None, str | None]]]:
    with session_factory() as session:
        return {
            model.__tablename__: set(map(tuple, session.execute(sa.select(model.run_id, model.source))))
            for model in STAMPED
        }


def log_one_of_each(logger: SignalLogger, **signal: object) -> None:
    logger.log(make_signal(**signal))
    logger.log_ai_signal("NIFTY", "SWEEP_UP", 0.7, 25000.0, ts=T0)
    logger.log_snapshot(make_metrics(), chain=True)
    logger.log_rows(
        [
            Prediction(ts=to_datetime(T0), symbol="NIFTY", bullish_probability=0.6),
            SmartMoneyPrediction(ts=to_datetime(T0), symbol="NIFTY", bias="BULLISH", confidence=0.7),
        ]
    )


def test_every_row_the_logger_writes_names_its_run(session_factory, make_logger) -> None:
    logger = make_logger(session_factory, "run-a", "sim:demo")
    log_one_of_each(logger)
    assert logger.flush()
    assert runs_by_table(session_factory) == {m.__tablename__: {("run-a", "sim:demo")} for m in STAMPED}


def test_two_loggers_keep_their_runs_apart(session_factory, make_logger) -> None:
    a = make_logger(session_factory, "run-a", "sim:demo")
    b = make_logger(session_factory, "run-b", "replay:session.jsonl.gz")
    log_one_of_each(a)
    log_one_of_each(b)
    assert a.flush() and b.flush()
    with session_factory() as session:
        per_run = dict(
            session.execute(sa.select(AiSignalLog.run_id, sa.func.count()).group_by(AiSignalLog.run_id)).all()
        )
    assert per_run == {"run-a": 2, "run-b": 2}


def test_a_row_that_already_names_a_run_keeps_it(session_factory, make_logger) -> None:
    logger = make_logger(session_factory, "run-a", "live")
    row = Prediction(ts=to_datetime(T0), symbol="NIFTY", run_id="imported", source="backtest:june")
    logger.log_rows([row])
    assert logger.flush()
    assert runs_by_table(session_factory)["predictions"] == {("imported", "backtest:june")}


def test_a_logger_without_a_run_writes_legacy_rows(session_factory, make_logger) -> None:
    logger = make_logger(session_factory, None, None)
    log_one_of_each(logger)
    assert logger.flush()
    assert runs_by_table(session_factory) == {m.__tablename__: {(None, None)} for m in STAMPED}


def test_a_long_source_is_clipped_and_a_bad_run_id_refused(session_factory, make_logger, spill_path) -> None:
    logger = make_logger(session_factory, "run-a", "replay:" + "x" * 500)
    logger.log(make_signal())
    assert logger.flush()
    with session_factory() as session:
        assert len(session.execute(sa.select(AiSignalLog.source)).scalar_one()) == 200
    with pytest.raises(ValueError, match="run_id"):
        SignalLogger(session_factory, PATIENT, spill_path, run_id="x" * 37)


def test_the_spill_journal_keeps_the_run_of_each_row(
    session_factory, outage, make_logger, spill_path
) -> None:
    """Run a spills while the database is down and stops; run b starts on the same journal and
    replays it: the replayed signals still belong to run a."""
    outage.broken = True
    a = make_logger(outage, "run-a", "sim:demo")
    spilled = [make_signal() for _ in range(5)]
    for signal in spilled:
        a.log(signal)
    assert a.flush()
    assert a.stop()
    a.log(make_signal(id="after-stop"))  # straight to the journal, still run a's
    lines = [json.loads(line) for line in spill_path.read_text().splitlines()]
    assert {(r["run_id"], r["source"]) for r in lines} == {("run-a", "sim:demo")} and len(lines) == 6
    outage.broken = False
    b = make_logger(outage, "run-b", "live")
    b.log(make_signal(id="b-own"))
    assert b.flush()
    with session_factory() as session:
        runs = dict(session.execute(sa.select(AiSignalLog.signal_uid, AiSignalLog.run_id)).all())
    assert runs == {**{s.id: "run-a" for s in spilled}, "after-stop": "run-a", "b-own": "run-b"}
    assert b.stats()["replayed"] == 6


def test_a_journal_from_before_runs_replays_as_legacy_rows(session_factory, make_logger, spill_path) -> None:
    """Lines without run keys (written by an older version) and new lines replay in one batch."""
    old = AiSignalLog.values_from_signal(make_signal(id="old"))
    del old["run_id"], old["source"]
    new = AiSignalLog.values_from_signal(make_signal(id="new"), "run-a", "live")
    SpillJournal(spill_path).append_lines([encode_row(old), encode_row(new)])
    logger = make_logger(session_factory, "run-b", "live")
    assert logger.flush()
    with session_factory() as session:
        runs = dict(session.execute(sa.select(AiSignalLog.signal_uid, AiSignalLog.run_id)).all())
    assert runs == {"old": None, "new": "run-a"}


@pytest.mark.parametrize(
    ("feed", "source"),
    [
        (FeedConfig(kind="sim", scenario="demo"), "sim:demo"),
        (FeedConfig(kind="replay", url="/data/recordings/session.jsonl.gz"), "replay:session.jsonl.gz"),
        (FeedConfig(kind="ws", url="ws://127.0.0.1:8765"), "live"),
        (FeedConfig(kind="upstox"), "live"),
        (FeedConfig(kind="kite"), "live"),
    ],
)
def test_source_follows_the_feed(feed: FeedConfig, source: str) -> None:
    assert feed_source(feed) == source


class _IdleFeed:
    mode = "SIMULATED"


def test_each_runtime_is_a_new_run_stamped_by_its_logger(tmp_path, sqlite_url) -> None:
    config = Config(
        database_url=sqlite_url, data_dir=tmp_path, feed=FeedConfig(kind="sim", scenario="trending")
    )
    first, second = Runtime(config, _IdleFeed()), Runtime(config, _IdleFeed())
    assert first.run_id != second.run_id and len(first.run_id) <= 36
    assert first.source == "sim:trending"
    assert (first.logger.run_id, first.logger.source) == (first.run_id, "sim:trending")
    first.clock.advance(T0)
    assert first.logger._now() == T0  # what the logger stamps itself is the run's event time
    given = Runtime(config, _IdleFeed(), run_id="bt-1", source="backtest:june")
    assert (given.run_id, given.source) == ("bt-1", "backtest:june")
    assert (given.logger.run_id, given.logger.source) == ("bt-1", "backtest:june")
