"""SignalLogger: batching, idempotency, barriers, draining, best-effort writes and the spill journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.clock import EventClock, to_datetime
from core.config import LoggerConfig
from core.storage.models import (
    AiSignalLog,
    LiveChainState,
    MarketSnapshot,
    OptionChainSnapshot,
    Prediction,
    SmartMoneyPrediction,
)
from core.storage.signal_logger import SignalLogger
from core.storage.spill import SpillJournal
from core.storage.types import sanitize_json
from tests.core.storage.helpers import (
    T0,
    SwitchableFactory,
    bad_engine,
    count,
    json_like,
    make_metrics,
    make_signal,
    same_json,
    unreachable_url,
)

SIGNALS = AiSignalLog.__table__
# Long flush and retry intervals: batches are cut by size or an explicit flush and retries happen on
# flush only, never by timing, so every test is deterministic.
PATIENT = LoggerConfig(batch_size=100, flush_interval_ms=60_000, retry_initial_s=3600, retry_max_s=3600)


@pytest.fixture
def spill_path(tmp_path: Path) -> Path:
    return tmp_path / "spill" / "signals.jsonl"


@pytest.fixture
def make_logger(spill_path: Path) -> Iterator:
    loggers: list[SignalLogger] = []

    def build(factory, config: LoggerConfig = PATIENT, start: bool = True) -> SignalLogger:
        logger = SignalLogger(factory, config, spill_path)
        loggers.append(logger)
        if start:
            logger.start()
        return logger

    yield build
    for logger in loggers:
        logger.stop(timeout=10)


def test_signals_are_written_in_multi_row_batches(engine, session_factory, make_logger) -> None:
    statements: list[str] = []
    sa.event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cur, stmt, params, ctx, many: (
            statements.append(stmt) if stmt.startswith("INSERT INTO ai_signal_logs") else None
        ),
    )
    logger = make_logger(session_factory, start=False)
    for _ in range(1000):
        logger.log(make_signal())
    logger.start()
    assert logger.flush()
    assert count(session_factory, SIGNALS) == 1000
    stats = logger.stats()
    assert (stats["batches"], stats["written"], stats["enqueued"]) == (10, 1000, 1000)
    assert len(statements) == 10  # one INSERT execution (one round trip) per batch of 100
    assert all("ON CONFLICT (signal_uid) DO NOTHING" in s for s in statements)


def test_the_same_signal_is_stored_once(session_factory, make_logger) -> None:
    logger = make_logger(session_factory)
    signal = make_signal()
    logger.log(signal)
    logger.log(signal)
    assert logger.flush()
    logger.log(signal)
    assert logger.flush()
    assert count(session_factory, SIGNALS) == 1
    assert logger.stats()["rejected"] == 0  # duplicates are skipped by ON CONFLICT, not refused


def test_flush_is_a_barrier_that_commits_a_partial_batch(session_factory, make_logger) -> None:
    logger = make_logger(session_factory)
    for _ in range(7):
        logger.log(make_signal())
    assert logger.flush(timeout=10)
    assert count(session_factory, SIGNALS) == 7
    assert logger.stats()["queue_depth"] == 0


def test_stop_drains_a_full_queue(session_factory, make_logger) -> None:
    logger = make_logger(session_factory, LoggerConfig(batch_size=500, flush_interval_ms=60_000), start=False)
    for _ in range(5000):
        logger.log(make_signal())
    logger.start()
    assert logger.stop(timeout=30)
    assert count(session_factory, SIGNALS) == 5000
    assert not logger.stats()["running"]
    logger.log(make_signal())  # after stop: nothing is lost, it waits in the journal
    assert logger.stats()["spill_size"]["lines"] == 1


def test_log_ai_signal_stores_the_seed_fields(session_factory, make_logger) -> None:
    logger = make_logger(session_factory)
    uid = logger.log_ai_signal(
        "BANKNIFTY", "BEARISH", 0.71, 52000.0, {"reasons": ["call_writing"], "pcr": 0.6},
        engine="smart_money", direction="DOWN", ts=T0,
    )  # fmt: skip
    assert logger.flush()
    (row,) = logger.get_recent_signals(limit=5)
    assert row["signal_uid"] == uid
    assert (row["symbol"], row["engine"], row["signal"], row["direction"]) == (
        "BANKNIFTY", "smart_money", "BEARISH", "DOWN",
    )  # fmt: skip
    assert row["metadata"]["reasons"] == ["call_writing"]
    assert row["metadata"]["features"] == {"pcr": 0.6}


def test_bad_input_never_raises_and_never_stops_the_writer(session_factory, make_logger) -> None:
    logger = make_logger(session_factory)
    uid = logger.log_ai_signal("NIFTY", "X", "not a number", None)  # type: ignore[arg-type]
    assert isinstance(uid, str)
    logger.log(None)  # type: ignore[arg-type]
    logger.log(make_signal(ts="yesterday"))  # type: ignore[arg-type]
    good = make_signal()
    logger.log(good)
    assert logger.flush()
    assert [r["signal_uid"] for r in logger.get_recent_signals()] == [good.id]
    assert logger.stats()["rejected"] == 3


def test_snapshots_rows_and_live_state_are_written(session_factory, make_logger) -> None:
    logger = make_logger(session_factory)
    logger.log_snapshot(make_metrics(), chain=True)
    logger.log_snapshot(make_metrics(), chain=False)
    logger.log_rows([Prediction(ts=to_datetime(T0), symbol="NIFTY", bullish_probability=0.6)])
    logger.upsert_live_state("NIFTY", {"spot": 25000.0, "bad": float("nan")}, ts=T0)
    logger.upsert_live_state("NIFTY", {"spot": 25010.0}, ts=T0 + 1)
    assert logger.flush()
    assert count(session_factory, MarketSnapshot.__table__) == 2
    assert count(session_factory, OptionChainSnapshot.__table__) == 62
    assert count(session_factory, Prediction.__table__) == 1
    with session_factory() as session:
        state = session.execute(sa.select(LiveChainState)).scalar_one()
    assert state.snapshot == {"spot": 25010.0}
    assert state.updated_at.timestamp() == T0 + 1
    stats = logger.stats()
    written = ("snapshots_written", "chain_rows_written", "rows_written", "live_state_written")
    assert [stats[k] for k in written] == [2, 62, 1, 2] and stats["dropped_live_state"] == 0


@pytest.fixture
def outage(engine, dialect, tmp_path) -> Iterator[SwitchableFactory]:
    broken = bad_engine(unreachable_url(dialect, tmp_path))
    yield SwitchableFactory(engine, broken)
    broken.dispose()


def test_signals_spill_while_the_database_is_down_and_replay_once_on_recovery(
    session_factory, outage, make_logger, spill_path
) -> None:
    logger = make_logger(outage)
    outage.broken = True
    signals = [make_signal() for _ in range(250)]
    for signal in signals[:200]:
        logger.log(signal)
    assert logger.flush()  # the database is down: everything pending goes to the journal
    stats = logger.stats()
    assert not stats["db_up"] and stats["retries"] >= 1 and stats["spill_size"]["lines"] == 200
    assert sorted(record.key for record in SpillJournal(spill_path).batches(1000).__next__()) == sorted(
        s.id for s in signals[:200]
    )
    logger.log_snapshot(make_metrics(), chain=True)  # durable too: kept while down, stored on recovery
    outage.broken = False
    for signal in signals[150:]:  # overlaps the spilled ones: must not duplicate
        logger.log(signal)
    assert logger.flush()
    with session_factory() as session:
        stored = session.execute(sa.select(AiSignalLog.signal_uid)).scalars().all()
    assert sorted(stored) == sorted(s.id for s in signals)
    stats = logger.stats()
    assert stats["db_up"] and stats["replayed"] == 200 and stats["spill_size"]["lines"] == 0
    assert stats["rejected"] == 0
    assert count(session_factory, MarketSnapshot.__table__) == 1
    assert count(session_factory, OptionChainSnapshot.__table__) == 62


def test_a_journal_left_by_a_previous_run_is_replayed_on_start(
    session_factory, outage, make_logger, spill_path
) -> None:
    first = make_logger(outage)
    outage.broken = True
    signals = [make_signal() for _ in range(120)]
    for signal in signals:
        first.log(signal)
    assert first.stop()  # the database is still down: stop spills what is left
    assert SpillJournal(spill_path).lines == 120
    with spill_path.open("a") as fh:
        fh.write('{"signal_uid": "torn-by-a-hard-kill", "timest')  # a half-written last line
    outage.broken = False
    second = make_logger(outage)
    assert second.flush()
    assert count(session_factory, SIGNALS) == 120
    assert second.stats()["replayed"] == 120 and SpillJournal(spill_path).lines == 0


def test_memory_is_capped_while_down_by_spilling_beyond_queue_max(outage, make_logger, spill_path) -> None:
    config = LoggerConfig(
        batch_size=10, flush_interval_ms=60_000, queue_max=50, retry_initial_s=3600, retry_max_s=3600
    )
    logger = make_logger(outage, config)
    chunks: list[int] = []
    journal = logger._writer.journal
    append = journal.append
    journal.append = lambda records: (chunks.append(len(records)), append(records))  # observe spills
    outage.broken = True
    logger.log(make_signal())
    assert logger.flush()  # the attempt fails and spills 1; the next retry is an hour away
    for _ in range(300):
        logger.log(make_signal())
    assert logger.stop()
    assert SpillJournal(spill_path).lines == 301 and sum(chunks) == 301
    # While down, memory held at most queue_max rows: overflow left in chunks of one batch + 1.
    assert chunks[0] == 1 and len(chunks) > 20 and max(chunks[1:-1]) == 11 and chunks[-1] <= 50


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metadata=st.lists(st.dictionaries(st.text(max_size=5), json_like, max_size=4), min_size=1, max_size=5))
def test_any_metadata_is_stored_sanitised_and_never_fails_a_batch(
    session_factory, make_logger, metadata
) -> None:
    logger = make_logger(session_factory)
    signals = [make_signal(features=m) for m in metadata]
    for signal in signals:
        logger.log(signal)
    assert logger.flush() and logger.stop()
    assert logger.stats()["rejected"] == 0
    with session_factory() as session:
        for signal in signals:
            stored = session.execute(
                sa.select(AiSignalLog).where(AiSignalLog.signal_uid == signal.id)
            ).scalar_one()
            assert same_json(stored.metadata_["features"], sanitize_json(dict(signal.features)))


def test_a_row_the_database_refuses_is_isolated_and_kept_on_disk(
    session_factory, make_logger, spill_path
) -> None:
    logger = make_logger(session_factory)
    good = [make_signal() for _ in range(5)]
    bad = make_signal(expiry="not a date")  # type: ignore[arg-type]
    for signal in [*good[:2], bad, *good[2:]]:
        logger.log(signal)
    assert logger.flush()
    with session_factory() as session:
        stored = set(session.execute(sa.select(AiSignalLog.signal_uid)).scalars())
    assert stored == {s.id for s in good}
    stats = logger.stats()
    assert stats["rejected"] == 1 and stats["rejected_size"]["lines"] == 1 and stats["db_up"]
    rejected = SpillJournal(spill_path.with_suffix(".rejected.jsonl"))
    assert [record.row["signal_uid"] for batch in rejected.batches(10) for record in batch] == [bad.id]


def test_stop_without_start_still_stores_what_was_logged(session_factory, make_logger) -> None:
    logger = make_logger(session_factory, start=False)
    for _ in range(3):
        logger.log(make_signal())
    assert logger.stop()
    assert count(session_factory, SIGNALS) == 3


def test_snapshots_chain_rows_and_predictions_survive_an_outage_and_a_second_replay_once(
    session_factory, outage, make_logger, spill_path
) -> None:
    """Everything a run produces is durable: kept through an outage, stored once, and a journal that
    is replayed again (a crash between commit and clearing it) adds nothing."""
    logger = make_logger(outage)
    outage.broken = True
    for k in range(3):
        logger.log_snapshot(make_metrics(ts=T0 + 5 * k), chain=k == 0)
    logger.log_rows(
        [
            Prediction(ts=to_datetime(T0), symbol="NIFTY", bullish_probability=0.6),
            SmartMoneyPrediction(ts=to_datetime(T0), symbol="NIFTY", bias="BULLISH", confidence=0.7),
        ]
    )
    logger.log(make_signal())
    assert logger.flush()
    journal = spill_path.read_text()
    assert logger.stats()["spill_lines"] == 6 and not logger.stats()["db_up"]
    outage.broken = False
    assert logger.flush()
    expected = {
        MarketSnapshot: 3,
        OptionChainSnapshot: 62,
        Prediction: 1,
        SmartMoneyPrediction: 1,
        AiSignalLog: 1,
    }
    assert {m: count(session_factory, m.__table__) for m in expected} == expected
    SpillJournal(spill_path).append_lines(journal.splitlines())  # the same records once more
    second = make_logger(session_factory)
    assert second.flush() and second.stats()["replayed"] == 6
    assert {m: count(session_factory, m.__table__) for m in expected} == expected
    with session_factory() as session:
        snapshot_ts = (
            session.execute(sa.select(MarketSnapshot.ts).order_by(MarketSnapshot.ts)).scalars().all()
        )
    assert [ts.timestamp() for ts in snapshot_ts] == [T0, T0 + 5, T0 + 10]


def test_a_full_queue_sends_records_to_the_journal_and_drops_only_live_state(
    session_factory, make_logger
) -> None:
    config = LoggerConfig(batch_size=100, flush_interval_ms=60_000, queue_size=5)
    logger = make_logger(session_factory, config, start=False)  # nobody empties the queue yet
    signals = [make_signal() for _ in range(20)]
    for signal in signals:
        logger.log(signal)
    logger.log_snapshot(make_metrics(), chain=True)
    logger.upsert_live_state("NIFTY", {"spot": 25000.0}, ts=T0)
    stats = logger.stats()
    assert stats["overflowed"] == 17 and stats["spilled"] == 16 and stats["dropped_live_state"] == 1
    assert stats["spill_lines"] == 16 and stats["queue_depth"] == 5
    logger.start()
    assert logger.flush()
    with session_factory() as session:
        stored = session.execute(sa.select(AiSignalLog.signal_uid)).scalars().all()
    assert sorted(stored) == sorted(s.id for s in signals)
    assert count(session_factory, MarketSnapshot.__table__) == 1
    assert count(session_factory, OptionChainSnapshot.__table__) == 62
    assert logger.stats()["spill_lines"] == 0


def test_the_logger_stamps_event_time_from_the_runtime_clock(session_factory, spill_path) -> None:
    clock = EventClock()
    logger = SignalLogger(session_factory, PATIENT, spill_path, clock=clock)
    logger.start()
    clock.advance(T0 + 42.0)
    logger.upsert_live_state("NIFTY", {"spot": 25000.0})
    uid = logger.log_ai_signal("NIFTY", "SWEEP_UP", 0.7, 25000.0)
    assert logger.flush() and logger.stop()
    with session_factory() as session:
        state = session.execute(sa.select(LiveChainState)).scalar_one()
        signal = session.execute(sa.select(AiSignalLog).where(AiSignalLog.signal_uid == uid)).scalar_one()
    assert state.updated_at.timestamp() == signal.timestamp.timestamp() == T0 + 42.0
