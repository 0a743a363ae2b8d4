"""The learning loop's runner: one pass (outcomes, experience, prediction scores) and its thread.

The runtime owns a LearningLoop: a daemon thread with its own sessions, woken every
`interval_s` wall seconds, reading the event clock for "now"; after a pass that wrote something it
refreshes the calibrator's in-memory table, so the engines' hot path never touches the database.
The CLI (`python -m core evaluate`) runs `run_pass` once over the whole backlog. Each pass ends by
refreshing the hourly statistics rollup (core.storage.rollup).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.clock import EventClock
from core.config import LearningConfig
from core.learning.calibration import ConfidenceCalibrator
from core.learning.learning_engine import evaluate_signals
from core.learning.prediction_service import score_predictions
from core.market_calendar import MarketCalendar
from core.storage.rollup import refresh_rollup

log = logging.getLogger(__name__)
SessionFactory = Callable[[], Session]


def run_pass(
    session_factory: SessionFactory,
    now: float = math.inf,
    since: float | None = None,
    calendar: MarketCalendar | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Score pending signals (and update experience), then predictions and smart-money rows, then
    fold the new signals and outcomes into the statistics rollup."""
    calendar = calendar or MarketCalendar.default()
    stats = evaluate_signals(session_factory, now, since, calendar, progress)
    stats.update(score_predictions(session_factory, now, since, calendar))
    stats.update(_refresh_rollup(session_factory))
    return stats


def _refresh_rollup(session_factory: SessionFactory) -> dict[str, int]:
    """Every pass, not only one that wrote outcomes: the logger adds signals all the time, and the
    smaller the part above the rollup's watermark, the cheaper get_signal_statistics stays. A
    failure is logged, not raised: statistics stay exact without the rollup (only slower), and the
    pass's outcomes must still reach the calibrator."""
    try:
        with session_factory() as session:
            return {"rollup_rows": refresh_rollup(session).rows, "rollup_failures": 0}
    except SQLAlchemyError:
        log.exception("statistics rollup refresh failed; the next pass retries")
        return {"rollup_rows": 0, "rollup_failures": 1}


class LearningLoop:
    """The evaluator thread. `run_once()` is also callable directly (tests, a forced pass)."""

    def __init__(
        self,
        session_factory: SessionFactory,
        clock: EventClock,
        calibrator: ConfidenceCalibrator,
        config: LearningConfig | None = None,
        calendar: MarketCalendar | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self.calibrator = calibrator
        self.config = config or calibrator.config
        self._calendar = calendar or MarketCalendar.default()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pass_lock = threading.Lock()  # the thread and a forced pass never overlap
        self._counts = {"passes": 0, "failures": 0, "outcomes_written": 0, "predictions_scored": 0,
                        "smart_money_scored": 0}  # fmt: skip
        self._last_error = ""
        self._last_error_at: float | None = None  # wall epoch, for the System page
        self._last_now = 0.0
        self.passed = threading.Condition()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="strikeiq-learning", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Run a pass now instead of at the next interval."""
        self._wake.set()

    def wait_for_passes(self, count: int, timeout: float = 10.0, counter: str = "passes") -> bool:
        """Block until `counter` ("passes" or "failures") reaches `count` (a barrier for tests)."""
        with self.passed:
            return self.passed.wait_for(lambda: self._counts[counter] >= count, timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # the loop must outlive a bad pass; the next one retries
                log.exception("learning pass failed")
                with self.passed:
                    self._counts["failures"] += 1
                    self._last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    self._last_error_at = time.time()
                    self.passed.notify_all()
            self._wake.wait(self.config.interval_s)
            self._wake.clear()

    def run_once(self) -> dict[str, int]:
        """One pass at the clock's event time over the last `lookback_s` of event time (an older
        backlog is the CLI's job, so a start never rescans years of signals)."""
        with self._pass_lock:
            now = self._clock.now()
            stats: dict[str, int] = {}
            if now > 0:
                stats = run_pass(self._session_factory, now, now - self.config.lookback_s, self._calendar)
            wrote = any(stats.get(k) for k in ("outcomes_written", "experience_rows"))
            if wrote or self.calibrator.refreshes == 0:
                with self._session_factory() as session:
                    self.calibrator.refresh(session)
            self._last_now = now
        with self.passed:
            for key in ("outcomes_written", "predictions_scored", "smart_money_scored"):
                self._counts[key] += stats.get(key, 0)
            self._counts["passes"] += 1
            self._last_error, self._last_error_at = "", None  # a pass succeeded: the error is past
            self.passed.notify_all()
        return stats

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> dict[str, Any]:
        return {
            **self._counts,
            "running": self.running,
            "last_error": self._last_error,
            "last_error_at": self._last_error_at,
            "event_time": self._last_now,
            "calibration": self.calibrator.stats(),
            "min_outcomes": self.config.min_outcomes,
            "calibration_horizon_s": self.config.calibration_horizon_s,
        }
