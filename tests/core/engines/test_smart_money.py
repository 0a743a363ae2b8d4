"""SmartMoneyEngine rules, NEUTRAL verdict and the SmartMoneyReading it yields."""

from __future__ import annotations

import numpy as np
import pytest

from core.engines.history import EngineHistory
from core.engines.smart_money import SmartMoneyEngine, SmartMoneyParams, oi_acceleration, pcr_shift_z, reading
from tests.core.engines.builders import T0, chain, make_metrics, run

ENGINE = SmartMoneyEngine()
N = 1000  # the chain changes at 700 s: its 600 s flow window (back from the change) is covered
PUTS_BELOW = {k: 1.1e6 for k in (24800.0, 24850.0, 24900.0, 24950.0, 25000.0)}
CALLS_ABOVE = {k: 1.1e6 for k in (25000.0, 25050.0, 25100.0, 25150.0, 25200.0)}


def after(i: int, **arrays) -> dict:
    """The chain changes (one exchange OI update) at step 700."""
    return chain(**arrays) if i >= 700 else chain()


def evaluate(step=None, **final):
    return run(ENGINE, np.full(N, 25000.0), base=make_metrics(), per_step=step, **final)


def test_put_writing_and_high_pcr_is_bullish_at_the_threshold():
    step = lambda i, _: after(i, put_oi=PUTS_BELOW, put_ltp={k: 90.0 for k in PUTS_BELOW})  # noqa: E731
    result, _, m = evaluate(step, pcr_oi=1.35)
    assert result.active and result.signal == "BULLISH" and result.direction == "UP"
    assert result.reasons == ("put_writing", "pcr_above_1.3")
    assert result.raw_score == 0.5
    assert result.features["put_oi_change"] == pytest.approx(500_000.0)


def test_call_writing_and_low_pcr_is_bearish():
    step = lambda i, _: after(i, call_oi=CALLS_ABOVE, call_ltp={k: 80.0 for k in CALLS_ABOVE})  # noqa: E731
    result, _, _ = evaluate(step, pcr_oi=0.65)
    assert result.signal == "BEARISH" and result.direction == "DOWN"
    assert result.reasons == ("call_writing", "pcr_below_0.7")


def test_put_buying_is_not_put_writing():
    step = lambda i, _: after(i, put_oi=PUTS_BELOW, put_ltp={k: 115.0 for k in PUTS_BELOW})  # noqa: E731
    result, _, _ = evaluate(step, pcr_oi=1.35)
    assert "put_writing" not in result.reasons and result.signal == "NEUTRAL"


def test_mild_pcr_weight_and_neutral_verdict():
    step = lambda i, _: after(i, put_oi=PUTS_BELOW, put_ltp={k: 90.0 for k in PUTS_BELOW})  # noqa: E731
    result, _, _ = evaluate(step, pcr_oi=1.2)
    assert result.signal == "NEUTRAL" and result.direction == "NONE" and result.active
    assert result.features["up_score"] == pytest.approx(0.40)
    assert result.raw_score == pytest.approx(0.60)  # 1 - the stronger side


Z_N = 1900  # longer than the 30-minute PCR window


def test_pcr_shift_z_beyond_one_counts():
    rising = run(
        ENGINE, np.full(Z_N, 25000.0), per_step=lambda i, _: {"pcr_oi": 1.0 if i < Z_N - 1 else 1.05}
    )[0]
    # A flat baseline has no spread: the 0.02 floor is the yardstick, so +0.05 is z = 2.5.
    assert rising.features["up_rules"] == ["pcr_rising"]
    assert rising.features["pcr_shift_z"] == pytest.approx(2.5)
    falling = run(
        ENGINE, np.full(Z_N, 25000.0), per_step=lambda i, _: {"pcr_oi": 1.0 if i < Z_N - 1 else 0.95}
    )[0]
    assert falling.features["down_rules"] == ["pcr_falling"] and falling.features["down_score"] == 0.2


def test_pcr_creep_within_the_floor_is_not_a_shift():
    creep = run(ENGINE, np.full(Z_N, 25000.0), per_step=lambda i, _: {"pcr_oi": 1.0 + 0.00002 * i})[0]
    assert creep.features["pcr_shift_z"] < 1.0 and "pcr_rising" not in creep.features["up_rules"]


def test_pcr_shift_is_not_evaluable_until_the_history_covers_its_window():
    """No z-score from 1000 s of a 1800 s window: the rule says so instead of scoring the stub."""
    short = run(ENGINE, np.full(N, 25000.0), per_step=lambda i, _: {"pcr_oi": 1.0 if i < N - 1 else 1.2})[0]
    assert short.features["pcr_shift_z"] is None and "pcr_rising" not in short.features["up_rules"]
    assert "does not cover 1800 s" in short.features["not_evaluable"]["pcr_shift"]


