"""Read side of the Intraday page: one symbol's stored day (market and chain snapshots) as series,
with the live tail appended, and the daily ATM IV behind IV rank and percentile.

Stored snapshots are what survives a restart and what a replica sees; the snapshot interval (5 s)
and the logger's write-behind leave the newest seconds in memory only, so `with_tail` appends the
live source's current metrics. A day is an IST trading day; queries bound it by a UTC range on
`ts`, so the (symbol, ts) indexes serve them. Every read can be narrowed to one run (a simulator
restarted on the same event day writes a second, overlapping run) or to every run but backtests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import IST, ist_day_bounds, to_epoch
from core.domain import LiveMetrics
from core.storage.database import SessionLocal
from core.storage.models import MarketSnapshot, OptionChainSnapshot
from core.storage.runs import check_run, run_conditions
from core.storage.types import ist_date

SessionFactory = Callable[[], Session]
M = MarketSnapshot
C = OptionChainSnapshot
# market_snapshots columns charted through the day (all of them are headline LiveMetrics fields).
SERIES_COLUMNS = (
    "spot", "max_pain", "support", "resistance", "call_wall", "put_wall", "gamma_flip", "pcr_oi",
    "pcr_volume", "atm_iv", "net_gex", "total_call_oi", "total_put_oi", "atm_strike",
)  # fmt: skip
IV_LOOKBACK_DAYS = 365


@dataclass(frozen=True, slots=True)
class Scope:
    """Which runs a read covers: one run, every run but backtests, or everything (None, False)."""

    run_id: str | None = None
    exclude_backtests: bool = False

    def __post_init__(self) -> None:
        check_run(self.run_id, self.exclude_backtests)

    def on(self, model: Any) -> list[sa.ColumnElement[bool]]:
        return run_conditions(self.run_id, self.exclude_backtests, model.run_id, model.source)


@dataclass(frozen=True, slots=True)
class Series:
    """Event times (epoch s, ascending) and aligned float columns (NaN = not stored). The last
    `tail` points came from the live source's memory, not from the database."""

    ts: np.ndarray
    values: Mapping[str, np.ndarray] = field(default_factory=dict)
    tail: int = 0

    def __len__(self) -> int:
        return len(self.ts)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]


@dataclass(frozen=True, slots=True)
class DayRun:
    """A run that stored market snapshots of a symbol on a day (run_id None: legacy rows)."""

    run_id: str | None
    source: str | None
    first: datetime
    last: datetime
    rows: int


def ist_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, IST).date()


def _factory(session_factory: SessionFactory | None) -> SessionFactory:
    return session_factory or SessionLocal


def _float(value: Any) -> float:
    return np.nan if value is None else float(value)


def stored_days(
    symbol: str, scope: Scope = Scope(), session_factory: SessionFactory | None = None
) -> list[date]:
    """IST days with market snapshots of `symbol`, newest first."""
    day = ist_date(M.ts)
    stmt = sa.select(day).where(M.symbol == symbol, *scope.on(M)).group_by(day).order_by(day.desc())
    with _factory(session_factory)() as session:
        return [_as_date(d) for (d,) in session.execute(stmt)]


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def day_runs(symbol: str, day: date, session_factory: SessionFactory | None = None) -> list[DayRun]:
    """Runs that stored `symbol` on `day`, the one that started first first."""
    lo, hi = ist_day_bounds(day)
    stmt = (
        sa.select(M.run_id, sa.func.max(M.source), sa.func.min(M.ts), sa.func.max(M.ts), sa.func.count())
        .where(M.symbol == symbol, M.ts >= lo, M.ts < hi)
        .group_by(M.run_id)
        .order_by(sa.func.min(M.ts))
    )
    with _factory(session_factory)() as session:
        return [DayRun(r[0], r[1], r[2], r[3], int(r[4])) for r in session.execute(stmt)]


def runs_overlap(runs: Iterable[DayRun]) -> bool:
    """True when two runs' stored spans of the day intersect (their rows would interleave)."""
    spans = sorted((to_epoch(r.first), to_epoch(r.last)) for r in runs)
    return any(nxt[0] <= prev[1] for prev, nxt in zip(spans, spans[1:], strict=False))


