"""Runs: every stored row names the run that wrote it (`run_id`) and where its data came from
(`source`), so two runs over the same event times never mix.

A run is one Runtime (or one backtest) from start to stop. Sources: `live` (WebSocket and broker
feeds), `sim:<scenario>`, `replay:<file name>`, `backtest:<run label>`. Rows stored before
migration 0004 carry neither (NULL): legacy rows, which belong to no run, are read only when a query
is not narrowed to one run.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.config import FeedConfig
from core.storage.database import SessionLocal
from core.storage.models import AiSignalLog

LIVE = "live"
BACKTEST_PREFIX = "backtest:"
# The run selector's two choices besides one run.
ALL_RUNS = "all"
NO_BACKTESTS = "no-backtests"
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,36}")
SOURCE_SIZE = 200


def new_run_id() -> str:
    return uuid.uuid4().hex


def feed_source(feed: FeedConfig) -> str:
    """The source of a run on `feed`: sim:<scenario>, replay:<file name>, else live."""
    if feed.kind == "sim":
        return f"sim:{feed.scenario}"
    if feed.kind == "replay":
        return f"replay:{Path(feed.url).name}"
    return LIVE


def backtest_source(label: str) -> str:
    return f"{BACKTEST_PREFIX}{label}"


def check_run(run_id: str | None, exclude_backtests: bool) -> None:
    """Raise ValueError unless (run_id, exclude_backtests) is a valid run scope."""
    if run_id is not None and not (isinstance(run_id, str) and RUN_ID_PATTERN.fullmatch(run_id)):
        raise ValueError(f"run_id must be a run id of up to 36 letters, digits, '-' or '_', got {run_id!r}")
    if not isinstance(exclude_backtests, bool):
        raise ValueError(f"exclude_backtests must be true or false, got {exclude_backtests!r}")


def run_conditions(
    run_id: str | None, exclude_backtests: bool, run_col: Any, source_col: Any
) -> list[sa.ColumnElement[bool]]:
    """WHERE terms for a run scope: one run, or every run (and legacy row) but backtests, or all."""
    if run_id is not None:
        return [run_col == run_id]
    if exclude_backtests:
        return [sa.or_(source_col.is_(None), ~source_col.startswith(BACKTEST_PREFIX, autoescape=True))]
    return []


def scope_of_choice(choice: str | None) -> tuple[str | None, bool]:
    """(run_id, exclude_backtests) for a run selector value: ALL_RUNS, NO_BACKTESTS or a run id."""
    if choice is None or choice == ALL_RUNS:
        return None, False
    if choice == NO_BACKTESTS:
        return None, True
    return choice, False


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run that stored signals: its source, first signal's event time and signal count."""

    run_id: str
    source: str | None
    started_at: datetime
    signals: int


def recent_runs(limit: int = 20, session_factory: Callable[[], Session] | None = None) -> list[RunInfo]:
    """The `limit` runs with the newest first signal, newest first. One GROUP BY over the
    (run_id, timestamp) index; the source is read from one row of each listed run only."""
    S = AiSignalLog
    runs = (
        sa.select(S.run_id, sa.func.min(S.timestamp).label("started"), sa.func.count().label("n"))
        .where(S.run_id.is_not(None))
        .group_by(S.run_id)
        .order_by(sa.desc("started"))
        .limit(limit)
        .subquery()
    )
    source = sa.select(S.source).where(S.run_id == runs.c.run_id).limit(1).scalar_subquery()
    stmt = sa.select(runs.c.run_id, source, runs.c.started, runs.c.n).order_by(runs.c.started.desc())
    with (session_factory or SessionLocal)() as session:
        return [RunInfo(r[0], r[1], r[2], int(r[3])) for r in session.execute(stmt)]
