"""Calibrated confidence for the live path: an in-memory experience table the evaluator refreshes.

The engines' hot path calls `ConfidenceCalibrator(engine, signal, symbol, raw_score)`: a dictionary
lookup, never a query. Once an engine/signal/symbol has `min_outcomes` decided outcomes (wins +
losses; neutrals say nothing about the hit rate) at the calibration horizon, the confidence is the
documented Beta-prior blend of core.learning.experience applied to this signal's raw score; before
that the raw score is reported as it is. The evaluator thread calls `refresh()` with its own session
and swaps the tables whole, so readers never see a half-built table.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.config import LearningConfig
from core.learning.experience import Experience
from core.learning.outcomes import CORRECT, NEUTRAL, WRONG
from core.storage.models import AiSignalLog, FormulaExperience, SignalOutcome, outcome_count

RAW, CALIBRATED = "raw", "calibrated"


class ConfidenceCalibrator:
    """`(engine, signal, symbol, raw_score) -> (confidence, "raw" | "calibrated")`, in memory."""

    def __init__(self, config: LearningConfig | None = None) -> None:
        self.config = config or LearningConfig()
        self._table: Mapping[tuple[str, str, str], Experience] = {}
        self._skill: Mapping[tuple[str, str], Experience] = {}
        self._lock = threading.Lock()  # serialises refreshes; lookups read the swapped reference
        self.refreshes = 0

    def __call__(self, engine: str, signal: str, symbol: str, raw_score: float) -> tuple[float, str]:
        exp = self._table.get((engine, signal, symbol))
        if exp is None or exp.decided < self.config.min_outcomes:
            return raw_score, RAW
        return exp.adjusted_confidence(raw_score), CALIBRATED

    def experience(self, engine: str, signal: str, symbol: str) -> Experience | None:
        return self._table.get((engine, signal, symbol))

    def engine_skill(self, symbol: str) -> dict[str, Experience]:
        """Per engine: its directional calls' record for `symbol` at the vote horizon."""
        return {engine: exp for (engine, sym), exp in self._skill.items() if sym == symbol}

    def load(
        self,
        table: Mapping[tuple[str, str, str], Experience],
        skill: Mapping[tuple[str, str], Experience] | None = None,
    ) -> None:
        """Replace the tables whole (tests and refresh)."""
        self._table = dict(table)
        self._skill = dict(skill or {})

    def refresh(self, session: Session) -> int:
        """Reload both tables from the database; returns the number of calibration keys."""
        with self._lock:
            table = _experience_table(session, self.config.calibration_horizon_s)
            skill = _engine_skill(session, self.config.vote_horizon_s)
            self.load(table, skill)
            self.refreshes += 1
            return len(table)

    def stats(self) -> dict[str, int]:
        calibrated = sum(1 for e in self._table.values() if e.decided >= self.config.min_outcomes)
        return {"keys": len(self._table), "calibrated_keys": calibrated, "refreshes": self.refreshes}


def _experience_table(session: Session, horizon_s: int) -> dict[tuple[str, str, str], Experience]:
    F = FormulaExperience
    stmt = sa.select(F.engine, F.signal, F.symbol, F.wins, F.losses, F.neutrals).where(
        F.horizon_s == horizon_s, F.symbol.is_not(None)
    )
    rows = session.execute(stmt)
    return {(e, s, sym): Experience(w, lo, n) for e, s, sym, w, lo, n in rows if sym is not None}


def _engine_skill(session: Session, horizon_s: int) -> dict[tuple[str, str], Experience]:
    """Directional outcomes per engine and symbol (range calls do not vote on direction)."""
    S, SO = AiSignalLog, SignalOutcome

    stmt = (
        sa.select(S.engine, S.symbol, outcome_count(CORRECT), outcome_count(WRONG), outcome_count(NEUTRAL))
        .join(SO, SO.signal_id == S.id)
        .where(SO.horizon_s == horizon_s, S.direction != "NONE")
        .group_by(S.engine, S.symbol)
    )
    return {(e, sym): Experience(int(w), int(lo), int(n)) for e, sym, w, lo, n in session.execute(stmt)}