def day_expiries(
    symbol: str, day: date, scope: Scope = Scope(), session_factory: SessionFactory | None = None
) -> list[date]:
    """Expiries stored for `symbol` on `day` (the runtime stores its nearest expiry), the most
    recently stored last."""
    lo, hi = ist_day_bounds(day)
    stmt = (
        sa.select(M.expiry)
        .where(M.symbol == symbol, M.ts >= lo, M.ts < hi, M.expiry.is_not(None), *scope.on(M))
        .group_by(M.expiry)
        .order_by(sa.func.max(M.ts))
    )
    with _factory(session_factory)() as session:
        return [e for (e,) in session.execute(stmt) if e is not None]


def _window(day: date, start: datetime | None) -> tuple[datetime, datetime]:
    lo, hi = ist_day_bounds(day)
    return (max(lo, start.astimezone(UTC)) if start is not None else lo), hi


def day_series(
    symbol: str,
    day: date,
    expiry: date | None,
    start: datetime | None = None,
    scope: Scope = Scope(),
    session_factory: SessionFactory | None = None,
) -> Series:
    """The stored headline metrics of `symbol` and `expiry` on `day` from `start` (default: the
    day's first row), one point per stored snapshot."""
    lo, hi = _window(day, start)
    cols = [getattr(M, name) for name in SERIES_COLUMNS]
    conds = [M.symbol == symbol, M.ts >= lo, M.ts < hi, *scope.on(M)]
    if expiry is not None:
        conds.append(M.expiry == expiry)
    stmt = sa.select(M.ts, *cols).where(*conds).order_by(M.ts, M.id)
    with _factory(session_factory)() as session:
        rows = session.execute(stmt).all()
    ts = np.array([to_epoch(r[0]) for r in rows], dtype=float)
    values = {
        name: np.array([_float(r[i + 1]) for r in rows], dtype=float) for i, name in enumerate(SERIES_COLUMNS)
    }
    return Series(ts, values)


def append_point(series: Series, ts: float, point: Mapping[str, float | None]) -> Series:
    """`series` with one more point at `ts` if it is newer than the last stored one (else as is)."""
    if len(series) and ts <= series.ts[-1]:
        return series
    values = {name: np.append(arr, _float(point.get(name))) for name, arr in series.values.items()}
    return Series(np.append(series.ts, ts), values, series.tail + 1)


def with_tail(series: Series, metrics: LiveMetrics | None, day: date) -> Series:
    """`series` plus the live metrics as its last point, when they belong to `day` and are newer
    than what the database holds (the seconds the snapshot interval and the writer hold back)."""
    if metrics is None or metrics.spot is None or ist_day(metrics.ts) != day:
        return series
    return append_point(series, metrics.ts, {name: getattr(metrics, name, None) for name in SERIES_COLUMNS})


def _premium(ltp: float | None, bid: float | None, ask: float | None) -> float:
    """Quote mid when both sides are positive and uncrossed, else LTP: the structural engine's
    premium (ChainArrays.premium), so stored and live straddles are the same quantity."""
    if bid is not None and ask is not None and bid > 0 and ask > 0 and ask >= bid:
        return 0.5 * (bid + ask)
    return float(ltp) if ltp is not None and ltp > 0 else np.nan


# One chain snapshot for the straddle: (ts, ATM strike, {strike: (CE+PE premium, CE+PE volume)}).
StraddleSnapshot = tuple[float, float, dict[float, tuple[float, float]]]


