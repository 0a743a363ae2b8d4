"""History, CSV, counts and statistics by run: one run, every run (legacy rows included) or every run
but backtests; legacy NEUTRAL / GAMMA_NEUTRAL rows are never shown or counted."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from core.__main__ import main
from core.clock import to_epoch
from core.storage.models import AiSignalLog, SignalOutcome
from core.storage.queries import (
    SignalFilter,
    get_recent_signals,
    get_signal_statistics,
    iter_signals_csv,
    query_signals,
    signals_per_day,
)
from core.storage.rollup import refresh_rollup
from core.storage.runs import recent_runs
from tests.core.storage.helpers import make_signal

NOW = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)

# uid: (run_id, source, engine, signal, direction, hours before NOW, 5-minute outcome)
ROWS = {
    "live-1": ("run-live", "live", "liquidity", "SWEEP_UP", "UP", 1, "CORRECT"),
    "live-2": ("run-live", "live", "liquidity", "SWEEP_UP", "UP", 2, "WRONG"),
    "sim-1": ("run-sim", "sim:demo", "liquidity", "SWEEP_UP", "UP", 3, "CORRECT"),
    "bt-1": ("run-bt", "backtest:june", "liquidity", "SWEEP_UP", "UP", 4, "WRONG"),
    "legacy-1": (None, None, "liquidity", "SWEEP_DOWN", "DOWN", 5, "CORRECT"),
    # Legacy no-view rows: NEUTRAL is a state, not a signal.
    "legacy-neutral": (None, None, "smart_money", "NEUTRAL", "NONE", 1, "CORRECT"),
    "legacy-gamma-neutral": (None, None, "dealer_gamma", "GAMMA_NEUTRAL", "NONE", 1, "WRONG"),
}
VIEWS = {"live-1", "live-2", "sim-1", "bt-1", "legacy-1"}


@pytest.fixture
def stored(session_factory) -> None:
    with session_factory() as session, session.begin():
        for uid, (run, source, engine, signal, direction, hours, outcome) in ROWS.items():
            sig = make_signal(
                id=uid, ts=to_epoch(NOW - timedelta(hours=hours)), engine=engine, signal=signal,
                direction=direction,
            )  # fmt: skip
            row = AiSignalLog.from_signal(sig, run, source)
            session.add(row)
            session.flush()
            session.add(SignalOutcome(signal_id=row.id, horizon_s=300, evaluated_at=NOW, outcome=outcome))


def uids(session_factory, **scope) -> set[str]:
    rows, total = query_signals(SignalFilter(**scope), page_size=100, session_factory=session_factory)
    assert total == len(rows)
    return {r["signal_uid"] for r in rows}


@pytest.mark.usefixtures("stored")
def test_history_of_one_run_all_runs_or_all_but_backtests(session_factory) -> None:
    assert uids(session_factory, run_id="run-live") == {"live-1", "live-2"}
    assert uids(session_factory, run_id="run-bt") == {"bt-1"}
    assert uids(session_factory) == VIEWS  # legacy rows are there under all runs
    assert uids(session_factory, exclude_backtests=True) == VIEWS - {"bt-1"}
    assert uids(session_factory, run_id="nobody") == set()


@pytest.mark.usefixtures("stored")
def test_no_view_rows_are_never_shown_even_when_asked_for(session_factory) -> None:
    assert uids(session_factory, signals=("NEUTRAL", "GAMMA_NEUTRAL")) == set()
    recent = get_recent_signals(limit=100, session_factory=session_factory)
    assert {r["signal_uid"] for r in recent} == VIEWS
    mine = get_recent_signals(limit=100, session_factory=session_factory, run_id="run-sim")
    assert [r["signal_uid"] for r in mine] == ["sim-1"]


@pytest.mark.usefixtures("stored")
def test_csv_and_daily_counts_follow_the_run_filter(session_factory) -> None:
    flt = SignalFilter(exclude_backtests=True, horizon_s=300)
    table = list(csv.DictReader(io.StringIO("".join(iter_signals_csv(flt, session_factory)))))
    assert {r["signal_uid"] for r in table} == VIEWS - {"bt-1"}
    by_uid = {r["signal_uid"]: r for r in table}
    assert (by_uid["live-1"]["run_id"], by_uid["live-1"]["source"]) == ("run-live", "live")
    assert (by_uid["legacy-1"]["run_id"], by_uid["legacy-1"]["source"]) == ("", "")
    per_day = signals_per_day(SignalFilter(), session_factory)
    assert sum(d["count"] for d in per_day) == len(VIEWS)
    assert {d["engine"] for d in per_day} == {"liquidity"}
    assert sum(d["count"] for d in signals_per_day(SignalFilter(run_id="run-live"), session_factory)) == 2


@pytest.mark.parametrize("refreshed", [False, True], ids=["raw", "rollup"])
@pytest.mark.usefixtures("stored")
def test_statistics_by_run_leave_out_no_view_signals(session_factory, refreshed: bool) -> None:
    if refreshed:
        with session_factory() as session:
            refresh_rollup(session)

    def stats(**scope):
        return get_signal_statistics(None, None, NOW, session_factory, **scope)

    everything = stats()
    assert everything["total"] == len(VIEWS)
    assert set(everything["by_engine"]) == {"liquidity"}
    assert {(o["signal"], o["evaluated"]) for o in everything["outcomes"]} == {
        ("SWEEP_UP", 4),
        ("SWEEP_DOWN", 1),
    }
    live = stats(run_id="run-live")
    assert live["total"] == 2
    assert [(o["correct"], o["wrong"], o["hit_rate"]) for o in live["outcomes"]] == [(1, 1, 0.5)]
    no_bt = stats(exclude_backtests=True)
    assert no_bt["total"] == 4
    up = next(o for o in no_bt["outcomes"] if o["signal"] == "SWEEP_UP")
    assert (up["correct"], up["wrong"]) == (2, 1)


def test_a_bad_run_id_is_refused() -> None:
    with pytest.raises(ValueError, match="run_id"):
        SignalFilter(run_id="x' OR 1=1 --").validate()
    with pytest.raises(ValueError, match="exclude_backtests"):
        SignalFilter(exclude_backtests="yes").validate()  # type: ignore[arg-type]


@pytest.mark.usefixtures("stored")
def test_recent_runs_newest_first_with_source_and_size(session_factory) -> None:
    runs = recent_runs(10, session_factory)
    assert [(r.run_id, r.source, r.signals) for r in runs] == [
        ("run-live", "live", 2),
        ("run-sim", "sim:demo", 1),
        ("run-bt", "backtest:june", 1),
    ]
    assert runs[0].started_at == NOW - timedelta(hours=2)
    assert [r.run_id for r in recent_runs(1, session_factory)] == ["run-live"]


def test_export_cli_takes_a_run_or_leaves_out_backtests(
    migrated_url, session_factory, stored, tmp_path
) -> None:
    def export(*args: str) -> set[str]:
        out = tmp_path / "signals.csv"
        assert main(["export", "--db", migrated_url, "--out", str(out), *args]) == 0
        return {r["signal_uid"] for r in csv.DictReader(out.open())}

    assert export("--run", "run-sim") == {"sim-1"}
    assert export("--exclude-backtests") == VIEWS - {"bt-1"}
    assert export() == VIEWS
