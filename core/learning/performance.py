"""Read API behind the Performance page: hit rates, reliability, Brier, distributions, experience and
prediction accuracy. Every aggregate is a SQL GROUP BY (confidence buckets are CASE expressions);
Python only turns the few aggregated rows into dictionaries and Wilson intervals. Every view can be
narrowed to one run or to every run but backtests, and leaves out no-view signals (NEUTRAL states)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from scipy.stats import binomtest
from sqlalchemy.orm import Session

from core.domain import NO_VIEW_SIGNALS
from core.learning.outcomes import CORRECT, NEUTRAL, WRONG
from core.storage.database import SessionLocal
from core.storage.models import (
    AiSignalLog,
    FormulaExperience,
    Prediction,
    SignalOutcome,
    SmartMoneyPrediction,
    outcome_count,
)
from core.storage.runs import check_run, run_conditions
from core.storage.types import epoch_bucket

SessionFactory = Callable[[], Session]
S, SO = AiSignalLog, SignalOutcome
ALL_ENGINES = "All engines"


@dataclass(frozen=True, slots=True)
class PerformanceFilter:
    """Symbols (empty = all), an event-time range of the signals (aware datetimes), the horizon
    the calibration views use, and the runs: one (`run_id`), or all with or without backtests."""

    symbols: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    horizon_s: int = 900
    run_id: str | None = None
    exclude_backtests: bool = False

    def __post_init__(self) -> None:
        check_run(self.run_id, self.exclude_backtests)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """The Wilson score interval of a binomial proportion (sound at small n and near 0 or 1), by
    scipy.stats; (None, None) without trials. The Performance page and the backtest scorecard both
    use this one."""
    if n <= 0:
        return None, None
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _conds(f: PerformanceFilter, model: Any = S) -> list[Any]:
    """The filter on stored signals (`model` S) or on Prediction / SmartMoneyPrediction rows."""
    ts, symbol = (S.timestamp, S.symbol) if model is S else (model.ts, model.symbol)
    conds: list[Any] = run_conditions(f.run_id, f.exclude_backtests, model.run_id, model.source)
    if model is S:
        conds.append(S.signal.not_in(NO_VIEW_SIGNALS))
    if f.symbols:
        conds.append(symbol.in_(list(f.symbols)))
    if f.start is not None:
        conds.append(ts >= f.start)
    if f.end is not None:
        conds.append(ts <= f.end)
    return conds


def confidence_bucket(column: Any, bins: int = 10) -> sa.ColumnElement[int]:
    """0 .. bins-1: [k/bins, (k+1)/bins), the top bucket closed at 1.

    Thresholds are rendered inline: PostgreSQL only accepts the SELECT's CASE in GROUP BY when both
    are the same text, and bound parameters would get different names."""
    whens: list[tuple[sa.ColumnElement[bool], sa.ColumnElement[int]]] = [
        (column >= sa.literal_column(repr(k / bins)), sa.literal_column(str(k)))
        for k in range(bins - 1, 0, -1)
    ]
    return sa.case(*whens, else_=sa.literal_column("0"))


def _rows(
    session_factory: SessionFactory | None, stmt: sa.Select[*tuple[Any, ...]]
) -> list[sa.Row[*tuple[Any, ...]]]:
    with (session_factory or SessionLocal)() as session:
        return list(session.execute(stmt))


def counts(f: PerformanceFilter, session_factory: SessionFactory | None = None) -> dict[str, int]:
    """How much there is to show: signals, outcomes, experience rows, predictions."""
    stmt = sa.select(
        sa.select(sa.func.count()).select_from(S).where(*_conds(f)).scalar_subquery(),
        sa.select(sa.func.count())
        .select_from(SO)
        .join(S, SO.signal_id == S.id)
        .where(*_conds(f))
        .scalar_subquery(),
        sa.select(sa.func.count())
        .select_from(FormulaExperience)
        .where(FormulaExperience.signal.not_in(NO_VIEW_SIGNALS))
        .scalar_subquery(),
        sa.select(sa.func.count()).select_from(Prediction).where(*_conds(f, Prediction)).scalar_subquery(),
    )
    signals, outcomes, experience, predictions = _rows(session_factory, stmt)[0]
    return {"signals": signals, "outcomes": outcomes, "experience": experience, "predictions": predictions}


def latest_signal_time(session_factory: SessionFactory | None = None) -> datetime | None:
    """Event time of the newest stored signal (a simulator may run on a future trading day)."""
    latest: datetime | None = _rows(session_factory, sa.select(sa.func.max(S.timestamp)))[0][0]
    return latest


def hit_rates(f: PerformanceFilter, session_factory: SessionFactory | None = None) -> list[dict[str, Any]]:
    """Per engine, signal and horizon: sample sizes, hit rate with its 95 % Wilson interval, moves."""
    stmt = (
        sa.select(
            S.engine,
            S.signal,
            SO.horizon_s,
            sa.func.count(),
            outcome_count(CORRECT),
            outcome_count(WRONG),
            outcome_count(NEUTRAL),
            sa.func.avg(SO.move_pct),
            sa.func.avg(SO.mfe_pct),
            sa.func.avg(SO.mae_pct),
        )  # fmt: skip
        .join(SO, SO.signal_id == S.id)
        .where(*_conds(f))
        .group_by(S.engine, S.signal, SO.horizon_s)
        .order_by(S.engine, S.signal, SO.horizon_s)
    )
    out = []
    for engine, signal, horizon, n, correct, wrong, neutral, move, mfe, mae in _rows(session_factory, stmt):
        decided = int(correct) + int(wrong)
        lo, hi = wilson_interval(int(correct), decided)
        out.append({
            "engine": engine, "signal": signal, "horizon_min": horizon // 60, "tested": n,
            "correct": int(correct), "wrong": int(wrong), "neutral": int(neutral),
            "hit_rate": int(correct) / decided if decided else None, "ci_low": lo, "ci_high": hi,
            "avg_move_pct": move, "avg_mfe_pct": mfe, "avg_mae_pct": mae,
        })  # fmt: skip
    return out


def _decided(f: PerformanceFilter) -> list[Any]:
    return [*_conds(f), SO.horizon_s == f.horizon_s, SO.outcome != NEUTRAL, S.confidence.is_not(None)]


def reliability(
    f: PerformanceFilter, bins: int = 10, session_factory: SessionFactory | None = None
) -> list[dict[str, Any]]:
    """Confidence bucket -> observed hit rate, per engine and for all engines (decided outcomes)."""
    bucket = confidence_bucket(S.confidence, bins).label("bucket")
    measures = (sa.func.count(), outcome_count(CORRECT), sa.func.avg(S.confidence))
    base = sa.select(bucket, *measures).join(SO, SO.signal_id == S.id).where(*_decided(f))
    per_engine = base.add_columns(S.engine).group_by(S.engine, bucket)
    rows = [(r[4], *r[:4]) for r in _rows(session_factory, per_engine)]
    rows += [(ALL_ENGINES, *r) for r in _rows(session_factory, base.group_by(bucket))]
    return [
        {
            "engine": engine,
            "bucket": int(b),
            "bucket_low": b / bins,
            "bucket_high": (b + 1) / bins,
            "n": n,
            "correct": int(correct),
            "mean_confidence": float(mean),
            "hit_rate": int(correct) / n if n else None,
        }  # fmt: skip
        for engine, b, n, correct, mean in sorted(rows, key=lambda r: (r[0] != ALL_ENGINES, r[0], r[1]))
    ]


def brier_scores(f: PerformanceFilter, session_factory: SessionFactory | None = None) -> list[dict[str, Any]]:
    """Per engine (and all engines): Brier score of the stated confidence against CORRECT/WRONG."""
    y = sa.case((SO.outcome == CORRECT, 1.0), else_=0.0)
    err = (S.confidence - y) * (S.confidence - y)
    measures = (sa.func.count(), sa.func.avg(err), sa.func.avg(S.confidence), sa.func.avg(y))
    base = sa.select(*measures).join(SO, SO.signal_id == S.id).where(*_decided(f))
    rows = [(r[4], *r[:4]) for r in _rows(session_factory, base.add_columns(S.engine).group_by(S.engine))]
    rows += [(ALL_ENGINES, *r) for r in _rows(session_factory, base) if r[0]]
    return [
        {"engine": e, "n": n, "brier": float(b), "mean_confidence": float(c), "hit_rate": float(h)}
        for e, n, b, c, h in sorted(rows, key=lambda r: (r[0] != ALL_ENGINES, r[0]))
    ]


def confidence_distribution(
    f: PerformanceFilter, bins: int = 10, session_factory: SessionFactory | None = None
) -> list[dict[str, Any]]:
    """Signals per engine, confidence bucket and confidence source (raw or calibrated)."""
    bucket = confidence_bucket(S.confidence, bins).label("bucket")
    source = sa.func.coalesce(S.metadata_["confidence_source"].as_string(), "raw").label("source")
    stmt = (
        sa.select(S.engine, bucket, source, sa.func.count())
        .where(*_conds(f), S.confidence.is_not(None))
        .group_by(S.engine, bucket, source)
        .order_by(S.engine, bucket)
    )
    return [
        {"engine": e, "bucket_low": b / bins, "source": src, "count": n}
        for e, b, src, n in _rows(session_factory, stmt)
    ]


def experience_table(
    symbols: tuple[str, ...] = (), session_factory: SessionFactory | None = None
) -> list[dict[str, Any]]:
    """formula_experience rows (the all-symbols rows always, per-symbol rows of `symbols` or all)."""
    F = FormulaExperience
    cond: sa.ColumnElement[bool] = F.symbol.is_(None) | F.symbol.in_(list(symbols)) if symbols else sa.true()
    cond = sa.and_(cond, F.signal.not_in(NO_VIEW_SIGNALS))
    cols = (F.engine, F.signal, F.symbol, F.horizon_s, F.total_tests, F.wins, F.losses, F.neutrals,
            F.success_rate, F.adjusted_confidence, F.last_updated)  # fmt: skip
    stmt = (
        sa.select(*cols)
        .where(cond)
        .order_by(F.engine, F.signal, F.symbol.is_not(None), F.symbol, F.horizon_s)
    )
    return [
        {**dict(r._mapping), "symbol": r.symbol or "all", "horizon_min": r.horizon_s // 60}
        for r in _rows(session_factory, stmt)
    ]


def prediction_accuracy(
    f: PerformanceFilter, bucket_s: int = 1800, session_factory: SessionFactory | None = None
) -> list[dict[str, Any]]:
    """Scored predictions per symbol and time bucket: mean Brier and directional hit rate; and
    smart-money calls per bucket: correct and wrong counts."""
    P, M = Prediction, SmartMoneyPrediction
    when = epoch_bucket(P.ts, sa.literal(bucket_s, literal_execute=True)).label("bucket")
    right = sa.case(((P.bullish_probability - 0.5) * P.actual_move_30m > 0, 1), else_=0)
    stmt = (
        sa.select(when, P.symbol, sa.func.count(), sa.func.avg(P.accuracy_score), sa.func.avg(right))
        .where(*_conds(f, P), P.accuracy_score.is_not(None))
        .group_by(when, P.symbol)
        .order_by(when)
    )
    out = [
        {"bucket": b, "symbol": s, "kind": "prediction", "n": n, "brier": br, "hit_rate": hr}
        for b, s, n, br, hr in _rows(session_factory, stmt)
    ]
    m_when = epoch_bucket(M.ts, sa.literal(bucket_s, literal_execute=True)).label("bucket")
    decided = sa.func.sum(sa.case((M.result.in_((CORRECT, WRONG)), 1), else_=0))
    wins = sa.func.sum(sa.case((M.result == CORRECT, 1), else_=0))
    stmt = (
        sa.select(m_when, M.symbol, decided, wins)
        .where(*_conds(f, M), M.result.is_not(None))
        .group_by(m_when, M.symbol)
        .order_by(m_when)
    )
    for b, s, n, w in _rows(session_factory, stmt):
        if n:
            out.append({"bucket": b, "symbol": s, "kind": "smart money", "n": int(n), "brier": None,
                        "hit_rate": int(w) / int(n)})  # fmt: skip
    return out
