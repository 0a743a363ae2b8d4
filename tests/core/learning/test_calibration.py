"""Calibrated confidence: the in-memory calibrator, its refresh from storage, the live pipeline using
it, and the reliability table / Brier score recovering a known hit rate per confidence bucket."""

from __future__ import annotations

from typing import ClassVar

import pytest

from core.clock import to_datetime
from core.config import LearningConfig
from core.engines.base import EngineParams, EngineResult
from core.engines.pipeline import EnginePipeline
from core.learning.calibration import ConfidenceCalibrator
from core.learning.experience import Experience
from core.learning.experience_updater import update_experience
from core.learning.performance import (
    ALL_ENGINES,
    PerformanceFilter,
    brier_scores,
    reliability,
    wilson_interval,
)
from core.storage.models import AiSignalLog, SignalOutcome
from tests.core.engines.builders import T0, make_metrics
from tests.core.learning.builders import OPEN_T0, add_signal

KEY = ("LiquidityEngine", "SWEEP_UP", "NIFTY")


def test_raw_score_until_enough_decided_outcomes():
    cal = ConfidenceCalibrator(LearningConfig(min_outcomes=30))
    assert cal(*KEY, 0.8) == (0.8, "raw")  # nothing known
    cal.load({KEY: Experience(wins=20, losses=9, neutrals=50)})  # 29 decided: neutrals do not count
    assert cal(*KEY, 0.8) == (0.8, "raw")
    exp = Experience(wins=21, losses=9, neutrals=50)
    cal.load({KEY: exp})
    confidence, source = cal(*KEY, 0.8)
    assert source == "calibrated"
    # By hand (Beta(2, 2) prior, blend weight n / (n + 30)): 30/60 * 23/34 + 30/60 * 0.8
    assert confidence == pytest.approx(0.7382353, abs=1e-7)
    assert cal("LiquidityEngine", "SWEEP_UP", "BANKNIFTY", 0.8) == (0.8, "raw")  # per symbol


def test_refresh_reads_the_calibration_horizon_from_storage(session_factory):
    with session_factory() as session:
        for i in range(40):
            sid = add_signal(session, OPEN_T0 + i)
            for horizon, verdict in ((900, "CORRECT" if i % 4 else "WRONG"), (300, "WRONG")):
                session.add(SignalOutcome(signal_id=sid, horizon_s=horizon, evaluated_at=to_datetime(OPEN_T0 + 2000),
                                          outcome=verdict))  # fmt: skip
        session.flush()
        update_experience(session, [KEY])
        session.commit()
    cal = ConfidenceCalibrator(LearningConfig(min_outcomes=30, calibration_horizon_s=900, vote_horizon_s=300))
    with session_factory() as session:
        assert cal.refresh(session) == 1
    assert cal.experience(*KEY) == Experience(30, 10, 0)
    # By hand: 40/70 * 32/44 + 30/70 * 0.5
    assert cal(*KEY, 0.5) == (pytest.approx(0.6298701, abs=1e-7), "calibrated")
    skill = cal.engine_skill("NIFTY")["LiquidityEngine"]
    assert (skill.wins, skill.losses) == (0, 40)  # directional record at the vote horizon
    assert cal.stats()["calibrated_keys"] == 1


class AlwaysUp:
    name: ClassVar[str] = "LiquidityEngine"
    params_type: ClassVar[type[EngineParams]] = EngineParams

    def evaluate(self, metrics, history, params=None) -> EngineResult:
        return EngineResult("SWEEP_UP", "UP", 0.9, 0.5, ("x",), {}, True)


def test_pipeline_signals_carry_calibrated_confidence_into_storage():
    cal = ConfidenceCalibrator(LearningConfig(min_outcomes=10))
    cal.load({KEY: Experience(wins=5, losses=15, neutrals=0)})
    pipe = EnginePipeline(calibrator=cal, engines=[AlwaysUp()])
    (signal,) = pipe.evaluate(make_metrics(ts=T0, spot=25100.0, symbol="NIFTY")).signals
    assert signal.confidence_source == "calibrated"
    assert signal.raw_score == 0.9
    assert signal.confidence == pytest.approx(0.6566667, abs=1e-7)  # by hand: 20/50 * 7/24 + 30/50 * 0.9
    assert signal.confidence < 0.7  # a 25 % hit rate pulls a 0.9 raw score down
    row = AiSignalLog.from_signal(signal)
    assert row.metadata_["confidence_source"] == "calibrated"


# Per confidence bucket: (stated confidence, true hit rate). 40 decided signals each, plus neutrals.
BUCKETS = ((0.15, 0.25), (0.35, 0.3), (0.55, 0.55), (0.75, 0.7), (0.95, 0.9))
N_PER_BUCKET = 40


def seed_known_hit_rates(session_factory):
    with session_factory() as session:
        n = 0
        for confidence, rate in BUCKETS:
            wins = round(rate * N_PER_BUCKET)
            for i in range(N_PER_BUCKET + 5):
                verdict = "CORRECT" if i < wins else "WRONG" if i < N_PER_BUCKET else "NEUTRAL"
                engine = "A" if i % 2 else "B"
                sid = add_signal(session, OPEN_T0 + n, confidence=confidence, engine=engine)
                session.add(SignalOutcome(signal_id=sid, horizon_s=900, evaluated_at=to_datetime(OPEN_T0 + n + 900),
                                          outcome=verdict))  # fmt: skip
                n += 1
        session.commit()


def test_reliability_table_recovers_the_true_hit_rate(session_factory):
    seed_known_hit_rates(session_factory)
    table = reliability(PerformanceFilter(horizon_s=900), session_factory=session_factory)
    overall = {r["bucket"]: r for r in table if r["engine"] == ALL_ENGINES}
    assert sorted(overall) == [1, 3, 5, 7, 9]
    for confidence, rate in BUCKETS:
        row = overall[int(confidence * 10)]
        assert row["n"] == N_PER_BUCKET  # neutrals are not hits or misses
        assert row["hit_rate"] == pytest.approx(rate)
        assert row["mean_confidence"] == pytest.approx(confidence)
    per_engine = [r for r in table if r["engine"] in ("A", "B")]
    assert sum(r["n"] for r in per_engine) == N_PER_BUCKET * len(BUCKETS)
    assert reliability(PerformanceFilter(horizon_s=300), session_factory=session_factory) == []


def test_brier_score_per_engine_and_overall(session_factory):
    seed_known_hit_rates(session_factory)
    scores = {r["engine"]: r for r in brier_scores(PerformanceFilter(horizon_s=900), session_factory)}
    # E[(c - y)^2] with y ~ Bernoulli(rate): rate (1 - c)^2 + (1 - rate) c^2, averaged over buckets.
    expected = sum(r * (1 - c) ** 2 + (1 - r) * c**2 for c, r in BUCKETS) / len(BUCKETS)
    assert scores[ALL_ENGINES]["brier"] == pytest.approx(expected)
    assert scores[ALL_ENGINES]["n"] == N_PER_BUCKET * len(BUCKETS)
    assert scores["A"]["n"] + scores["B"]["n"] == N_PER_BUCKET * len(BUCKETS)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(8, 10)
    assert (lo, hi) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert wilson_interval(0, 0) == (None, None)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and 0.0 < hi < 0.2
