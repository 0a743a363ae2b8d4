"""Faults the logger must survive: a network cut to PostgreSQL and a hard kill of the process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from core.config import Config, FeedConfig, LoggerConfig
from core.runtime import Runtime
from core.storage.database import make_engine, upgrade
from core.storage.models import (
    AiSignalLog,
    MarketSnapshot,
    OptionChainSnapshot,
    Prediction,
    SmartMoneyPrediction,
)
from core.storage.signal_logger import SignalLogger
from core.storage.spill import SpillJournal
from tests.core.storage.helpers import count, make_signal

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class TcpRelay:
    """A loopback TCP relay to a target port that can be cut (connections reset, new ones refused)
    and restored on the same port, to simulate a database outage on the network path."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._start_accepting()

    def _start_accepting(self) -> None:
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(self._target)
            except OSError:
                return
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            self._close(s)

    def _close(self, s: socket.socket) -> None:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    def cut(self) -> None:
        self._close(self._listener)
        with self._lock:
            victims, self._sockets = self._sockets, set()
        for s in victims:
            self._close(s)

    def restore(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._start_accepting()


@pytest.fixture
def relay_url(pg_url: str) -> Iterator[tuple[str, TcpRelay]]:
    upgrade(pg_url)
    url = make_url(pg_url)
    relay = TcpRelay(url.port or 5432)
    yield url.set(port=relay.port).render_as_string(hide_password=False), relay
    relay.cut()


def test_network_cut_to_postgresql_loses_and_duplicates_nothing(relay_url, pg_url, tmp_path) -> None:
    url, relay = relay_url
    engine = make_engine(url)
    config = LoggerConfig(
        batch_size=50, flush_interval_ms=20, queue_max=200, retry_initial_s=0.01, retry_max_s=0.05
    )
    logger = SignalLogger(sessionmaker(engine), config, tmp_path / "spill.jsonl")
    logger.start()
    signals = [make_signal() for _ in range(2000)]
    for s in signals[:500]:
        logger.log(s)
    assert logger.flush()
    relay.cut()
    for s in signals[500:1500]:
        logger.log(s)
    assert logger.flush()
    assert not logger.stats()["db_up"] and logger.stats()["spill_size"]["lines"] > 0
    relay.restore()
    for s in signals[1500:]:
        logger.log(s)
    assert logger.flush()
    assert logger.stop()
    direct = make_engine(pg_url)
    with direct.connect() as conn:
        uids = conn.execute(sa.select(AiSignalLog.signal_uid)).scalars().all()
    direct.dispose()
    engine.dispose()
    assert len(uids) == 2000 and set(uids) == {s.id for s in signals}
    assert logger.stats()["db_up"] and SpillJournal(tmp_path / "spill.jsonl").lines == 0


CHILD = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    import sqlalchemy as sa
    from sqlalchemy.orm import sessionmaker
    from core.config import LoggerConfig
    from core.storage.signal_logger import SignalLogger
    from tests.core.storage.helpers import make_signal

    url, spill = sys.argv[1], Path(sys.argv[2])
    engine = sa.create_engine(url)
    config = LoggerConfig(batch_size=100, flush_interval_ms=600_000, retry_initial_s=3600, retry_max_s=3600)
    logger = SignalLogger(sessionmaker(engine), config, spill)
    logger.start()
    for _ in range(300):
        logger.log(make_signal())
    assert logger.flush()
    for _ in range(50):  # never flushed: the hard kill may lose these, and only these
        logger.log(make_signal())
    print("ready", flush=True)
    threading.Event().wait()
    """
)


@pytest.mark.parametrize("mode", ["db_up", "db_down"])
def test_hard_kill_loses_at_most_the_unflushed_interval(sqlite_url, tmp_path, mode) -> None:
    upgrade(sqlite_url)
    spill = tmp_path / "spill.jsonl"
    child_url = sqlite_url if mode == "db_up" else f"sqlite:///{(tmp_path / 'missing' / 'x.db').as_posix()}"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, child_url, str(spill)],
        stdout=subprocess.PIPE,
        env=env,
        cwd=PROJECT_ROOT,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    factory = sessionmaker(engine)
    logger = SignalLogger(factory, LoggerConfig(), spill)
    logger.start()  # replays what the killed process spilled (db_down) before anything else
    assert logger.flush()
    logger.stop()
    assert 300 <= count(factory, AiSignalLog.__table__) <= 350
    engine.dispose()


@pytest.mark.slow
def test_thirty_second_outage_under_a_thousand_signals_per_second(relay_url, pg_url, tmp_path) -> None:
    """SPEC section 11: database down for 30 s under 1000 signals/s -> zero lost, zero duplicated."""
    url, relay = relay_url
    engine = make_engine(url)
    logger = SignalLogger(sessionmaker(engine), LoggerConfig(queue_max=5_000), tmp_path / "spill.jsonl")
    logger.start()
    pace = threading.Event()  # never set: its timed wait paces the producer, it synchronises nothing
    sent: list[str] = []
    start = time.monotonic()
    for second in range(36):
        if second == 3:
            relay.cut()
        if second == 33:
            relay.restore()
        for _ in range(1000):
            signal = make_signal()
            logger.log(signal)
            sent.append(signal.id)
        pace.wait(max(0.0, start + second + 1 - time.monotonic()))
    assert logger.stop(timeout=60)
    direct = make_engine(pg_url)
    with direct.connect() as conn:
        stored = conn.execute(sa.select(AiSignalLog.signal_uid)).scalars().all()
    direct.dispose()
    engine.dispose()
    assert len(stored) == len(sent) == 36_000 and set(stored) == set(sent)


def test_a_hung_statement_is_cancelled_and_retried_not_waited_for(pg_url, tmp_path) -> None:
    """A server that never answers (here: a table locked by another session) cannot block the
    writer: the statement timeout cancels the insert, the logger treats it as an outage, keeps the
    row in its journal, and stores it once the server answers again."""
    upgrade(pg_url)
    engine = make_engine(pg_url, statement_timeout_s=0.5)
    locker = make_engine(pg_url)
    config = LoggerConfig(batch_size=10, flush_interval_ms=60_000, retry_initial_s=3600, retry_max_s=3600)
    logger = SignalLogger(sessionmaker(engine), config, tmp_path / "spill.jsonl")
    logger.start()
    signal = make_signal()
    try:
        with locker.connect() as conn, conn.begin():
            conn.exec_driver_sql("LOCK TABLE ai_signal_logs IN ACCESS EXCLUSIVE MODE")
            logger.log(signal)
            assert logger.flush(timeout=60)  # answered while the lock is still held
            stats = logger.stats()
            assert not stats["db_up"] and stats["spill_lines"] == 1
            assert "statement timeout" in stats["last_error"]
        assert logger.flush()
        assert count(sessionmaker(engine), AiSignalLog.__table__) == 1
        assert logger.stats()["db_up"] and logger.stats()["spill_lines"] == 0
    finally:
        logger.stop()
        engine.dispose()
        locker.dispose()


@pytest.mark.slow
def test_a_thirty_second_cut_at_speed_ten_loses_no_snapshot_chain_row_or_prediction(
    relay_url, pg_url, tmp_path
) -> None:
    """A live run (simulator at 10x) with PostgreSQL cut for 30 s: every market snapshot, chain
    snapshot, prediction and smart-money row the runtime logged is stored exactly once."""
    url, relay = relay_url
    config = Config(
        database_url=url,
        data_dir=tmp_path,
        feed=FeedConfig(kind="sim", symbols=("NIFTY",), speed=10.0, scenario="calm", warmup_s=60.0),
        # A small memory cap, so the cut exercises the journal as well as memory.
        logger=LoggerConfig(queue_max=20, retry_initial_s=0.05, retry_max_s=1.0),
    )
    runtime = Runtime(config, migrate=False)
    logged = {"snapshots": [], "chains": 0, "rows": Counter()}
    log_snapshot, log_rows = runtime.logger.log_snapshot, runtime.logger.log_rows

    def spy_snapshot(metrics, chain=False):
        logged["snapshots"].append(metrics.ts)
        logged["chains"] += bool(chain)
        log_snapshot(metrics, chain)

    def spy_rows(rows):
        logged["rows"].update(type(row).__tablename__ for row in rows)
        log_rows(rows)

    runtime.logger.log_snapshot, runtime.logger.log_rows = spy_snapshot, spy_rows
    pace = threading.Event()  # never set: its timed wait paces the test, it synchronises nothing
    runtime.start()
    try:
        pace.wait(5)
        before = len(logged["snapshots"])
        relay.cut()
        pace.wait(30)
        during = len(logged["snapshots"]) - before
        assert not runtime.logger.stats()["db_up"]
        relay.restore()
        pace.wait(3)
    finally:
        assert runtime.stop(timeout=120)
    stats = runtime.logger.stats()
    assert during >= 20 and stats["retries"] > 0 and stats["spilled"] > 0  # the cut was real
    assert stats["db_up"] and stats["spill_lines"] == 0
    direct = make_engine(pg_url)
    try:
        with direct.connect() as conn:

            def stored(model, column="row_uid"):
                return (
                    conn.execute(sa.select(getattr(model, column)).where(model.run_id == runtime.run_id))
                    .scalars()
                    .all()
                )

            snapshots = stored(MarketSnapshot)
            snapshot_ts = sorted(t.timestamp() for t in stored(MarketSnapshot, "ts"))
            chained = stored(OptionChainSnapshot, "market_snapshot_id")
            predictions, smart_money = stored(Prediction), stored(SmartMoneyPrediction)
    finally:
        direct.dispose()
    assert len(snapshots) == len(set(snapshots)) == len(logged["snapshots"])
    assert snapshot_ts == sorted(logged["snapshots"])
    assert len(set(chained)) == logged["chains"] and len(chained) >= 20 * logged["chains"]
    assert len(predictions) == len(set(predictions)) == logged["rows"]["predictions"] > 0
    assert len(smart_money) == logged["rows"]["smart_money_predictions"]