def straddle_snapshots(
    symbol: str,
    day: date,
    expiry: date | None,
    start: datetime | None = None,
    scope: Scope = Scope(),
    session_factory: SessionFactory | None = None,
) -> list[StraddleSnapshot]:
    """Per stored chain snapshot, the premium and volume of each strike that was ATM at some
    point of the day (only those: the straddle rolls with ATM and its VWAP needs each strike's
    previous volume)."""
    lo, hi = _window(day, start)
    mconds = [M.symbol == symbol, M.ts >= lo, M.ts < hi, *scope.on(M)]
    cconds = [C.symbol == symbol, C.ts >= lo, C.ts < hi, *scope.on(C)]
    if expiry is not None:
        mconds.append(M.expiry == expiry)
        cconds.append(C.expiry == expiry)
    atm_strikes = sa.select(M.atm_strike).where(*mconds, M.atm_strike.is_not(None)).distinct()
    stmt = (
        sa.select(C.market_snapshot_id, C.ts, M.atm_strike, C.strike, C.right, C.ltp, C.bid, C.ask, C.volume)
        .join(M, M.id == C.market_snapshot_id)
        .where(*cconds, C.strike.in_(atm_strikes))
        .order_by(C.ts, C.market_snapshot_id)
    )
    with _factory(session_factory)() as session:
        rows = session.execute(stmt).all()
    legs: dict[int, tuple[float, float, dict[tuple[float, str], tuple[float, float]]]] = {}
    for snap_id, ts, atm, strike, right, ltp, bid, ask, volume in rows:
        entry = legs.setdefault(snap_id, (to_epoch(ts), _float(atm), {}))
        entry[2][(float(strike), right)] = (_premium(ltp, bid, ask), _float(volume))
    out: list[StraddleSnapshot] = []
    for snap_ts, atm, by_leg in legs.values():
        by_strike = {}
        for strike in {k for k, _ in by_leg}:
            ce, pe = by_leg.get((strike, "CE")), by_leg.get((strike, "PE"))
            # a strike with one leg stored has no straddle (NaN), never half of one
            by_strike[strike] = (ce[0] + pe[0], ce[1] + pe[1]) if ce and pe else (np.nan, np.nan)
        out.append((snap_ts, atm, by_strike))
    return sorted(out, key=lambda s: s[0])


def live_straddle_snapshot(metrics: LiveMetrics) -> StraddleSnapshot | None:
    """The live metrics as one more straddle snapshot (ATM only: that is all the VWAP reads)."""
    if metrics.atm_strike is None or metrics.atm_straddle is None or not len(metrics.strikes):
        return None
    strikes = np.asarray(metrics.strikes, dtype=float)
    i = int(np.argmin(np.abs(strikes - metrics.atm_strike)))
    volume = np.nan
    if len(metrics.call_volume) == len(strikes) and len(metrics.put_volume) == len(strikes):
        volume = float(metrics.call_volume[i]) + float(metrics.put_volume[i])
    return metrics.ts, float(metrics.atm_strike), {float(strikes[i]): (metrics.atm_straddle, volume)}


