"""The backtest benchmark: the real corpus when it is there, else the committed synthetic recording,
and JSON that says which, with wall and CPU figures per corpus and per session (never asserted on)."""

from __future__ import annotations

from pathlib import Path

from core.bench.backtest import SYNTHETIC_RECORDING, bench_backtest, corpus


def test_the_corpus_is_the_real_sessions_when_present_else_the_synthetic_recording(tmp_path: Path) -> None:
    assert corpus(tmp_path / "missing") == ("synthetic", [SYNTHETIC_RECORDING])
    assert corpus(tmp_path) == ("synthetic", [SYNTHETIC_RECORDING])  # a directory without recordings
    real = tmp_path / "NIFTY_2026-08-18_x.jsonl.gz"
    real.write_bytes(SYNTHETIC_RECORDING.read_bytes())
    assert corpus(tmp_path) == ("real", [real])


def test_the_benchmark_replays_the_synthetic_recording_and_reports_per_session(tmp_path: Path) -> None:
    out = bench_backtest(f"sqlite:///{tmp_path / 'bench.db'}", real_sessions=tmp_path / "missing")
    assert out["corpus"] == "synthetic" and out["corpus_path"] == str(SYNTHETIC_RECORDING)
    assert out["files"] == 1 and out["leg_ticks"] > 1000 and out["signals"] > 0
    assert out["seconds"] > 0 and out["cpu_seconds"] > 0
    assert out["leg_ticks_per_s"] == round(out["leg_ticks"] / out["seconds"])
    assert out["leg_ticks_per_cpu_s"] == round(out["leg_ticks"] / out["cpu_seconds"])
    session = out["per_session"][SYNTHETIC_RECORDING.name]
    assert session["leg_ticks"] == out["leg_ticks"] and session["signals"] == out["signals"]
    assert set(out["load_average_1m"]) == {"before", "after"}
    assert set(out["cpu_share"]) == {"decode", "runtime", "writes", "other"}
    assert set(session["stage_cpu_s"]) == {"decode", "runtime", "writes"}
    assert out["cpu_share"]["runtime"] > 0 and out["cpu_share"]["decode"] > 0
