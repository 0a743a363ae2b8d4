"""IV rank and percentile from daily values, checked against hand-computed numbers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.analytics.iv_history import iv_standing

D0 = date(2026, 11, 2)


def days(*values):
    return [(D0 + timedelta(days=i), v) for i, v in enumerate(values)]


def test_rank_and_percentile_by_hand():
    # lows 0.10, highs 0.20; current 0.17: rank 70; three of five days (0.10, 0.12, 0.15) below -> 60
    s = iv_standing(days(0.10, 0.20, 0.12, 0.15, 0.18), 0.17)
    assert s.days == 5 and s.low == 0.10 and s.high == 0.20
    assert s.rank == pytest.approx(70.0)
    assert s.percentile == pytest.approx(60.0)
    assert (s.first_day, s.last_day) == (D0, D0 + timedelta(days=4))


def test_outside_the_range_rank_leaves_0_100_and_percentile_saturates():
    s = iv_standing(days(0.10, 0.20), 0.25)
    assert s.rank == pytest.approx(150.0) and s.percentile == 100.0
    s = iv_standing(days(0.10, 0.20), 0.05)
    assert s.rank == pytest.approx(-50.0) and s.percentile == 0.0


def test_too_few_days_say_why():
    one = iv_standing(days(0.12), 0.14)
    assert one.percentile == 100.0 and one.rank is None and "needs 2" in one.reason
    none = iv_standing([], 0.14)
    assert none.days == 0 and none.percentile is None and none.rank is None
    flat = iv_standing(days(0.12, 0.12), 0.12)
    assert flat.rank is None and "same ATM IV" in flat.reason


def test_missing_values_do_not_count_as_days():
    s = iv_standing(days(0.10, None, float("nan"), 0.20), 0.15)
    assert s.days == 2 and s.rank == pytest.approx(50.0)


def test_no_current_iv():
    s = iv_standing(days(0.10, 0.20), None)
    assert s.rank is None and s.percentile is None and s.days == 2
