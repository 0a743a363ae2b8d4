"""OptionsTrapEngine rules: failed breakout core, contradicting flow, volume, smart money, GEX."""

from __future__ import annotations

import numpy as np
import pytest

from core.engines.history import EngineHistory
from core.engines.options_trap import OptionsTrapEngine
from tests.core.engines.builders import chain, make_metrics, ramp, run, volume_per_step

ENGINE = OptionsTrapEngine()
BASE = make_metrics(resistance=25000.0, resistance_walls=((25000.0, 2e6), (25200.0, 1.5e6)), support=24700.0)
PRE = 1200


def trap_path(peak: float = 25060.0, hold: int = 180) -> np.ndarray:
    """Below resistance, 120 s break to `peak`, `hold` s above, 120 s back below to 24970."""
    return np.r_[
        np.full(PRE, 24960.0), ramp(24960.0, peak, 120), np.full(hold, peak), ramp(peak, 24970.0, 120)
    ]


def test_failed_breakout_with_weak_bias_alone_is_below_threshold():
    result, _, _ = run(ENGINE, trap_path(), base=BASE)
    assert not result.active and result.raw_score == pytest.approx(0.45)
    assert result.features["down_rules"] == ["failed_breakout", "weak_smart_money"]
    assert result.features["smart_money_bias"] == "NEUTRAL"


def test_positive_gex_completes_a_bull_trap():
    result, _, _ = run(ENGINE, trap_path(), base=BASE, net_gex=3e9, gross_gex=10e9)
    assert result.signal == "BULL_TRAP" and result.direction == "DOWN"
    assert result.reasons == ("failed_breakout", "weak_smart_money", "dealers_long_gamma")
    assert result.raw_score == pytest.approx(0.60)


def test_call_writing_at_the_breakout_strike_contradicts_it():
    def step(i: int, _spot: float) -> dict:
        return chain(call_oi={25000.0: 1.3e6}, call_ltp={25000.0: 70.0}) if i >= PRE + 200 else chain()

    result, _, _ = run(ENGINE, trap_path(), base=BASE, per_step=step)
    assert result.signal == "BULL_TRAP"
    assert result.reasons == ("failed_breakout", "call_writing_at_breakout", "weak_smart_money")
    assert result.features["down_strike_oi_change"] == pytest.approx(300_000.0)


def test_breakout_on_falling_volume():
    step = volume_per_step(1000.0, spike_from=0, spike_to=PRE, mult=3.0)  # busier before the break
    result, _, _ = run(ENGINE, trap_path(), base=BASE, per_step=step)
    assert "falling_volume" in result.features["down_rules"]
    steady, _, _ = run(ENGINE, trap_path(), base=BASE, per_step=volume_per_step(1000.0))
    assert "falling_volume" not in steady.features["down_rules"]


def test_bullish_smart_money_removes_the_weak_bias_rule():
    puts = {k: 1.2e6 for k in (24750.0, 24800.0, 24850.0, 24900.0, 24950.0)}

    def step(i: int, _spot: float) -> dict:
        return chain(put_oi=puts, put_ltp={k: 80.0 for k in puts}) if i >= PRE + 300 else chain()

    base = make_metrics(resistance=25000.0, atm_strike=24950.0)
    result, _, _ = run(
        ENGINE, trap_path(), base=base, per_step=step, pcr_oi=1.35, net_gex=3e9, gross_gex=10e9
    )
    assert result.features["smart_money_bias"] == "BULLISH"
    assert result.reasons == ("failed_breakout", "dealers_long_gamma")


@pytest.mark.parametrize("path", [trap_path(peak=25040.0), trap_path(hold=420)])
def test_small_or_slow_breakouts_are_not_traps(path):
    result, _, _ = run(ENGINE, path, base=BASE, net_gex=3e9, gross_gex=10e9)
    assert not result.active and result.features["down_score"] == 0