def straddle_vwap(snaps: list[StraddleSnapshot], tail: int = 0) -> Series:
    """The rolling ATM straddle premium and its volume-weighted average since the first snapshot.

    Each snapshot's weight is the volume its ATM call and put traded since the previous snapshot
    (cumulative day volume now minus then, at the same strike): when ATM rolls to a new strike,
    that strike's own earlier volume is subtracted, not the old ATM's. A strike first seen (no
    earlier volume) weighs nothing, so the VWAP starts with the first measurable interval.
    """
    ts, atm, straddle, weight = [], [], [], []
    last_volume: dict[float, float] = {}
    for t, k, by_strike in snaps:
        prem, vol = by_strike.get(k, (np.nan, np.nan))
        before = last_volume.get(k)
        traded = vol - before if before is not None and np.isfinite(vol) and np.isfinite(before) else 0.0
        ts.append(t)
        atm.append(k)
        straddle.append(prem)
        weight.append(max(traded, 0.0) if np.isfinite(prem) else 0.0)
        for strike, (_, v) in by_strike.items():
            if np.isfinite(v):
                last_volume[strike] = v
    w, p = np.array(weight, dtype=float), np.array(straddle, dtype=float)
    cum_w = np.cumsum(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(cum_w > 0, np.cumsum(np.nan_to_num(w * p)) / cum_w, np.nan)
    values: dict[str, np.ndarray] = {
        "atm_strike": np.array(atm, dtype=float),
        "straddle": p,
        "weight": w,
        "vwap": vwap,
    }
    return Series(np.array(ts, dtype=float), values, tail)


def day_strikes(
    symbol: str,
    day: date,
    expiry: date | None,
    scope: Scope = Scope(),
    session_factory: SessionFactory | None = None,
) -> list[float]:
    """Strikes with chain snapshots of `symbol` (and `expiry`) on `day`, ascending."""
    lo, hi = ist_day_bounds(day)
    conds = [C.symbol == symbol, C.ts >= lo, C.ts < hi, *scope.on(C)]
    if expiry is not None:
        conds.append(C.expiry == expiry)
    stmt = sa.select(C.strike).where(*conds).distinct().order_by(C.strike)
    with _factory(session_factory)() as session:
        return [float(k) for (k,) in session.execute(stmt)]


def strike_oi(
    symbol: str,
    day: date,
    expiry: date | None,
    strikes: Iterable[float],
    start: datetime | None = None,
    scope: Scope = Scope(),
    session_factory: SessionFactory | None = None,
) -> dict[tuple[float, str], Series]:
    """OI and ΔOI (the stored change against the previous day's close) per (strike, right) over
    the day, from the chain snapshots; a strike never stored is absent."""
    wanted = sorted({float(k) for k in strikes})
    if not wanted:
        return {}
    lo, hi = _window(day, start)
    conds = [C.symbol == symbol, C.ts >= lo, C.ts < hi, C.strike.in_(wanted), *scope.on(C)]
    if expiry is not None:
        conds.append(C.expiry == expiry)
    stmt = (
        sa.select(C.strike, C.right, C.ts, C.oi, C.oi_change).where(*conds).order_by(C.strike, C.right, C.ts)
    )
    with _factory(session_factory)() as session:
        rows = session.execute(stmt).all()
    grouped: dict[tuple[float, str], list[tuple[float, float, float]]] = {}
    for strike, right, ts, oi, change in rows:
        grouped.setdefault((float(strike), right), []).append((to_epoch(ts), _float(oi), _float(change)))
    out = {}
    for key, points in grouped.items():
        arr = np.array(points, dtype=float)
        out[key] = Series(arr[:, 0], {"oi": arr[:, 1], "oi_change": arr[:, 2]})
    return out


def strike_oi_with_tail(
    series: dict[tuple[float, str], Series], metrics: LiveMetrics | None, day: date, strikes: Iterable[float]
) -> dict[tuple[float, str], Series]:
    """Each (strike, right) series plus the live metrics' OI at that strike as its last point."""
    if metrics is None or ist_day(metrics.ts) != day or not len(metrics.strikes):
        return series
    out = dict(series)
    live = np.asarray(metrics.strikes, dtype=float)
    for k in {float(s) for s in strikes}:
        hit = np.flatnonzero(np.isclose(live, k))
        if not hit.size:
            continue
        i = int(hit[0])
        for right, prefix in (("CE", "call_"), ("PE", "put_")):
            oi, change = getattr(metrics, prefix + "oi"), getattr(metrics, prefix + "oi_change")
            point = {
                "oi": float(oi[i]) if len(oi) == len(live) else None,
                "oi_change": float(change[i]) if len(change) == len(live) else None,
            }
            base = out.get((k, right), Series(np.array([]), {"oi": np.array([]), "oi_change": np.array([])}))
            out[(k, right)] = append_point(base, metrics.ts, point)
    return out


def observed_interval_s(ts: np.ndarray) -> float | None:
    """The median gap between distinct stored times (what the writer actually did), None before two."""
    unique = np.unique(ts)
    return float(np.median(np.diff(unique))) if len(unique) >= 2 else None


def daily_atm_iv(
    symbol: str,
    before: date,
    lookback_days: int = IV_LOOKBACK_DAYS,
    scope: Scope = Scope(),
    session_factory: SessionFactory | None = None,
) -> list[tuple[date, float]]:
    """The ATM IV of each IST day in [before - lookback_days, before): the value of that day's
    last stored snapshot (its close), averaged if several rows share that instant."""
    lo, _ = ist_day_bounds(before - timedelta(days=lookback_days))
    hi, _ = ist_day_bounds(before)
    day = ist_date(M.ts)
    conds = [M.symbol == symbol, M.ts >= lo, M.ts < hi, M.atm_iv.is_not(None), *scope.on(M)]
    last = sa.select(day.label("day"), sa.func.max(M.ts).label("ts")).where(*conds).group_by(day).subquery()
    stmt = (
        sa.select(last.c.day, sa.func.avg(M.atm_iv))
        .join(M, sa.and_(M.symbol == symbol, M.ts == last.c.ts))
        .where(M.atm_iv.is_not(None), *scope.on(M))
        .group_by(last.c.day)
        .order_by(last.c.day)
    )
    with _factory(session_factory)() as session:
        return [(_as_date(d), float(v)) for d, v in session.execute(stmt)]
