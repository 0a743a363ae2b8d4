"""Experience arithmetic: success rate and the documented Beta-prior blend."""

import pytest

from core.learning.experience import BLEND_K, Experience


def test_success_rate_ignores_neutrals():
    e = Experience(wins=6, losses=2, neutrals=5)
    assert e.success_rate == 0.75
    assert e.total == 13


def test_no_outcomes_means_raw_score():
    e = Experience(0, 0, 3)
    assert e.success_rate is None
    assert e.adjusted_confidence(0.8) == pytest.approx(0.8)


def test_posterior_and_blend_by_sample_size():
    e = Experience(wins=30, losses=0, neutrals=0)
    posterior = (30 + 2) / (30 + 4)
    weight = 30 / (30 + BLEND_K)
    assert e.posterior_mean() == pytest.approx(posterior)
    assert e.adjusted_confidence(0.5) == pytest.approx(weight * posterior + (1 - weight) * 0.5)


def test_many_outcomes_converge_to_hit_rate():
    e = Experience(wins=7000, losses=3000, neutrals=0)
    assert e.adjusted_confidence(0.95) == pytest.approx(0.7, abs=0.01)
