"""prediction_service: the aggregate per-symbol Prediction, and 30-minute scoring of predictions.

Bullish probability from experience-weighted engine votes (documented formula):

    p_e  = engine e's calibrated probability that its direction is right
           = Experience_e.adjusted_confidence(raw_score_e)   (raw_score_e without experience)
    w_e  = 1 + ln(1 + n_e)        n_e = decided directional outcomes of e at 30 min for the symbol
    s_e  = +1 for UP, -1 for DOWN; only active engines with a direction vote
    bullish = 0.5 + sum(w_e * s_e * (p_e - 0.5)) / sum(w_e)      (0.5 when nobody votes)

so an engine that has been right more often speaks louder, and one whose measured hit rate is below
one half argues against its own call. Volatility probability is LiveMetrics.breach_probability (the
chance of ending outside the 1 sigma band). Scoring at 30 minutes: actual_move_30m is the spot move
in percent and accuracy_score the Brier score (bullish - y)^2 with y = 1 up, 0 down, 0.5 flat, from
the prices of the prediction's own run (as signals are scored).
Smart-money rows are scored with the same rules as signals (BULLISH = UP, BEARISH = DOWN,
NEUTRAL = range call).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import to_datetime, to_epoch
from core.domain import LiveMetrics
from core.learning.experience import Experience
from core.learning.outcomes import evaluate_outcome
from core.learning.spot_paths import SpotPath, due_bound, load_path, session_close_for
from core.market_calendar import MarketCalendar
from core.storage.models import Prediction, SmartMoneyPrediction

MODEL_VERSION = "votes-v1"
PREDICTION_HORIZON_S = 1800
BIAS_DIRECTION = {"BULLISH": "UP", "BEARISH": "DOWN", "NEUTRAL": "NONE"}
CHUNK_ROWS = 2000
PATH_MARGIN_S = 300.0  # see core.learning.learning_engine: entry IV before, the reaching sample after


def bullish_probability(results: Mapping[str, Any], skill: Mapping[str, Experience]) -> float:
    """The vote above; `results` maps engine name to its EngineResult (direction, raw_score, active)."""
    num = den = 0.0
    for engine, result in results.items():
        if not result.active or result.direction not in ("UP", "DOWN"):
            continue
        raw = float(result.raw_score)
        if not math.isfinite(raw):
            continue
        exp = skill.get(engine)
        p = exp.adjusted_confidence(raw) if exp is not None else raw
        weight = 1.0 + math.log1p(exp.decided if exp is not None else 0)
        num += weight * (1.0 if result.direction == "UP" else -1.0) * (p - 0.5)
        den += weight
    return 0.5 if den == 0.0 else min(1.0, max(0.0, 0.5 + num / den))


def build_prediction(
    metrics: LiveMetrics,
    results: Mapping[str, Any],
    skill: Mapping[str, Experience],
    gamma_state: str | None = None,
) -> Prediction:
    """The Prediction row for one symbol's metrics cycle (pure: no database, no wall clock).
    `gamma_state` is DealerGammaEngine's held state (GAMMA_NEUTRAL included: a state, no signal)."""
    bullish = bullish_probability(results, skill)
    breach = metrics.breach_probability
    return Prediction(
        ts=to_datetime(metrics.ts),
        symbol=metrics.symbol,
        bullish_probability=bullish,
        volatility_probability=breach if breach is not None and math.isfinite(breach) else None,
        confidence_score=max(bullish, 1.0 - bullish),
        regime=metrics.regime,
        gamma_state=gamma_state,
        model_version=MODEL_VERSION,
    )


def brier(probability: float, move_pct: float) -> float:
    y = 1.0 if move_pct > 0 else 0.0 if move_pct < 0 else 0.5
    return (probability - y) ** 2


# A scorer turns (row columns, the path of the row's symbol and run, session close) into column
# updates, or None. Rows are (id, ts, symbol, run_id, the scored column).
Scorer = Callable[[sa.Row[*tuple[Any, ...]], SpotPath, float | None], dict[str, Any] | None]


def _move(ts: float, path: SpotPath, close: float | None, direction: str = "UP") -> Any:
    entry = path.spot_at(ts)
    if entry is None or entry <= 0:
        return None
    after = path.after(ts)
    iv = path.atm_iv_at(ts) if direction == "NONE" else None
    return evaluate_outcome(
        direction, ts, entry, after.ts, after.spot, PREDICTION_HORIZON_S, session_close_ts=close, atm_iv=iv
    )


