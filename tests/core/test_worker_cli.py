"""The headless worker and the CLI, end to end on the simulator, as an operator would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from core.storage.database import head_revision, make_engine


def cli(*args: str, timeout: float = 180, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def count(url: str, table: str) -> int:
    engine = make_engine(url)  # names the driver StrikeIQ ships (plain create_engine would pick psycopg 3)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def test_worker_runs_simulator_into_database(db_url):
    if not db_url.startswith("sqlite"):
        assert cli("db", "upgrade", "--db", db_url).returncode == 0
    # The demo opens with a flush through support (signals within a simulated minute); a short
    # warm-up (delivered unpaced) leaves most of the ten wall seconds for the script at 30x.
    result = cli(
        "worker", "--feed", "sim", "--symbols", "NIFTY,BANKNIFTY", "--scenario", "demo", "--speed", "30",
        "--duration", "10", "--db", db_url, env={"STRIKEIQ_SIM_WARMUP_S": "60"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["mode"] == "SIMULATED"
    assert summary["ticks"] > 1000
    assert summary["metrics_cycles"] > 100 and summary["cycle_failures"] == 0
    assert summary["rejected_frames"] == 0
    assert summary["flushed"] is True
    assert summary["signals"] == summary["signals_written"] > 0
    assert count(db_url, "market_snapshots") >= summary["snapshots"] > 10
    assert count(db_url, "option_chain_snapshots") > 0
    assert count(db_url, "ai_signal_logs") == summary["signals"]


def test_postgres_worker_refuses_an_unmigrated_database(pg_url):
    result = cli("worker", "--duration", "1", "--db", pg_url)
    assert result.returncode == 2
    assert "python -m core db upgrade" in result.stderr


def test_db_upgrade_and_current(sqlite_url):
    up = cli("db", "upgrade", "--db", sqlite_url)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["current"] == head_revision()
    down = cli("db", "downgrade", "--db", sqlite_url)
    assert json.loads(down.stdout)["current"] is None


@pytest.mark.parametrize(
    "command", ["worker", "simulate", "record", "replay", "db", "evaluate", "bench", "export"]
)
def test_every_command_has_help(command):
    result = cli(command, "--help", timeout=60)
    assert result.returncode == 0
    assert "usage: python -m core" in result.stdout


def test_bad_configuration_fails_with_a_fix(sqlite_url):
    result = cli("worker", "--feed", "carrier-pigeon", "--db", sqlite_url)
    assert result.returncode == 2
    assert "use sim, ws://HOST:PORT" in result.stderr
