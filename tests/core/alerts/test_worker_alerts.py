"""The headless worker with --alert-webhook and a rules file, end to end on a replayed session."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from tests.core.alerts.servers import loopback
from tests.core.test_worker_cli import cli

TOKEN = "987:worker-token"
# A synthetic NIFTY session that replays in seconds and signals from several engines.
RECORDING = Path(__file__).resolve().parents[2] / "data" / "synthetic_backtest_NIFTY.jsonl.gz"


def _rows(url: str, sql: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql)))
    finally:
        engine.dispose()


def test_worker_posts_every_signal_above_the_floor_and_telegrams_file_rules(tmp_path, sqlite_url):
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "any sweep"\nkind = "signal"\nengines = ["LiquidityEngine"]\n'
                     'channels = ["telegram"]\ncooldown_s = 0\n')  # fmt: skip
    with loopback() as hook, loopback(token=TOKEN) as telegram:
        result = cli(
            "worker", "--feed", f"replay:{RECORDING}", "--speed", "0", "--symbols", "NIFTY",
            "--db", sqlite_url, "--alert-webhook", hook.url + "/strikeiq",
            "--alert-min-confidence", "0.5", "--alert-rules", str(rules),
            env={"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "42", "STRIKEIQ_TELEGRAM_API": telegram.url},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    summary = json.loads(result.stdout)
    alerts = summary["alerts"]
    assert alerts["failed"] == alerts["dropped"] == 0
    assert alerts["sent"] == len(hook.requests) + len(telegram.requests) > 0
    stored = _rows(sqlite_url, "SELECT signal_uid, confidence FROM ai_signal_logs")
    expected = {uid for uid, conf in stored if conf >= 0.5}
    assert {body["signal_id"] for body in hook.requests} == expected and expected
    for body in hook.requests:
        assert {
            "symbol",
            "ts",
            "engine",
            "signal",
            "direction",
            "confidence",
            "spot_price",
            "reasons",
        } <= set(body)
        assert datetime.fromisoformat(body["ts"]).utcoffset() is not None
        assert body["confidence"] >= 0.5 and body["symbol"] in ("NIFTY", "BANKNIFTY")
    sweeps = [
        uid
        for (uid,) in _rows(
            sqlite_url, "SELECT signal_uid FROM ai_signal_logs WHERE engine = 'LiquidityEngine'"
        )
    ]
    assert len(telegram.requests) == len(sweeps) > 0
    assert all(r["chat_id"] == "42" and "LiquidityEngine" in r["text"] for r in telegram.requests)
    assert _rows(sqlite_url, "SELECT count(*) FROM alert_events")[0][0] == alerts["fired"]
