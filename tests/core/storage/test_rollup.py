"""Statistics rollup: any window answered from the rollup equals the raw GROUP BY, however stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.learning.evaluator import run_pass
from core.storage import rollup
from core.storage.models import AiSignalLog, RollupState, SignalOutcome, SignalStatsHourly
from core.storage.queries import _raw_statistics, get_signal_statistics
from core.storage.rollup import bucket_ceil, bucket_floor, refresh_rollup

T0 = datetime(2026, 11, 16, 3, 45, tzinfo=UTC)  # Monday 09:15 IST
HORIZONS = (300, 900, 1800)
# (run_id, source): a legacy row, a live run and a backtest run.
RUNS = ((None, None), ("run-live", "live"), ("run-bt", "backtest:june"))
# (run_id, exclude_backtests) scopes a statistics window can ask for.
SCOPES = ((None, False), (None, True), ("run-live", False), ("run-bt", False))

signal_st = st.tuples(
    st.integers(0, 3 * 24 * 60 - 1),  # minutes after T0: three days, so windows cut through hours
    st.sampled_from(("NIFTY", "BANKNIFTY")),
    st.sampled_from(
        (
            ("liquidity", "SWEEP_UP"),
            ("liquidity", "SWEEP_DOWN"),
            ("smart_money", "BULLISH"),
            ("smart_money", "NEUTRAL"),
        )  # a legacy no-view signal: never counted
    ),  # fmt: skip
    st.one_of(st.none(), st.floats(0.0, 1.0)),
    st.integers(0, 59),  # seconds, so signals also sit inside the minute
    st.sampled_from(RUNS),
)
outcome_st = st.tuples(
    st.sampled_from(HORIZONS),
    st.sampled_from(("CORRECT", "WRONG", "NEUTRAL")),
    st.one_of(st.none(), st.floats(-2.0, 2.0)),
)
# A batch: new signals, each with some outcomes, and late outcomes for already stored signals.
batch_st = st.tuples(
    st.lists(st.tuples(signal_st, st.lists(outcome_st, max_size=3)), max_size=12),
    st.lists(st.tuples(st.integers(0, 10_000), outcome_st), max_size=6),
    st.booleans(),  # refresh the rollup after this batch
)
window_st = st.tuples(
    st.one_of(st.none(), st.sampled_from(("NIFTY", "BANKNIFTY"))),
    st.one_of(st.none(), st.floats(0.01, 100.0)),  # hours
    st.integers(0, 4 * 24 * 3600),  # `now`, in seconds after T0
    st.sampled_from(SCOPES),
)


def _insert_signals(session, items, start_uid: int) -> None:
    for k, ((minute, symbol, (engine, signal), conf, second, (run, source)), outcomes) in enumerate(items):
        row = AiSignalLog(
            signal_uid=f"h-{start_uid + k}", timestamp=T0 + timedelta(minutes=minute, seconds=second),
            symbol=symbol, expiry=None, engine=engine, signal=signal, direction="UP", confidence=conf,
            run_id=run, source=source,
        )  # fmt: skip
        session.add(row)
        session.flush()
        _add_outcomes(session, row.id, outcomes)


def _add_outcomes(session, signal_id: int, outcomes) -> None:
    taken = set(
        session.execute(
            sa.select(SignalOutcome.horizon_s).where(SignalOutcome.signal_id == signal_id)
        ).scalars()
    )
    for horizon, verdict, move in outcomes:
        if horizon not in taken:  # one outcome per signal and horizon, as the unique key says
            taken.add(horizon)
            session.add(
                SignalOutcome(
                    signal_id=signal_id, horizon_s=horizon, evaluated_at=T0, outcome=verdict, move_pct=move
                )
            )


def _add_late(session, late) -> None:
    ids = session.execute(sa.select(AiSignalLog.id).order_by(AiSignalLog.id)).scalars().all()
    for pick, outcome in late:
        if ids:
            _add_outcomes(session, ids[pick % len(ids)], [outcome])


def _clear(session_factory) -> None:
    with session_factory() as session, session.begin():
        for model in (SignalOutcome, AiSignalLog, SignalStatsHourly, RollupState):
            session.execute(sa.delete(model))


def _canonical(stats: dict[str, Any]) -> dict[str, Any]:
    """The statistics with floats wrapped in pytest.approx and lists keyed, for an exact comparison."""

    def approx(v: Any) -> Any:
        return pytest.approx(v, rel=1e-9, abs=1e-9) if isinstance(v, float) else v

    return {
        "total": stats["total"],
        "avg_confidence": approx(stats["avg_confidence"]),
        "by_engine": stats["by_engine"],
        "by_signal": stats["by_signal"],
        "pairs": {
            (p["engine"], p["signal"]): (p["count"], approx(p["avg_confidence"]))
            for p in stats["by_engine_signal"]
        },
        "outcomes": {
            (o["engine"], o["signal"], o["horizon_s"]): {k: approx(v) for k, v in o.items()}
            for o in stats["outcomes"]
        },
    }


def _assert_same(session_factory, symbol, hours, now, scope=(None, False)) -> None:
    run_id, exclude_backtests = scope
    got = get_signal_statistics(
        symbol, hours, now, session_factory, run_id=run_id, exclude_backtests=exclude_backtests
    )
    want = _raw_statistics(symbol, hours, now, session_factory, run_id, exclude_backtests)
    assert _canonical(got) == _canonical(want)
    assert "NEUTRAL" not in got["by_signal"]


# The first outcome ever stored arrives after a refresh that saw signals only (outcome watermark 0).
FIRST_OUTCOME_LATE = [
    ([((0, "NIFTY", ("liquidity", "SWEEP_UP"), None, 0, RUNS[0]), [])], [], True),
    ([], [(0, (300, "CORRECT", None))], False),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(batches=FIRST_OUTCOME_LATE, windows=[(None, None, 0, (None, False))])
@given(
    batches=st.lists(batch_st, min_size=1, max_size=4), windows=st.lists(window_st, min_size=1, max_size=4)
)
def test_any_window_equals_the_raw_aggregate(session_factory, batches, windows) -> None:
    _clear(session_factory)
    uid = 0
    for items, late, refresh in batches:
        with session_factory() as session, session.begin():
            _insert_signals(session, items, uid)
            _add_late(session, late)
        uid += len(items)
        if refresh:
            with session_factory() as session:
                refresh_rollup(session)
        for symbol, hours, now_s, scope in windows:
            _assert_same(session_factory, symbol, hours, T0 + timedelta(seconds=now_s), scope)
        _assert_same(session_factory, None, None, None)


def _seed(session_factory, n: int = 40) -> None:
    """n signals spread over two days (several per hour), one 5-minute outcome each."""
    items = []
    for i in range(n):
        signal = (
            (i * 37) % (2 * 24 * 60),
            ("NIFTY", "BANKNIFTY")[i % 2],
            ("liquidity", "SWEEP_UP"),
            0.5 + i / 100,
            0,
            RUNS[i % len(RUNS)],
        )
        items.append((signal, [(300, ("CORRECT", "WRONG", "NEUTRAL")[i % 3], (i % 7 - 3) / 10)]))
    with session_factory() as session, session.begin():
        _insert_signals(session, items, 0)


def _rollup_rows(session_factory) -> list[tuple]:
    with session_factory() as session:
        rows = session.execute(
            sa.select(SignalStatsHourly).order_by(*SignalStatsHourly.__table__.primary_key)
        )
        cols = [c.key for c in SignalStatsHourly.__table__.columns]
        return [tuple(getattr(r, c) for c in cols) for r in rows.scalars()]


def test_refresh_is_idempotent_and_incremental_equals_a_rebuild(session_factory) -> None:
    _seed(session_factory)
    with session_factory() as session:
        first = refresh_rollup(session)
    assert first.rows > 0 and first.ranges == 1
    with session_factory() as session:
        again = refresh_rollup(session)
    assert (again.dirty_buckets, again.rows, again.signal_id) == (0, 0, first.signal_id)
    # A late outcome for the oldest signal dirties exactly its hour.
    with session_factory() as session, session.begin():
        oldest = session.execute(sa.select(AiSignalLog).order_by(AiSignalLog.timestamp).limit(1)).scalar_one()
        session.add(
            SignalOutcome(signal_id=oldest.id, horizon_s=900, evaluated_at=T0, outcome="WRONG", move_pct=-0.4)
        )
    with session_factory() as session:
        late = refresh_rollup(session)
    assert late.dirty_buckets == 1 and late.outcome_id > first.outcome_id
    incremental = _rollup_rows(session_factory)
    with session_factory() as session:
        refresh_rollup(session, rebuild=True)
    assert _rollup_rows(session_factory) == incremental


def test_a_late_outcome_counts_before_and_after_the_refresh(session_factory) -> None:
    _seed(session_factory)
    with session_factory() as session:
        refresh_rollup(session)
    before = get_signal_statistics(None, None, None, session_factory)
    with session_factory() as session, session.begin():
        sid = session.execute(sa.select(sa.func.min(AiSignalLog.id))).scalar_one()
        session.add(
            SignalOutcome(signal_id=sid, horizon_s=1800, evaluated_at=T0, outcome="CORRECT", move_pct=0.3)
        )
    stale = get_signal_statistics(None, None, None, session_factory)
    with session_factory() as session:
        refresh_rollup(session)
    fresh = get_signal_statistics(None, None, None, session_factory)
    new = {(o["engine"], o["signal"], o["horizon_s"]): o for o in fresh["outcomes"]}
    assert new["liquidity", "SWEEP_UP", 1800]["evaluated"] == 1
    assert _canonical(stale) == _canonical(fresh) != _canonical(before)


def test_since_bucket_recomputes_the_hours_after_a_delete(session_factory) -> None:
    _seed(session_factory)
    with session_factory() as session:
        refresh_rollup(session)
    cut = T0 + timedelta(hours=30)
    with session_factory() as session, session.begin():
        session.execute(sa.delete(AiSignalLog).where(AiSignalLog.timestamp >= cut))
    with session_factory() as session:
        refresh_rollup(session, since_bucket=cut)
    _assert_same(session_factory, None, None, None)
    _assert_same(session_factory, "NIFTY", 40.5, T0 + timedelta(hours=48))


def test_buckets_are_utc_hours_whatever_the_session_time_zone(session_factory, dialect) -> None:
    _seed(session_factory, 10)
    with session_factory() as session:
        if dialect == "postgresql":
            session.execute(sa.text("SET TIME ZONE 'Asia/Kolkata'"))  # IST hours start at :30 UTC
        refresh_rollup(session)
    with session_factory() as session:
        starts = session.execute(sa.select(SignalStatsHourly.bucket_start)).scalars().all()
        stamps = session.execute(sa.select(AiSignalLog.timestamp)).scalars().all()
    assert starts and all(s.tzinfo is not None and s == bucket_floor(s) for s in starts)
    assert set(starts) == {bucket_floor(t) for t in stamps}


def test_bucket_edges() -> None:
    on_hour = datetime(2026, 11, 16, 4, 0, tzinfo=UTC)
    assert bucket_floor(on_hour + timedelta(minutes=59)) == on_hour == bucket_ceil(on_hour)
    assert bucket_ceil(on_hour + timedelta(microseconds=1)) == on_hour + timedelta(hours=1)


def test_learning_pass_refreshes_the_rollup(session_factory) -> None:
    _seed(session_factory, 12)
    stats = run_pass(session_factory)
    assert stats["rollup_failures"] == 0 and stats["rollup_rows"] > 0
    with session_factory() as session:
        state = session.execute(sa.select(RollupState)).scalar_one()
        top = session.execute(sa.select(sa.func.max(AiSignalLog.id))).scalar_one()
    assert state.signal_id == top


def test_refresh_waits_for_an_open_writer_on_postgresql(pg_url, monkeypatch) -> None:
    """An id handed out to a transaction that has not committed must never fall under the watermark."""
    from sqlalchemy.orm import sessionmaker

    from core.storage.database import make_engine, upgrade

    upgrade(pg_url)
    engine = make_engine(pg_url)
    factory = sessionmaker(engine, expire_on_commit=False)
    try:
        _seed(factory, 4)
        writer = engine.connect()
        tx = writer.begin()
        row = {"signal_uid": "open", "timestamp": T0, "symbol": "NIFTY", "engine": "liquidity",
               "signal": "SWEEP_UP", "direction": "UP", "confidence": 0.9}  # fmt: skip
        writer.execute(sa.insert(AiSignalLog), row)
        monkeypatch.setattr(rollup, "LOCK_TIMEOUT", "200ms")
        with factory() as session, pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            refresh_rollup(session)
        tx.commit()
        writer.close()
        with factory() as session:
            result = refresh_rollup(session)
        with factory() as session:
            assert result.signal_id == session.execute(sa.select(sa.func.max(AiSignalLog.id))).scalar_one()
        assert get_signal_statistics(None, None, None, factory)["total"] == 5
    finally:
        engine.dispose()
