"""Spot features, volatility regime, IV percentile, structural regime, debounce and alerts."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from core.analytics.regime import (
    TRADING_SECONDS_PER_YEAR,
    RegimeDebounce,
    RegimeInputs,
    _scores,
    classify_regime,
    dealer_gamma,
    iv_percentile,
    normalised_gex,
    spot_features,
    structural_alerts,
    volatility_regime,
)

NOW = 1_800_000_000.0


def _zigzag(amplitude: float, seconds: int = 2400) -> tuple[np.ndarray, np.ndarray]:
    """One sample a second; log price alternates 0, a, 0, a ... so every |log return| is `a`."""
    ts = NOW - np.arange(seconds)[::-1]
    logs = np.where(np.arange(seconds) % 2 == 1, amplitude, 0.0)
    return ts, 25000.0 * np.exp(logs)


def test_returns_and_range_on_a_linear_path():
    ts = NOW - np.arange(900)[::-1]
    spot = 25000.0 + 0.1 * (ts - ts[0])
    f = spot_features(ts, spot, NOW)
    assert f.ret_1m == pytest.approx(spot[-1] / spot[-61] - 1)
    assert f.ret_5m == pytest.approx(spot[-1] / spot[-301] - 1)
    assert f.range_5m == pytest.approx(0.1 * 299)  # window is (now - 300, now]
    assert f.realized_vol_30m is None and "realized_vol_30m" in f.missing  # 15 minutes of history only


def test_realized_vol_is_annualised_over_trading_time():
    a = 0.15 / math.sqrt(TRADING_SECONDS_PER_YEAR)  # per-second moves of a 15 % annual vol
    f = spot_features(*_zigzag(a), NOW)
    assert f.realized_vol_30m == pytest.approx(0.15, rel=1e-6)
    assert f.vol_spike_ratio == pytest.approx(1.0, rel=1e-6)


def test_vol_spike_ratio_sees_a_fast_last_five_minutes():
    a = 0.1 / math.sqrt(TRADING_SECONDS_PER_YEAR)
    ts, spot = _zigzag(a)
    last5 = ts > NOW - 300
    spot = np.where(last5, 25000.0 * np.exp(3 * np.log(spot / 25000.0)), spot)  # 3x the moves
    f = spot_features(ts, spot, NOW)
    # 30-min variance mixes 1500 s of a^2 with 300 s of 9 a^2
    rv30 = 0.1 * math.sqrt((1500 + 300 * 9) / 1800)
    assert f.realized_vol_30m == pytest.approx(rv30, rel=5e-3)
    assert f.vol_spike_ratio == pytest.approx(0.3 / rv30, rel=5e-3)


def test_spot_features_need_history():
    f = spot_features(np.array([NOW]), np.array([25000.0]), NOW)
    assert f.ret_1m is None and f.ret_5m is None and f.range_5m is None
    assert set(f.missing) == {"ret_1m", "ret_5m", "range_5m", "realized_vol_30m", "vol_spike_ratio"}
    # a sample from yesterday is not a 1-minute-ago price
    stale = spot_features(np.array([NOW - 86400, NOW]), np.array([24000.0, 25000.0]), NOW)
    assert stale.ret_1m is None


@pytest.mark.parametrize(
    ("iv", "regime"),
    [
        (0.05, "low"),
        (0.0999, "low"),
        (0.10, "normal"),
        (0.1999, "normal"),
        (0.20, "elevated"),
        (0.35, "extreme"),
    ],
)
def test_volatility_regime_thresholds(iv, regime):
    assert volatility_regime(iv) == regime


def test_iv_percentile():
    history = np.arange(1.0, 101.0)
    assert iv_percentile(history, 50.0) == 50.0
    assert iv_percentile(history, 1000.0) == 100.0
    assert iv_percentile(history[:10], 5.0) is None


BASE = RegimeInputs(ts=NOW, spot=25000.0)


def test_regime_needs_gex_or_returns():
    assert classify_regime(BASE) is None


def test_range_regime_with_long_gamma_and_a_quiet_tape():
    x = replace(BASE, dealer_gamma="long", ret_5m=0.0002, flow_imbalance=0.1, volatility_regime="normal")
    assert classify_regime(x) == ("range", 1.0)


def test_trend_regime_with_short_gamma_and_agreeing_flow():
    x = replace(BASE, dealer_gamma="short", ret_5m=0.004, flow_direction="put_writing", gamma_flip=24900.0)
    assert classify_regime(x) == ("trend", 1.0)


def test_breakout_regime_near_the_wall_ahead():
    x = replace(
        BASE, dealer_gamma="short", ret_5m=0.003, resistance=25050.0, vol_spike_ratio=2.0, flow_imbalance=-0.7
    )
    regime, confidence = classify_regime(x)
    assert regime == "breakout" and confidence == pytest.approx(1.0)


def test_pin_risk_on_expiry_day_near_max_pain_and_oi_peak():
    x = replace(
        BASE, dealer_gamma="long", ret_5m=0.0, max_pain=25000.0, max_oi_strike=25050.0, minutes_to_close=45
    )
    regime, confidence = classify_regime(x)
    assert regime == "pin_risk" and 0.6 < confidence < 1.0
    not_expiry_day = replace(x, minutes_to_close=None)
    assert classify_regime(not_expiry_day)[0] == "range"


def test_regime_change_is_debounced_five_minutes():
    d = RegimeDebounce()
    assert d.update(NOW, "range") is None  # the first regime is not a change
    assert d.update(NOW + 60, "trend") is None  # too soon after the last announcement
    alert = d.update(NOW + 300, "trend")
    assert alert is not None and alert.kind == "REGIME_CHANGE" and "range -> trend" in alert.message
    assert d.update(NOW + 310, "range") is None
    assert d.update(NOW + 400, "trend") is None  # back to the announced regime: nothing to say
    assert d.update(NOW + 600, "breakout").severity == "high"


def _kinds(alerts):
    return {a.kind: a.severity for a in alerts}


def test_gamma_flip_break_near_and_crossing():
    near = replace(BASE, gamma_flip=25040.0, dealer_gamma="long")
    assert _kinds(structural_alerts(near)) == {"GAMMA_FLIP_BREAK": "medium"}
    far = replace(BASE, gamma_flip=25200.0, dealer_gamma="long")
    assert structural_alerts(far) == []
    before = replace(BASE, spot=25300.0, gamma_flip=25200.0)
    crossed = replace(BASE, spot=25100.0, gamma_flip=25200.0, dealer_gamma="short")
    assert _kinds(structural_alerts(crossed, before)) == {"GAMMA_FLIP_BREAK": "critical"}
    assert _kinds(structural_alerts(replace(crossed, dealer_gamma="long"), before)) == {
        "GAMMA_FLIP_BREAK": "high"
    }


def test_flow_imbalance_spike():
    assert structural_alerts(replace(BASE, flow_imbalance=0.6)) == []
    assert _kinds(structural_alerts(replace(BASE, flow_imbalance=-0.7))) == {"FLOW_IMBALANCE_SPIKE": "medium"}
    assert _kinds(structural_alerts(replace(BASE, flow_imbalance=0.9))) == {"FLOW_IMBALANCE_SPIKE": "high"}


def test_pin_risk_and_expiry_magnet():
    pinned = replace(BASE, max_pain=25000.0, max_oi_strike=25050.0, minutes_to_close=30.0)
    assert _kinds(structural_alerts(pinned)) == {"PIN_RISK": "high"}
    magnet = replace(
        BASE, max_pain=24800.0, max_oi_strike=25200.0, minutes_to_close=100.0, expected_move=250.0
    )
    assert _kinds(structural_alerts(magnet)) == {"EXPIRY_MAGNET": "low"}
    assert structural_alerts(replace(magnet, expected_move=150.0)) == []
    assert structural_alerts(replace(magnet, minutes_to_close=None)) == []


@pytest.mark.parametrize(
    ("net", "gross", "expected"),
    [(2e9, 10e9, "long"), (-2e9, 10e9, "short"), (1e9, 10e9, "neutral"), (-1.5e9, 10e9, "neutral"),
     (1e9, 0.0, None), (None, 10e9, None)],
)  # fmt: skip
def test_dealer_gamma_is_the_normalised_gex_beyond_the_band_not_the_sign(net, gross, expected):
    assert dealer_gamma(normalised_gex(net, gross)) == expected


def test_a_slightly_negative_net_gex_is_no_short_gamma_trend():
    """The regime used to count any negative net GEX as short gamma; g = -0.05 is neutral."""
    x = replace(BASE, dealer_gamma=dealer_gamma(normalised_gex(-0.5e9, 10e9)), ret_5m=0.004)
    assert x.dealer_gamma == "neutral" and _scores(x)["trend"] == pytest.approx(0.3)