def _score_prediction(
    row: sa.Row[*tuple[Any, ...]], path: SpotPath, close: float | None
) -> dict[str, Any] | None:
    pid, ts, _symbol, _run, bullish = row
    r = _move(to_epoch(ts), path, close)
    if r is None:
        return None
    score = brier(float(bullish), r.move_pct) if bullish is not None else None
    return {"id": pid, "actual_move_30m": r.move_pct, "accuracy_score": score}


def _score_smart_money(
    row: sa.Row[*tuple[Any, ...]], path: SpotPath, close: float | None
) -> dict[str, Any] | None:
    sid, ts, _symbol, _run, bias = row
    r = _move(to_epoch(ts), path, close, BIAS_DIRECTION.get(bias, "NONE"))
    return None if r is None else {"id": sid, "actual_move": r.move_pct, "result": r.outcome}


def _spans(rows: list[sa.Row[*tuple[Any, ...]]]) -> dict[tuple[str, str | None], tuple[float, float]]:
    """Event-time span of the rows per (symbol, run_id)."""
    spans: dict[tuple[str, str | None], tuple[float, float]] = {}
    for r in rows:
        t, key = to_epoch(r[1]), (r[2], r[3])
        lo, hi = spans.get(key, (t, t))
        spans[key] = (min(lo, t), max(hi, t))
    return spans


def _updates(
    session: Session,
    rows: list[sa.Row[*tuple[Any, ...]]],
    scorer: Scorer,
    now: float,
    calendar: MarketCalendar,
) -> list[dict[str, Any]]:
    """Column updates for the rows whose 30 minutes (or session) have ended by event time `now`."""
    paths = {
        (symbol, run): load_path(
            session, symbol, lo - PATH_MARGIN_S, hi + PREDICTION_HORIZON_S + PATH_MARGIN_S, run
        )
        for (symbol, run), (lo, hi) in _spans(rows).items()
    }
    updates = []
    for r in rows:
        t = to_epoch(r[1])
        close = session_close_for(calendar, t)
        end = t + PREDICTION_HORIZON_S if close is None else min(t + PREDICTION_HORIZON_S, close)
        if now >= end:
            update = scorer(r, paths[r[2], r[3]], close)
            if update is not None:
                updates.append(update)
    return updates


def _score_table(
    session_factory: Callable[[], Session],
    stmt: sa.Select[*tuple[Any, ...]],
    model: type[Prediction] | type[SmartMoneyPrediction],
    scorer: Scorer,
    now: float,
    calendar: MarketCalendar,
) -> int:
    """Score unscored rows in id chunks: one spot-path query per symbol per chunk, one bulk UPDATE."""
    scored, after_id = 0, 0
    while True:
        with session_factory() as session:
            rows = list(session.execute(stmt.where(model.id > after_id).order_by(model.id).limit(CHUNK_ROWS)))
            if not rows:
                return scored
            updates = _updates(session, rows, scorer, now, calendar)
            if updates:
                session.execute(sa.update(model), updates)  # ORM bulk UPDATE by primary key
                session.commit()
        scored += len(updates)
        after_id = rows[-1][0]


def score_predictions(
    session_factory: Callable[[], Session],
    now: float = math.inf,
    since: float | None = None,
    calendar: MarketCalendar | None = None,
) -> dict[str, int]:
    """Score the Prediction and SmartMoneyPrediction rows whose 30 minutes have passed."""
    calendar = calendar or MarketCalendar.default()
    out = {}
    for name, model, cols, pending, scorer in (
        ("predictions_scored", Prediction, (Prediction.bullish_probability,), Prediction.actual_move_30m,
         _score_prediction),
        ("smart_money_scored", SmartMoneyPrediction, (SmartMoneyPrediction.bias,),
         SmartMoneyPrediction.result, _score_smart_money),
    ):  # fmt: skip
        conds: list[sa.ColumnElement[bool]] = [pending.is_(None)]
        if math.isfinite(now):
            conds.append(model.ts <= to_datetime(due_bound(calendar, now, PREDICTION_HORIZON_S)))
        if since is not None:
            conds.append(model.ts >= to_datetime(since))
        stmt = sa.select(model.id, model.ts, model.symbol, model.run_id, *cols).where(*conds)
        out[name] = _score_table(session_factory, stmt, model, scorer, now, calendar)
    return out
