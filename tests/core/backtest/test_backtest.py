"""`python -m core backtest` end to end: a recording replayed into SQLite and PostgreSQL, scored by
the learning code, and a scorecard whose numbers match an independent computation from the stored
rows; the real NSE recordings when they are present."""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from core.__main__ import main
from core.backtest.runner import run_backtest, write_json
from core.backtest.sessions import recording_files, recording_symbols
from core.clock import to_epoch
from core.config import load_config
from core.feed.base import FeedStats
from core.feed.replay import ReplayFeed, iter_batches
from core.learning.outcomes import NEUTRAL_BAND_PCT
from core.runtime import Runtime
from core.storage.database import make_engine, upgrade
from core.storage.models import MarketSnapshot
from tests.core.backtest.synthetic import SYNTHETIC_RECORDING

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real" / "sessions"  # beside the repo
REAL_SMALL = ("NIFTY_2026-01-27_kite.jsonl.gz", "BANKNIFTY_2019-05-24_nse-page-2019.jsonl.gz")
Z = 1.959963984540054
ROW_KEYS = {"engine", "signal", "horizon_s", "signals", "decided", "hit_rate", "ci_low", "ci_high", "baseline",
            "brier", "reliability", "sessions", "session_hours", "signals_per_session_hour"}  # fmt: skip


def needs_real() -> None:
    if not REAL.is_dir():
        pytest.skip(f"real NSE recordings not found at {REAL}")


def leg_ticks_in(path: Path) -> int:
    with gzip.open(path, "rt") as fh:
        return sum(1 for line in fh if (o := json.loads(line)).get("type") == "tick" and o.get("right"))


def backtest(url: str, tmp_path: Path, *paths: Path, label: str = "test") -> dict:
    base = load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path)})
    return run_backtest(paths or (SYNTHETIC_RECORDING,), url, label=label, base=base, progress=False)