def test_failed_breakdown_below_support_is_a_bear_trap():
    base = make_metrics(support=25000.0, net_gex=3e9, gross_gex=10e9)
    path = np.r_[np.full(PRE, 25040.0), ramp(25040.0, 24940.0, 120), ramp(24940.0, 25030.0, 120)]
    result, _, _ = run(ENGINE, path, base=base)
    assert result.signal == "BEAR_TRAP" and result.direction == "UP"
    assert result.reasons == ("failed_breakdown", "weak_smart_money", "dealers_long_gamma")


def test_missing_fields_never_crash():
    assert not ENGINE.evaluate(make_metrics(spot=None), EngineHistory("NIFTY")).active
    h = EngineHistory("NIFTY")
    h.update(make_metrics())
    assert not ENGINE.evaluate(make_metrics(resistance=None, support=None), h).active


def test_negative_gex_does_not_count_as_mean_reversion():
    result, _, _ = run(ENGINE, trap_path(), base=BASE, net_gex=-3e9)
    assert "dealers_long_gamma" not in result.features["down_rules"] and not result.active


def test_the_later_failure_wins_over_an_older_opposite_trap():
    # A failed break above resistance, then within ten minutes a failed break below support.
    path = np.r_[trap_path(), ramp(24970.0, 24640.0, 60), ramp(24640.0, 24760.0, 60)]
    result, _, _ = run(ENGINE, path, base=BASE, net_gex=3e9, gross_gex=10e9)
    assert result.signal == "BEAR_TRAP" and result.direction == "UP"
    assert result.features["superseded"] == "down"
    assert result.reasons == ("failed_breakdown", "weak_smart_money", "dealers_long_gamma")


def test_a_barely_positive_gex_is_not_mean_reversion():
    # g = 0.05: inside DealerGamma's neutral band, dealers are not long gamma.
    result, _, _ = run(ENGINE, trap_path(), base=BASE, net_gex=0.5e9, gross_gex=10e9)
    assert "dealers_long_gamma" not in result.features["down_rules"] and not result.active


def test_volume_a_little_lower_is_not_falling():
    step = volume_per_step(1000.0, spike_from=0, spike_to=PRE, mult=1.1)  # only 10 % busier before
    result, _, _ = run(ENGINE, trap_path(), base=BASE, per_step=step)
    assert "falling_volume" not in result.features["down_rules"]


def snapshot_trap() -> np.ndarray:
    """Snapshots of a failed breakout: below resistance, one sample 0.24 % above it, one back below."""
    return np.r_[np.full(6, 24960.0), 24980.0, 25060.0, 24970.0]


def test_a_failed_breakout_on_five_minute_snapshots_is_seen_from_the_windows_edge():
    """The last sample below resistance is exactly 600 s back, on the edge of the window."""
    result, _, _ = run(ENGINE, snapshot_trap(), base=BASE, step_s=300.0)
    assert result.features["down_rules"] == ["failed_breakout", "weak_smart_money"]
    assert result.features["down_breakout_age_s"] == 600.0


def test_a_trap_is_not_evaluable_on_six_minute_snapshots():
    result, _, _ = run(ENGINE, snapshot_trap(), base=BASE, step_s=360.0)
    assert result.features["down_rules"] == [] and result.raw_score == 0
    reason = result.features["not_evaluable"]["failed_breakout"]
    assert reason.startswith("spot sampled every ~360 s") and "3 samples within 600 s" in reason


def test_steady_volume_on_a_sparse_feed_is_not_falling_volume():
    """Snapshots 280 s apart trading the same volume each: the 10-minute baseline reaches back to a
    sample 840 s before the breakout, and is a rate over those 840 s, not over 600."""
    result, _, _ = run(ENGINE, snapshot_trap(), base=BASE, per_step=volume_per_step(1000.0), step_s=280.0)
    assert "failed_breakout" in result.features["down_rules"]
    assert "falling_volume" not in result.features["down_rules"]
    rate = 1000.0 * 60 / 280
    assert result.features["down_volume_rate_before"] == pytest.approx(rate)
    assert result.features["down_volume_rate_breakout"] == pytest.approx(rate)
