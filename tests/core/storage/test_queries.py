"""Read API: statistics, history pages, CSV export and per-day counts on hand-built data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.clock import to_epoch
from core.storage.models import AiSignalLog, SignalOutcome
from core.storage.queries import (
    SignalFilter,
    _history_select,
    get_recent_signals,
    get_signal_statistics,
    iter_signals_csv,
    query_signals,
    signals_per_day,
)
from core.storage.rollup import refresh_rollup
from tests.core.storage.helpers import make_signal

NOW = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)

# name: (symbol, engine, signal, direction, confidence, hours before NOW, {horizon_s: (outcome, move_pct)})
DATA = {
    "s1": ("NIFTY", "liquidity", "SWEEP_UP", "UP", 0.8, 1, {300: ("CORRECT", 0.2), 900: ("WRONG", -0.1)}),
    "s2": ("NIFTY", "liquidity", "SWEEP_UP", "UP", 0.6, 2, {300: ("CORRECT", 0.3), 900: ("CORRECT", 0.4)}),
    "s3": ("NIFTY", "liquidity", "SWEEP_DOWN", "DOWN", 0.5, 3, {300: ("NEUTRAL", 0.01)}),
    "s4": ("BANKNIFTY", "smart_money", "BULLISH", "UP", 0.9, 30, {300: ("CORRECT", 1.0)}),
    "s5": ("BANKNIFTY", "gamma_squeeze", "SQUEEZE_UP", "UP", 0.7, 5, {300: ("WRONG", -0.5)}),
}


@pytest.fixture
def uids(session_factory) -> dict[str, str]:
    out = {}
    with session_factory() as session, session.begin():
        for name, (symbol, engine, signal, direction, conf, hours_ago, outcomes) in DATA.items():
            ts = to_epoch(NOW - timedelta(hours=hours_ago))
            sig = make_signal(
                ts=ts, symbol=symbol, engine=engine, signal=signal, direction=direction, confidence=conf,
                reasons=("=HYPERLINK(1)", "ok"),
            )  # fmt: skip
            row = AiSignalLog.from_signal(sig)
            session.add(row)
            session.flush()
            for horizon, (outcome, move) in outcomes.items():
                session.add(
                    SignalOutcome(
                        signal_id=row.id, horizon_s=horizon, evaluated_at=NOW, outcome=outcome, move_pct=move
                    )
                )
            out[name] = sig.id
    return out


def _names(rows, uids) -> list[str]:
    by_uid = {v: k for k, v in uids.items()}
    return [by_uid[r["signal_uid"]] for r in rows]


def test_statistics_over_the_last_day(session_factory, uids) -> None:
    stats = get_signal_statistics(hours=24, now=NOW, session_factory=session_factory)
    assert stats["total"] == 4
    assert stats["by_engine"] == {"liquidity": 3, "gamma_squeeze": 1}
    assert stats["by_signal"] == {"SWEEP_UP": 2, "SWEEP_DOWN": 1, "SQUEEZE_UP": 1}
    assert stats["avg_confidence"] == pytest.approx(0.65)
    got = {(o["engine"], o["signal"], o["horizon_s"]): o for o in stats["outcomes"]}
    assert set(got) == {
        ("liquidity", "SWEEP_UP", 300),
        ("liquidity", "SWEEP_UP", 900),
        ("liquidity", "SWEEP_DOWN", 300),
        ("gamma_squeeze", "SQUEEZE_UP", 300),
    }
    up300, up900 = got["liquidity", "SWEEP_UP", 300], got["liquidity", "SWEEP_UP", 900]
    assert (up300["evaluated"], up300["correct"], up300["hit_rate"]) == (2, 2, 1.0)
    assert up300["avg_move_pct"] == pytest.approx(0.25)
    assert (up900["correct"], up900["wrong"], up900["hit_rate"]) == (1, 1, 0.5)
    assert up900["avg_move_pct"] == pytest.approx(0.15) and up900["avg_abs_move_pct"] == pytest.approx(0.25)
    neutral = got["liquidity", "SWEEP_DOWN", 300]
    assert (neutral["neutral"], neutral["hit_rate"]) == (1, None)  # neutrals do not count as hits or misses
    assert got["gamma_squeeze", "SQUEEZE_UP", 300]["hit_rate"] == 0.0


def test_statistics_for_one_symbol_over_all_time(session_factory, uids) -> None:
    stats = get_signal_statistics("BANKNIFTY", hours=None, session_factory=session_factory)
    assert stats["total"] == 2 and stats["avg_confidence"] == pytest.approx(0.8)
    assert {(o["engine"], o["hit_rate"]) for o in stats["outcomes"]} == {
        ("gamma_squeeze", 0.0),
        ("smart_money", 1.0),
    }


@pytest.mark.parametrize("when", ["before", "after"])
def test_statistics_read_the_same_from_the_rollup(session_factory, uids, when) -> None:
    """The hand-checked answers above hold whether or not the rollup has been refreshed."""
    if when == "after":
        with session_factory() as session:
            assert refresh_rollup(session).rows > 0
    day = get_signal_statistics(hours=24, now=NOW, session_factory=session_factory)
    assert (day["total"], day["by_engine"]) == (4, {"liquidity": 3, "gamma_squeeze": 1})
    assert day["avg_confidence"] == pytest.approx(0.65)
    bank = get_signal_statistics("BANKNIFTY", hours=None, session_factory=session_factory)
    assert bank["total"] == 2 and bank["avg_confidence"] == pytest.approx(0.8)
    # 2.5 h before NOW cuts the hour of s3 (3 h ago): only s1 and s2, from the raw edge and the rollup.
    recent = get_signal_statistics("NIFTY", hours=2.5, now=NOW, session_factory=session_factory)
    assert recent["by_signal"] == {"SWEEP_UP": 2}
    assert [(o["horizon_s"], o["evaluated"], o["correct"]) for o in recent["outcomes"]] == [
        (300, 2, 2),
        (900, 2, 1),
    ]


def test_statistics_on_an_empty_database(session_factory) -> None:
    stats = get_signal_statistics(now=NOW, session_factory=session_factory)
    assert (stats["total"], stats["avg_confidence"], stats["by_engine"], stats["outcomes"]) == (
        0,
        None,
        {},
        [],
    )


def test_recent_signals_newest_first_with_window_and_symbol(session_factory, uids) -> None:
    rows = get_recent_signals(session_factory=session_factory)
    assert _names(rows, uids) == ["s1", "s2", "s3", "s5", "s4"]
    assert rows[0]["timestamp"] == NOW - timedelta(hours=1) and rows[0]["metadata"]["reasons"][1] == "ok"
    assert _names(get_recent_signals(limit=2, session_factory=session_factory), uids) == ["s1", "s2"]
    assert _names(get_recent_signals(hours=4, now=NOW, session_factory=session_factory), uids) == [
        "s1",
        "s2",
        "s3",
    ]
    assert _names(get_recent_signals("BANKNIFTY", session_factory=session_factory), uids) == ["s5", "s4"]


HISTORY_CASES = [
    (SignalFilter(engines=("liquidity",)), ["s1", "s2", "s3"]),
    (SignalFilter(symbols=("BANKNIFTY",), direction="UP"), ["s5", "s4"]),
    (SignalFilter(direction="DOWN"), ["s3"]),
    (SignalFilter(min_confidence=0.7), ["s1", "s5", "s4"]),
    (SignalFilter(signals=("SWEEP_UP", "BULLISH")), ["s1", "s2", "s4"]),
    (
        SignalFilter(start=NOW - timedelta(hours=4), end=NOW - timedelta(hours=1, minutes=30)),
        ["s2", "s3"],
    ),
    (SignalFilter(outcome="CORRECT", horizon_s=900), ["s2"]),
    (SignalFilter(outcome="WRONG"), ["s1", "s5"]),
    (SignalFilter(outcome="PENDING", horizon_s=900), ["s3", "s5", "s4"]),
]


def test_history_filters(session_factory, uids) -> None:
    # One database for every case: creating a PostgreSQL database per case would dominate the run.
    for flt, expected in HISTORY_CASES:
        rows, total = query_signals(flt, page=1, page_size=50, session_factory=session_factory)
        assert (_names(rows, uids), total) == (expected, len(expected)), flt


def test_history_pages_and_outcome_columns(session_factory, uids) -> None:
    flt = SignalFilter(engines=("liquidity",), horizon_s=900)
    page1, total = query_signals(flt, page=1, page_size=2, session_factory=session_factory)
    page2, _ = query_signals(flt, page=2, page_size=2, session_factory=session_factory)
    assert total == 3 and _names(page1, uids) == ["s1", "s2"] and _names(page2, uids) == ["s3"]
    assert [(r["outcome"], r["move_pct"]) for r in page1 + page2] == [
        ("WRONG", -0.1),
        ("CORRECT", 0.4),
        (None, None),
    ]


def test_csv_export_streams_every_matching_row_safely(session_factory, uids) -> None:
    chunks = list(
        iter_signals_csv(SignalFilter(symbols=("NIFTY",)), session_factory=session_factory, chunk_rows=2)
    )
    assert len(chunks) == 3  # header, then rows in chunks of two
    lines = "".join(chunks).splitlines()
    assert lines[0].startswith("signal_uid,timestamp,symbol")
    assert len(lines) == 4 and all(
        uids[n] in line for n, line in zip(["s1", "s2", "s3"], lines[1:], strict=True)
    )
    assert "'=HYPERLINK(1); ok" in lines[1]  # a formula-looking cell is neutralised for spreadsheets


def test_counts_per_ist_day_and_engine(session_factory) -> None:
    late_utc = datetime(2026, 11, 18, 18, 45, tzinfo=UTC)  # 00:15 IST on the 19th
    with session_factory() as session, session.begin():
        for ts, engine in [
            (late_utc, "liquidity"),
            (late_utc - timedelta(hours=1), "liquidity"),
            (NOW, "liquidity"),
            (NOW, "smart_money"),
        ]:
            session.add(AiSignalLog.from_signal(make_signal(ts=to_epoch(ts), engine=engine)))
    rows = signals_per_day(SignalFilter(), session_factory=session_factory)
    assert [(str(r["day"]), r["engine"], r["count"]) for r in rows] == [
        ("2026-11-18", "liquidity", 1),
        ("2026-11-19", "liquidity", 2),
        ("2026-11-19", "smart_money", 1),
    ]


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (SignalFilter(start=NOW, end=NOW - timedelta(days=1)), "is after end"),
        (SignalFilter(start=datetime(2026, 1, 1)), "timezone-aware"),
        (SignalFilter(symbols="NIFTY"), "must be a list of names"),  # type: ignore[arg-type]
        (SignalFilter(engines=("",)), "letters, digits and underscores"),
        (SignalFilter(signals=("DROP TABLE;--",)), "letters, digits and underscores"),
        (SignalFilter(signals=tuple(f"S{i}" for i in range(201))), "at most 200"),
        (SignalFilter(direction="SIDEWAYS"), "direction must be one of UP, DOWN, NONE"),
        (SignalFilter(min_confidence=1.5), "min_confidence must be a number from 0 to 1"),
        (SignalFilter(outcome="WIN"), "outcome must be one of"),
        (SignalFilter(horizon_s=-5), "horizon_s must be a positive"),
    ],
)
def test_invalid_filters_are_refused_with_a_clear_message(flt, message) -> None:
    with pytest.raises(ValueError, match=message):
        flt.validate()


def test_invalid_paging_is_refused(session_factory) -> None:
    with pytest.raises(ValueError, match="page must be"):
        query_signals(SignalFilter(), page=0, session_factory=session_factory)
    with pytest.raises(ValueError, match="page_size must be between 1 and 1000"):
        query_signals(SignalFilter(), page_size=5000, session_factory=session_factory)


def test_user_text_is_bound_not_spliced_into_sql(session_factory, uids) -> None:
    evil = SignalFilter(symbols=("NIFTY'; DROP TABLE ai_signal_logs; --",))
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        query_signals(evil, session_factory=session_factory)
    sql = str(_history_select(SignalFilter(symbols=("NIFTY",), signals=("SWEEP_UP",), min_confidence=0.5)))
    assert "NIFTY" not in sql and "SWEEP_UP" not in sql and "0.5" not in sql  # all bound parameters
    with session_factory() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(AiSignalLog)).scalar_one() == 5