def test_pcr_shift_samples_a_fixed_grid_however_often_the_feed_delivers():
    """The same PCR path delivered every second or every 5 minutes gives the same z-score."""
    pcr = lambda i: 1.0 + (0.01 if (i // 300) % 2 else 0.0) + (0.06 if i >= 1800 else 0.0)  # noqa: E731
    dense = EngineHistory("NIFTY")
    sparse = EngineHistory("NIFTY")
    for h in (dense, sparse):  # a first observation only establishes the chain's legs
        h.update(make_metrics(ts=T0 - 300, pcr_oi=pcr(0)))
    for i in range(1801):
        m = make_metrics(ts=T0 + i, pcr_oi=pcr(i))
        dense.update(m)
        if i % 300 == 0:
            sparse.update(m)
    p = SmartMoneyParams()
    assert pcr_shift_z(dense, p) == pytest.approx(pcr_shift_z(sparse, p)) and pcr_shift_z(dense, p) > 1.0


def test_oi_build_up_below_the_noise_floor_is_not_writing():
    # +2 % in the ATM band over ten minutes is the day's ordinary build-up, not a writing wave.
    small = {k: 1.02e6 for k in PUTS_BELOW}
    step = lambda i, _: after(i, put_oi=small, put_ltp={k: 90.0 for k in small})  # noqa: E731
    result, _, _ = evaluate(step, pcr_oi=1.35)
    assert "put_writing" not in result.features["up_rules"] and result.signal == "NEUTRAL"


@pytest.mark.parametrize(
    ("gex", "side", "tag"),
    [(2e9, "up_score", "dealers_long_gamma"), (-2e9, "down_score", "dealers_short_gamma"), (1e9, None, None)],
)
def test_dealer_gamma_regime_not_the_bare_sign(gex, side, tag):
    """Long / short gamma is the one regime definition (|g| > 0.15), not the sign of net GEX:
    g = 0.1 is neutral and adds to neither side."""
    result, _, _ = evaluate(net_gex=gex, gross_gex=10e9)
    if side is None:
        assert result.features["up_score"] == result.features["down_score"] == 0.0
    else:
        assert result.features[side] == pytest.approx(0.15) and tag in result.features[side[:-5] + "rules"]


def test_straddle_falling_is_bullish_rising_is_bearish():
    n = 1000
    falling = run(ENGINE, np.full(n, 25000.0), per_step=lambda i, _: {"atm_straddle": 300.0 - 0.01 * i})[0]
    # 900 s window, base accepted up to 10 % younger (no spot observation interval known here).
    assert falling.features["straddle_change"] == pytest.approx(-8.1 / 298.11, rel=1e-4)
    assert falling.features["up_rules"] == ["straddle_falling"]
    rising = run(ENGINE, np.full(n, 25000.0), per_step=lambda i, _: {"atm_straddle": 300.0 + 0.01 * i})[0]
    assert rising.features["down_rules"] == ["straddle_rising"]


def test_writing_on_both_sides_ties_to_neutral():
    both = {"put_oi": PUTS_BELOW, "put_ltp": {k: 90.0 for k in PUTS_BELOW}, "call_oi": CALLS_ABOVE}
    both["call_ltp"] = {k: 80.0 for k in CALLS_ABOVE}
    result, _, _ = evaluate(lambda i, _: after(i, **both), pcr_oi=1.0)
    assert result.features["up_score"] == result.features["down_score"] == 0.3
    assert result.signal == "NEUTRAL"


def test_no_inputs_is_an_inactive_neutral():
    result = ENGINE.evaluate(make_metrics(spot=None), EngineHistory("NIFTY"))
    assert result.signal == "NEUTRAL" and not result.active and result.raw_score == 1.0


def test_reading_carries_the_evaluation():
    step = lambda i, _: {"total_call_oi": 1e7 + 1000.0 * i * i / 60, "total_put_oi": 1e7}  # noqa: E731
    result, h, m = run(
        ENGINE,
        np.full(N, 25000.0),
        per_step=step,
        pcr_oi=1.35,
        atm_straddle=310.0,
        volatility_regime="normal",
    )
    r = reading(m, result)
    assert (r.ts, r.symbol, r.bias, r.confidence) == (m.ts, "NIFTY", result.signal, result.raw_score)
    assert r.pcr == 1.35 and r.atm_straddle == 310.0 and r.iv_regime == "normal"
    # OI(t) = 1000 t^2 / 60 (t in s) has a constant second difference: 2 * 1000 / 60 * 60^2 per min^2.
    assert r.oi_acceleration == pytest.approx(2 * 1000.0 * 3600 / 60, rel=1e-6)
    assert oi_acceleration(h, 300.0) == pytest.approx(r.oi_acceleration)
    assert r.ts > T0
