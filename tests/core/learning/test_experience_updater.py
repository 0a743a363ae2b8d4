"""experience_updater: counts, success rate and the Beta-prior blend, per symbol and all symbols,
recomputed incrementally and idempotently (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.clock import to_datetime
from core.learning.experience_updater import rebuild_all, update_experience
from core.storage.models import FormulaExperience, SignalOutcome
from tests.core.learning.builders import OPEN_T0, add_signal

F = FormulaExperience


def add_outcomes(session, verdicts, raw_score=0.6, symbol="NIFTY", signal="SWEEP_UP", horizon=900):
    """One signal per verdict, each with one outcome at `horizon`."""
    for i, verdict in enumerate(verdicts):
        sid = add_signal(session, OPEN_T0 + i, symbol=symbol, signal=signal, raw_score=raw_score)
        session.add(
            SignalOutcome(
                signal_id=sid,
                horizon_s=horizon,
                evaluated_at=to_datetime(OPEN_T0 + i + horizon),
                outcome=verdict,
            )
        )
    session.flush()


def rows(session_factory):
    with session_factory() as session:
        stmt = sa.select(F.engine, F.signal, F.symbol, F.horizon_s, F.total_tests, F.wins, F.losses, F.neutrals,
                         F.success_rate, F.adjusted_confidence)  # fmt: skip
        return {(r[1], r[2], r[3]): tuple(r[4:]) for r in session.execute(stmt)}


def test_counts_success_rate_and_adjusted_confidence(session_factory):
    with session_factory() as session:
        add_outcomes(session, ["CORRECT"] * 6 + ["WRONG"] * 2 + ["NEUTRAL"] * 3, raw_score=0.8)
        add_outcomes(session, ["CORRECT"] * 1 + ["WRONG"] * 3, raw_score=0.4, symbol="BANKNIFTY")
        written = update_experience(session, [("LiquidityEngine", "SWEEP_UP", "NIFTY"),
                                              ("LiquidityEngine", "SWEEP_UP", "BANKNIFTY")])  # fmt: skip
        session.commit()
    assert written == 3
    got = rows(session_factory)
    nifty = got[("SWEEP_UP", "NIFTY", 900)]
    assert nifty[:5] == (11, 6, 2, 3, 0.75)
    assert nifty[5] == pytest.approx(0.7719298, abs=1e-7)  # by hand: 8/38 * 8/12 + 30/38 * 0.8
    overall = got[("SWEEP_UP", None, 900)]
    assert overall[:4] == (15, 7, 5, 3)
    assert overall[4] == pytest.approx(7 / 12)
    # By hand, with the mean raw score of the tested signals (11 * 0.8 + 4 * 0.4) / 15 = 0.6933333:
    # 12/42 * 9/16 + 30/42 * 0.6933333
    assert overall[5] == pytest.approx(0.6559524, abs=1e-7)
    assert all(0.0 <= r[4] <= 1.0 and 0.0 <= r[5] <= 1.0 for r in got.values())


def test_update_is_idempotent_and_incremental(session_factory):
    key = ("LiquidityEngine", "SWEEP_UP", "NIFTY")
    with session_factory() as session:
        add_outcomes(session, ["CORRECT", "WRONG"])
        add_outcomes(session, ["CORRECT"], signal="SWEEP_DOWN")
        update_experience(session, [key, ("LiquidityEngine", "SWEEP_DOWN", "NIFTY")])
        update_experience(session, [key])
        session.commit()
    before = rows(session_factory)
    assert before[("SWEEP_UP", "NIFTY", 900)][:3] == (2, 1, 1)
    with session_factory() as session:
        add_outcomes(session, ["CORRECT", "CORRECT"])
        # Tamper with an untouched key: an incremental update must leave it alone.
        session.execute(sa.update(F).where(F.signal == "SWEEP_DOWN").values(wins=99))
        update_experience(session, [key])
        session.commit()
    after = rows(session_factory)
    assert after[("SWEEP_UP", "NIFTY", 900)][:3] == (4, 3, 1)
    assert after[("SWEEP_UP", None, 900)][:3] == (4, 3, 1)
    assert after[("SWEEP_DOWN", "NIFTY", 900)][1] == 99
    with session_factory() as session:
        rebuild_all(session)
        session.commit()
    assert rows(session_factory)[("SWEEP_DOWN", "NIFTY", 900)][1] == 1


def test_only_neutrals_leave_success_rate_unknown(session_factory):
    with session_factory() as session:
        add_outcomes(session, ["NEUTRAL"] * 3, raw_score=0.7)
        update_experience(session, [("LiquidityEngine", "SWEEP_UP", "NIFTY")])
        session.commit()
    total, wins, losses, neutrals, rate, adjusted = rows(session_factory)[("SWEEP_UP", "NIFTY", 900)]
    assert (total, wins, losses, neutrals, rate) == (3, 0, 0, 3, None)
    assert adjusted == pytest.approx(0.7)