def stored(url: str, sql: str | sa.Select, **params) -> list[tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stmt = sa.text(sql) if isinstance(sql, str) else sql
            return [tuple(r) for r in conn.execute(stmt, params)]
    finally:
        engine.dispose()


def wilson(k: int, n: int) -> tuple[float, float]:
    p, denom = k / n, 1 + Z * Z / n
    centre, half = (p + Z * Z / (2 * n)) / denom, Z / denom * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def expected_rows(url: str, run_id: str) -> dict[tuple, dict]:
    """Per (engine, signal, horizon): hit rate, Wilson interval and Brier straight from the rows."""
    rows = stored(
        url,
        "SELECT s.engine, s.signal, o.horizon_s, o.outcome, s.confidence FROM ai_signal_logs s "
        "JOIN signal_outcomes o ON o.signal_id = s.id WHERE s.run_id = :run AND o.outcome <> 'NEUTRAL'",
        run=run_id,
    )
    groups: dict[tuple, list[tuple[bool, float]]] = {}
    for engine, signal, horizon, outcome, confidence in rows:
        groups.setdefault((engine, signal, horizon), []).append((outcome == "CORRECT", confidence))
    out = {}
    for key, calls in groups.items():
        k, n = sum(hit for hit, _ in calls), len(calls)
        low, high = wilson(k, n)
        brier = sum((c - hit) ** 2 for hit, c in calls) / n
        out[key] = {"decided": n, "hit_rate": k / n, "ci_low": low, "ci_high": high, "brier": brier}
    return out


def directional_baseline(url: str, run_id: str, horizon: int) -> float | None:
    """Majority-direction hit rate over every snapshot window, as of the window's end, computed here
    without the learning code: up/down beyond the horizon's neutral band, windows inside the session."""
    M = MarketSnapshot
    rows = stored(url, sa.select(M.ts, M.spot).where(M.run_id == run_id).order_by(M.ts))
    ts = np.array([to_epoch(r[0]) for r in rows])
    spot = np.array([r[1] for r in rows])
    band = NEUTRAL_BAND_PCT[horizon]
    moves = Counter()
    for i in range(len(ts)):
        end = ts[i] + horizon
        inside = np.flatnonzero((ts > ts[i]) & (ts <= end))
        if end > ts[-1] or not len(inside):
            continue
        move = (spot[inside[-1]] / spot[i] - 1.0) * 100.0
        moves["up" if move > band else "down" if move < -band else "flat"] += 1
    decided = moves["up"] + moves["down"]
    return max(moves["up"], moves["down"]) / decided if decided else None


@pytest.fixture
def synthetic_result(db_url, tmp_path) -> tuple[str, dict]:
    if not db_url.startswith("sqlite"):
        upgrade(db_url)  # PostgreSQL is migrated by `db upgrade`, never by a backtest
    return db_url, backtest(db_url, tmp_path)


def test_backtest_totals_and_runs(synthetic_result):
    _, result = synthetic_result
    assert result["files"] == 1 and result["sessions"] == 1
    assert result["ticks"] == leg_ticks_in(SYNTHETIC_RECORDING) > 4000
    assert result["ticks_per_s"] > 0 and result["wall_s"] > 0
    assert result["signals"] > 10 and result["outcomes_written"] > 0
    assert 1.0 < result["session_hours"] < 1.1  # 65 simulated minutes, one snapshot every 30 s
    [run] = result["runs"]
    assert run["symbols"] == ["NIFTY"] and run["rejected_lines"] == 0 and run["cycle_failures"] == 0


def test_every_stored_row_names_the_backtest_run(synthetic_result):
    url, result = synthetic_result
    [run] = result["runs"]
    for table in ("ai_signal_logs", "market_snapshots", "predictions", "smart_money_predictions"):
        assert stored(url, f"SELECT DISTINCT run_id, source FROM {table}") == [
            (run["run_id"], "backtest:test")
        ]
    # Chain snapshots are off unless asked for: only the session's first cycle writes one.
    assert stored(url, "SELECT count(DISTINCT market_snapshot_id) FROM option_chain_snapshots") == [(1,)]


def test_scorecard_matches_an_independent_computation(synthetic_result):
    url, result = synthetic_result
    [run] = result["runs"]
    expected = expected_rows(url, run["run_id"])
    rows = {(r["engine"], r["signal"], r["horizon_s"]): r for r in result["engines"]}
    assert {key for key, row in rows.items() if row["decided"]} == set(expected)
    for key, want in expected.items():
        got = rows[key]
        assert got["decided"] == want["decided"]
        for name in ("hit_rate", "ci_low", "ci_high", "brier"):
            assert got[name] == pytest.approx(want[name], abs=1e-9), (key, name)
    signals = Counter((e, s) for e, s in stored(url, "SELECT engine, signal FROM ai_signal_logs"))
    assert {(r["engine"], r["signal"]): r["signals"] for r in result["engines"]} == dict(signals)
    for horizon in (300, 900, 1800):
        baseline = directional_baseline(url, run["run_id"], horizon)
        assert result["baselines"][str(horizon)]["directional_baseline"] == pytest.approx(baseline)
        for row in result["engines"]:
            if row["horizon_s"] == horizon and row["kind"] == "direction":
                assert row["baseline"] == pytest.approx(baseline)


def test_json_has_the_documented_keys(synthetic_result, tmp_path):
    _, result = synthetic_result
    out = tmp_path / "card.json"
    write_json(result, out)
    doc = json.loads(out.read_text())
    assert {"files", "ticks", "wall_s", "ticks_per_s", "sessions", "session_hours", "engines"} <= set(doc)
    assert doc["engines"] and all(set(row) >= ROW_KEYS for row in doc["engines"])
    assert all(len(row["reliability"]) == 5 for row in doc["engines"])
    assert {row["horizon_s"] for row in doc["engines"]} == {300, 900, 1800}


def test_cli_prints_the_scorecard_and_writes_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STRIKEIQ_DATA_DIR", str(tmp_path))
    url, out = f"sqlite:///{tmp_path / 'bt.db'}", tmp_path / "card.json"
    code = main(["backtest", str(SYNTHETIC_RECORDING.parent), "--db", url, "--json", str(out), "--quiet",
                 "--label", "cli"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    n = len(list(SYNTHETIC_RECORDING.parent.glob("*.jsonl.gz")))  # a directory: every recording in it
    assert printed.startswith(f"backtest cli: {n} files, {n} sessions") and "95% CI" in printed
    assert json.loads(out.read_text())["source"] == "backtest:cli"


def test_recordings_of_a_directory_and_their_symbols(tmp_path):
    assert recording_files([SYNTHETIC_RECORDING.parent]) == sorted(
        SYNTHETIC_RECORDING.parent.glob("*.jsonl.gz")
    )
    assert recording_symbols(SYNTHETIC_RECORDING) == ("NIFTY",)
    plain = tmp_path / "BANKNIFTY_2026-01-01_x.jsonl"
    plain.write_text('{"type":"tick","symbol":"BANKNIFTY","ts":1767240000000,"ltp":50000}\n')
    assert recording_symbols(plain) == ("BANKNIFTY",)


def test_default_expiry_only_gives_the_same_signals(tmp_path):
    """What a backtest switches off (metrics of the other expiries, for the UI) changes no signal."""
    needs_real()
    path = REAL / "NIFTY_2019-05-24_nse-page-2019.jsonl.gz"  # four listed expiries
    base = load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path)})
    config = replace(
        base, feed=replace(base.feed, symbols=("NIFTY",)), database_url=f"sqlite:///{tmp_path}/x.db"
    )

    def signals(all_expiries: bool) -> list[tuple]:
        runtime = Runtime(config, ReplayFeed(path, 0.0), all_expiries=all_expiries)
        for batch in iter_batches(path, FeedStats()):
            runtime.on_items(batch)
        assert len(runtime.view("NIFTY").metrics) == (4 if all_expiries else 1)
        return sorted(
            (s.ts, s.engine, s.signal, s.direction, s.raw_score) for s in runtime.bus.signals(limit=10_000)
        )

    assert signals(False) == signals(True)


