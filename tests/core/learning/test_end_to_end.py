"""End to end through the CLI: a recorded simulated session into SQLite, then `python -m core evaluate` leaves
an outcome for every evaluable signal and experience rows with success rates in [0, 1]."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.storage.database import make_engine

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow

# Directional signals whose 5-minute horizon ends inside the recording must all have that outcome.
MISSING_5M = """
SELECT count(*) FROM ai_signal_logs s
WHERE s.direction != 'NONE' AND s.spot_price > 0
  AND s.timestamp <= datetime((SELECT max(ts) FROM market_snapshots), '-305 seconds')
  AND NOT EXISTS (SELECT 1 FROM signal_outcomes o WHERE o.signal_id = s.id AND o.horizon_s = 300)
"""


def cli(*args: str, timeout: float = 240) -> dict:
    env = {**os.environ, "STRIKEIQ_DATA_DIR": str(Path(args[-1].split("///", 1)[1]).parent)}
    done = subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_worker_then_evaluate(tmp_path):
    url = f"sqlite:///{(tmp_path / 'e2e.db').as_posix()}"
    # The simulator's session as recorded (tests/data), replayed as fast as the machine goes: a
    # paced live simulation covers less market the busier the machine, and may end before any
    # signal's 5-minute horizon does.
    recording = ROOT / "tests" / "data" / "synthetic_backtest_NIFTY.jsonl.gz"
    run = cli(
        "worker", "--feed", f"replay:{recording}", "--symbols", "NIFTY", "--speed", "0",
        "--duration", "200", "--db", url,
    )  # fmt: skip
    assert run["signals_written"] > 0 and run["flushed"]
    first = cli("evaluate", "--quiet", "--db", url)
    second = cli("evaluate", "--quiet", "--db", url)
    assert second["outcomes_written"] == 0 and second["experience_rows"] == 0  # nothing left to do
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text(MISSING_5M)).scalar() == 0
            outcomes = conn.execute(sa.text("SELECT count(*) FROM signal_outcomes")).scalar()
            rates = conn.execute(
                sa.text("SELECT success_rate, adjusted_confidence FROM formula_experience")
            ).all()
    finally:
        engine.dispose()
    assert outcomes > 0 and first["signals_checked"] >= 0
    assert rates and all(r is None or 0.0 <= r <= 1.0 for row in rates for r in row)
