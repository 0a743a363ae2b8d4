"""ORM rows convert to and from domain objects and enforce the constraints of SPEC section 7."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa

from core.analytics.greeks import black76_price
from core.analytics.structural import LiveStructuralEngine, time_to_expiry_years
from core.clock import to_datetime
from core.storage.models import (
    AiSignalLog,
    FormulaExperience,
    MarketSnapshot,
    OptionChainSnapshot,
    SignalOutcome,
    SmartMoneyPrediction,
    signal_from_fields,
)
from tests.core.storage.helpers import T0, count, make_metrics, make_signal
from tests.factories import make_chain


def test_signal_round_trips_through_the_row() -> None:
    signal = make_signal(features={"z": 1.5, "levels": [1, 2]}, confidence_source="calibrated")
    row = AiSignalLog.from_signal(signal)
    assert row.signal_uid == signal.id
    assert row.metadata_ == {
        "reasons": ["pierce_reclaim", "volume_spike"],
        "features": {"z": 1.5, "levels": [1, 2]},
        "confidence_source": "calibrated",
    }
    assert row.to_signal() == signal


def test_signal_row_survives_the_database(session_factory) -> None:
    signal = make_signal(ts=T0 + 0.123456)
    with session_factory() as session, session.begin():
        session.add(AiSignalLog.from_signal(signal))
    with session_factory() as session:
        back = session.execute(sa.select(AiSignalLog)).scalar_one().to_signal()
    assert back == signal


def test_non_finite_numbers_are_stored_as_null() -> None:
    row = AiSignalLog.from_signal(make_signal(spot_price=math.nan, confidence=math.inf))
    assert row.spot_price is None and row.confidence is None


def test_signal_uid_is_unique(session_factory) -> None:
    signal = make_signal()
    with session_factory() as session, session.begin():
        session.add(AiSignalLog.from_signal(signal))
    with pytest.raises(sa.exc.IntegrityError), session_factory() as session, session.begin():
        session.add(AiSignalLog.from_signal(signal))


def test_market_snapshot_copies_every_headline_metric() -> None:
    metrics = make_metrics()
    snap = MarketSnapshot.from_metrics(metrics)
    for name in MarketSnapshot.HEADLINE:
        assert getattr(snap, name) == getattr(metrics, name), name
    assert snap.ts == to_datetime(T0) and snap.ts.tzinfo == UTC
    assert (snap.regime, snap.volatility_regime, snap.symbol) == ("range", "normal", "NIFTY")


def test_market_snapshot_allows_missing_metrics() -> None:
    metrics = make_metrics(spot=None, atm_iv=math.nan, gamma_flip=None, regime=None)
    snap = MarketSnapshot.from_metrics(metrics)
    assert snap.spot is None and snap.atm_iv is None and snap.gamma_flip is None and snap.regime is None


def test_chain_rows_cover_atm_plus_minus_n_strikes() -> None:
    metrics = make_metrics()  # strikes 23000..27000 step 50, ATM 25000 at index 40
    rows = OptionChainSnapshot.rows_from_metrics(metrics, snapshot_id=7, strikes_each_side=15)
    assert len(rows) == 2 * 31
    calls = [r for r in rows if r.right == "CE"]
    assert [r.strike for r in calls] == [24250.0 + 50 * k for k in range(31)]
    atm_call = next(r for r in calls if r.strike == 25000.0)
    atm_put = next(r for r in rows if r.right == "PE" and r.strike == 25000.0)
    assert (atm_call.oi, atm_call.ltp, atm_call.oi_change, atm_call.volume) == (1040.0, 460.0, 0.0, 400.0)
    assert (atm_put.oi, atm_put.ltp, atm_put.iv) == (2040.0, 41.0, pytest.approx(0.17))
    assert atm_call.market_snapshot_id == 7


def test_chain_rows_store_each_legs_quote_and_greeks(session_factory) -> None:
    """bid/ask are the quotes the feed sent; gamma, theta and vega match finite differences of the
    Black-76 price at the leg's stored IV and the snapshot's forward (independent of the analytics)."""
    chain = make_chain(spread=0.02, sigma=0.13)
    metrics = LiveStructuralEngine().compute(chain)
    with session_factory() as session, session.begin():
        snap = MarketSnapshot.from_metrics(metrics)
        session.add(snap)
        session.flush()
        session.add_all(OptionChainSnapshot.rows_from_metrics(metrics, snap.id, strikes_each_side=5))
    with session_factory() as session:
        rows = session.execute(sa.select(OptionChainSnapshot)).scalars().all()
        forward = session.execute(sa.select(MarketSnapshot.forward)).scalar_one()
    assert len(rows) == 22
    T, r = time_to_expiry_years(metrics.ts, metrics.expiry), metrics.rate

    def price(row, F=forward, T=T, sigma=None):
        return float(black76_price(row.right, F, row.strike, T, r, row.iv if sigma is None else sigma))

    for row in rows:
        tick = chain.legs[(metrics.expiry, row.strike, row.right)]
        assert (row.bid, row.ask) == (pytest.approx(tick.bid), pytest.approx(tick.ask))
        assert row.bid < row.ask
        dF, dT, dv = forward * 1e-3, 1e-5, 1e-4
        gamma = (price(row, F=forward + dF) - 2 * price(row) + price(row, F=forward - dF)) / dF**2
        theta = -(price(row, T=T + dT) - price(row, T=T - dT)) / (2 * dT) / 365.0
        vega = (price(row, sigma=row.iv + dv) - price(row, sigma=row.iv - dv)) / (2 * dv)
        assert row.gamma == pytest.approx(gamma, rel=1e-3)
        assert row.theta == pytest.approx(theta, rel=1e-3)
        assert row.vega == pytest.approx(vega, rel=1e-3)


def test_chain_window_is_clipped_at_the_edges_and_empty_without_strikes() -> None:
    edge = make_metrics(atm_strike=23050.0)
    rows = OptionChainSnapshot.rows_from_metrics(edge, 1, strikes_each_side=3)
    assert sorted({r.strike for r in rows}) == [23000.0, 23050.0, 23100.0, 23150.0, 23200.0]
    empty = make_metrics(n_strikes=0)
    assert OptionChainSnapshot.rows_from_metrics(empty, 1) == []
    nan_oi = make_metrics(call_oi=np.full(81, np.nan))
    assert all(r.oi is None for r in OptionChainSnapshot.rows_from_metrics(nan_oi, 1) if r.right == "CE")


def test_chain_rows_are_deleted_with_their_snapshot(session_factory) -> None:
    metrics = make_metrics()
    with session_factory() as session, session.begin():
        snap = MarketSnapshot.from_metrics(metrics)
        session.add(snap)
        session.flush()
        session.add_all(OptionChainSnapshot.rows_from_metrics(metrics, snap.id))
    assert count(session_factory, OptionChainSnapshot.__table__) == 62
    with session_factory() as session, session.begin():
        session.execute(sa.delete(MarketSnapshot))
    assert count(session_factory, OptionChainSnapshot.__table__) == 0


def test_outcomes_are_unique_per_signal_and_horizon_and_checked(session_factory) -> None:
    now = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
    with session_factory() as session, session.begin():
        row = AiSignalLog.from_signal(make_signal())
        session.add(row)
        session.flush()
        session.add(SignalOutcome(signal_id=row.id, horizon_s=300, evaluated_at=now, outcome="CORRECT"))
        signal_id = row.id
    with pytest.raises(sa.exc.IntegrityError), session_factory() as session, session.begin():
        session.add(SignalOutcome(signal_id=signal_id, horizon_s=300, evaluated_at=now, outcome="WRONG"))
    with pytest.raises(sa.exc.IntegrityError), session_factory() as session, session.begin():
        session.add(SignalOutcome(signal_id=signal_id, horizon_s=900, evaluated_at=now, outcome="MAYBE"))


@pytest.mark.parametrize("symbol", [None, "NIFTY"])
def test_formula_experience_has_one_row_per_key_including_all_symbols(session_factory, symbol) -> None:
    def row() -> FormulaExperience:
        return FormulaExperience(
            engine="liquidity", signal="SWEEP_UP", symbol=symbol, horizon_s=300,
            last_updated=datetime(2026, 11, 19, tzinfo=UTC),
        )  # fmt: skip

    with session_factory() as session, session.begin():
        session.add(row())
    with pytest.raises(sa.exc.IntegrityError), session_factory() as session, session.begin():
        session.add(row())


def test_seed_arguments_build_a_complete_signal() -> None:
    signal = signal_from_fields(
        "NIFTY", "BULLISH", 0.7, 25000.0,
        {"reasons": ["put_writing"], "pcr": 1.3},
        {"engine": "smart_money", "direction": "UP", "id": "abc", "extra": 5},
        ts=T0,
    )  # fmt: skip
    assert (signal.engine, signal.direction, signal.id, signal.ts) == ("smart_money", "UP", "abc", T0)
    assert signal.reasons == ("put_writing",)
    assert dict(signal.features) == {"pcr": 1.3, "extra": 5}
    assert signal.raw_score == signal.strength == 0.7


def test_smart_money_reading_becomes_a_prediction_row(session_factory) -> None:
    from core.engines.smart_money import SmartMoneyReading

    reading = SmartMoneyReading(
        ts=T0, symbol="NIFTY", bias="BULLISH", confidence=0.64, pcr=1.35, pcr_shift_z=math.nan,
        atm_straddle=330.0, straddle_change=-0.03, oi_acceleration=None, iv_regime="normal",
    )  # fmt: skip
    with session_factory() as session, session.begin():
        session.add(SmartMoneyPrediction.from_reading(reading))
    with session_factory() as session:
        row = session.execute(sa.select(SmartMoneyPrediction)).scalar_one()
    assert (row.bias, row.confidence, row.pcr, row.pcr_shift_z, row.iv_regime) == (
        "BULLISH",
        0.64,
        1.35,
        None,
        "normal",
    )
    assert row.ts == to_datetime(T0) and row.features["straddle_change"] == -0.03 and row.result is None
