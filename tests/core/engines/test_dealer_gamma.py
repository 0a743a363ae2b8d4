"""DealerGammaEngine: regime from g = net_gex / gross_gex, direction and confidence."""

from __future__ import annotations

import pytest

from core.analytics.regime import dealer_gamma
from core.engines.dealer_gamma import DealerGammaEngine
from core.engines.history import EngineHistory
from tests.core.engines.builders import make_metrics

ENGINE = DealerGammaEngine()


def verdict(net: float | None, gross: float | None = 10e9, **kw):
    m = make_metrics(net_gex=net, gross_gex=gross, **kw)
    h = EngineHistory("NIFTY")
    h.update(m)
    return ENGINE.evaluate(m, h)


@pytest.mark.parametrize(
    ("net", "signal"),
    [
        (3e9, "LONG_GAMMA"),
        (1.6e9, "LONG_GAMMA"),
        (1.5e9, "GAMMA_NEUTRAL"),
        (0.0, "GAMMA_NEUTRAL"),
        (-1.5e9, "GAMMA_NEUTRAL"),
        (-1.6e9, "SHORT_GAMMA"),
        (-8e9, "SHORT_GAMMA"),
    ],
)
def test_regime_bands(net, signal):
    result = verdict(net, ret_5m=0.002)
    assert result.signal == signal and result.active
    assert result.features["g"] == pytest.approx(net / 10e9)


def test_long_gamma_has_no_direction():
    assert verdict(3e9, ret_5m=0.01).direction == "NONE"


@pytest.mark.parametrize(
    ("ret", "direction"), [(0.002, "UP"), (-0.002, "DOWN"), (0.0, "NONE"), (None, "NONE")]
)
def test_short_gamma_direction_follows_the_five_minute_return(ret, direction):
    assert verdict(-4e9, ret_5m=ret).direction == direction


def test_confidence_grows_with_g_and_distance_from_flip():
    near = verdict(-3e9, spot=25000.0, gamma_flip=25020.0)
    stronger = verdict(-6e9, spot=25000.0, gamma_flip=25020.0)
    farther = verdict(-3e9, spot=25000.0, gamma_flip=25250.0)
    assert stronger.raw_score > near.raw_score and farther.raw_score > near.raw_score
    # 0.7 * min(0.3 / 0.6, 1) + 0.3 * min(0.0008 / 0.01, 1)
    assert near.raw_score == pytest.approx(0.7 * 0.5 + 0.3 * 0.08)
    assert near.strength == pytest.approx(0.3)
    assert "far_from_flip" in farther.reasons and "near_flip" in near.reasons


def test_no_crossing_means_far_from_the_flip():
    result = verdict(6e9, gamma_flip=None, flip_state="all positive")
    assert result.raw_score == pytest.approx(1.0) and result.features["flip_distance_pct"] is None


def test_the_regime_is_the_analytics_one_definition():
    """The band is `AnalyticsConfig.gamma_band`, applied once by the analytics: the engine reads
    `dealer_gamma`, so a wider band configured there moves the engine too."""
    g = 0.2
    wide = make_metrics(net_gex=2e9, gross_gex=10e9, gex_ratio=g, dealer_gamma=dealer_gamma(g, band=0.25))
    assert wide.dealer_gamma == "neutral"
    assert ENGINE.evaluate(wide, EngineHistory("NIFTY")).signal == "GAMMA_NEUTRAL"
    assert verdict(2e9).signal == "LONG_GAMMA"  # the default band, 0.15


@pytest.mark.parametrize(("net", "gross"), [(None, 1e9), (1e9, None), (1e9, 0.0)])
def test_missing_gex_is_inactive(net, gross):
    result = verdict(net, gross)
    assert not result.active and result.signal == ""
