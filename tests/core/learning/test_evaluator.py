"""The learning loop's thread (event-time now, barrier instead of sleeps, survives a failing pass),
the runtime wiring and the `evaluate` job behind the CLI."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from core.clock import EventClock
from core.config import Config, LearningConfig
from core.learning.calibration import ConfidenceCalibrator
from core.learning.evaluator import LearningLoop
from core.runtime import Runtime
from core.storage.models import FormulaExperience
from core.worker import evaluate_outcomes
from tests.core.learning.builders import OPEN_T0, add_path, add_signal, outcomes, ramp


def seed(session_factory, n=40):
    with session_factory() as session:
        add_path(session, OPEN_T0, ramp(0.2, 300))
        for i in range(n):
            add_signal(session, OPEN_T0 + i)
        session.commit()


def test_thread_scores_at_event_time_and_refreshes_the_calibrator(session_factory):
    seed(session_factory)
    clock = EventClock()
    cal = ConfidenceCalibrator(LearningConfig(min_outcomes=30, calibration_horizon_s=900, interval_s=60))
    loop = LearningLoop(session_factory, clock, cal)
    loop.start()
    try:
        assert loop.wait_for_passes(1)
        assert outcomes(session_factory) == {}  # event time has not started: nothing is due
        clock.advance(OPEN_T0 + 1000)  # 5 and 15 minute horizons have passed, 30 has not
        loop.wake()
        assert loop.wait_for_passes(2)
    finally:
        loop.stop()
    assert {h for _, h in outcomes(session_factory)} == {300, 900}
    assert len(outcomes(session_factory)) == 80
    assert cal("LiquidityEngine", "SWEEP_UP", "NIFTY", 0.6)[1] == "calibrated"
    stats = loop.stats()
    assert stats["outcomes_written"] == 80 and stats["failures"] == 0 and not stats["running"]


class FailOnce:
    """A session factory whose first session cannot connect (a database restart)."""

    def __init__(self, factory) -> None:
        self.factory, self.failed = factory, threading.Event()

    def __call__(self):
        if not self.failed.is_set():
            self.failed.set()
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
        return self.factory()


def test_thread_survives_a_failing_pass(session_factory):
    seed(session_factory, n=2)
    clock = EventClock(OPEN_T0 + 4000)
    loop = LearningLoop(FailOnce(session_factory), clock, ConfidenceCalibrator(LearningConfig(interval_s=60)))
    loop.start()
    try:
        assert loop.wait_for_passes(1, counter="failures")
        loop.wake()
        assert loop.wait_for_passes(1)
    finally:
        loop.stop()
    assert loop.stats()["failures"] == 1
    assert len(outcomes(session_factory)) == 6


def test_runtime_wires_the_calibrator_into_the_pipeline(tmp_path, sqlite_url):
    runtime = Runtime(Config(database_url=sqlite_url, data_dir=tmp_path))
    assert runtime.pipeline.calibrator is runtime.calibrator
    assert runtime.learning.calibrator is runtime.calibrator
    assert "learning" in runtime.health()


def test_evaluate_job_scores_a_backlog_idempotently(sqlite_url, sqlite_session_factory):
    seed(sqlite_session_factory, n=10)
    first = evaluate_outcomes(sqlite_url, progress=False)
    assert first["outcomes_written"] == 30 and first["signals_checked"] == 10
    second = evaluate_outcomes(sqlite_url, progress=False)
    assert second["outcomes_written"] == 0
    with sqlite_session_factory() as session:
        rates = session.execute(sa.select(FormulaExperience.success_rate)).scalars().all()
    assert len(rates) == 6 and all(r == 1.0 for r in rates)  # 3 horizons x (NIFTY, all symbols)
