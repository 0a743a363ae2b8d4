"""The Performance page's SQL on SQLite and PostgreSQL: counts, hit rates, distribution by confidence
source, experience table, prediction accuracy in time buckets, and filters by symbol and date."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.clock import to_datetime
from core.learning.evaluator import run_pass
from core.learning.performance import (
    PerformanceFilter,
    confidence_distribution,
    counts,
    experience_table,
    hit_rates,
    latest_signal_time,
    prediction_accuracy,
)
from core.storage.models import Prediction, SmartMoneyPrediction
from tests.core.learning.builders import OPEN_T0, add_path, add_signal, ramp


@pytest.fixture
def scored(session_factory):
    with session_factory() as session:
        add_path(session, OPEN_T0, ramp(0.2, 300))
        for i in range(6):
            source = "calibrated" if i < 2 else "raw"
            add_signal(session, OPEN_T0 + i, direction="UP" if i % 2 else "DOWN", confidence=0.62,
                       metadata_={"confidence_source": source})  # fmt: skip
        ts = to_datetime(OPEN_T0)
        session.add_all([
            Prediction(ts=ts, symbol="NIFTY", bullish_probability=0.8),
            Prediction(ts=ts + timedelta(seconds=60), symbol="NIFTY", bullish_probability=0.4),
            SmartMoneyPrediction(ts=ts, symbol="NIFTY", bias="BULLISH"),
        ])  # fmt: skip
        session.commit()
    run_pass(session_factory)
    return session_factory


def test_counts_and_hit_rates(scored):
    flt = PerformanceFilter()
    assert counts(flt, scored) == {"signals": 6, "outcomes": 18, "experience": 6, "predictions": 2}
    rows = hit_rates(flt, scored)
    assert [(r["horizon_min"], r["correct"], r["wrong"], r["neutral"]) for r in rows] == [
        (5, 3, 3, 0), (15, 3, 3, 0), (30, 3, 3, 0)
    ]  # fmt: skip
    assert rows[0]["hit_rate"] == 0.5 and rows[0]["ci_low"] < 0.5 < rows[0]["ci_high"]
    assert latest_signal_time(scored) == to_datetime(OPEN_T0 + 5)


def test_filters_by_symbol_and_date(scored):
    assert counts(PerformanceFilter(symbols=("BANKNIFTY",)), scored)["signals"] == 0
    later = to_datetime(OPEN_T0 + 3)
    assert counts(PerformanceFilter(start=later), scored)["signals"] == 3
    assert counts(PerformanceFilter(end=later), scored)["outcomes"] == 12


def test_confidence_distribution_by_source(scored):
    rows = confidence_distribution(PerformanceFilter(), session_factory=scored)
    assert {(r["bucket_low"], r["source"], r["count"]) for r in rows} == {
        (0.6, "calibrated", 2),
        (0.6, "raw", 4),
    }


def test_experience_table_lists_all_symbols_row_first(scored):
    rows = experience_table(("NIFTY",), scored)
    assert [(r["symbol"], r["horizon_min"]) for r in rows[:3]] == [("all", 5), ("all", 15), ("all", 30)]
    assert {r["symbol"] for r in rows} == {"all", "NIFTY"}
    assert all(r["success_rate"] == 0.5 for r in rows)


def test_prediction_accuracy_in_time_buckets(scored):
    rows = prediction_accuracy(PerformanceFilter(), bucket_s=1800, session_factory=scored)
    by_kind = {r["kind"]: r for r in rows}
    pred = by_kind["prediction"]
    assert pred["n"] == 2 and pred["bucket"] == to_datetime(OPEN_T0 - OPEN_T0 % 1800)
    assert pred["brier"] == pytest.approx((0.04 + 0.36) / 2)  # both saw the market rise 0.2 %
    assert pred["hit_rate"] == pytest.approx(0.5)
    assert by_kind["smart money"]["hit_rate"] == 1.0