def test_real_sessions_one_run_each(tmp_path):
    needs_real()
    url = f"sqlite:///{tmp_path / 'real.db'}"
    result = backtest(url, tmp_path, *(REAL / name for name in REAL_SMALL), label="real")
    assert result["files"] == 2 and result["sessions"] == 2
    assert len({r["run_id"] for r in result["runs"]}) == 2
    assert result["ticks"] == sum(leg_ticks_in(REAL / name) for name in REAL_SMALL)
    assert result["outcomes_written"] > 0 and any(r["decided"] for r in result["engines"])
    for run in result["runs"]:
        symbol = run["symbols"][0]
        assert stored(
            url, "SELECT DISTINCT symbol FROM market_snapshots WHERE run_id = :r", r=run["run_id"]
        ) == [(symbol,)]


@pytest.mark.slow
def test_parallel_jobs_store_one_run_per_recording(tmp_path, sqlite_url):
    """The same recording twice, two processes: two runs over the same event times, each scored on
    its own prices, so every count doubles and every rate stays what one run gives."""
    copies = []
    for name in ("a", "b"):
        copy = tmp_path / f"NIFTY_{name}.jsonl.gz"
        copy.write_bytes(SYNTHETIC_RECORDING.read_bytes())
        copies.append(copy)
    base = load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path)})
    both = run_backtest(copies, sqlite_url, label="jobs", base=base, progress=False, jobs=2)
    one = backtest(f"sqlite:///{tmp_path / 'one.db'}", tmp_path)
    assert [r["file"] for r in both["runs"]] == ["NIFTY_a.jsonl.gz", "NIFTY_b.jsonl.gz"]
    assert both["sessions"] == 2 and both["ticks"] == 2 * one["ticks"]
    pairs = zip(both["engines"], one["engines"], strict=True)
    assert all(a["decided"] == 2 * b["decided"] and a["hit_rate"] == b["hit_rate"] for a, b in pairs)
