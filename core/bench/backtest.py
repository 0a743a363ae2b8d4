"""The `backtest` benchmark: end-to-end option-leg ticks per second of `python -m core backtest`.

Measured over the committed synthetic recording (tests/data, made by the simulator) and, when it is
beside the repository, over the real NSE corpus (../shared/data/real/sessions, every session). Each
is a whole backtest into a fresh database: decode, runtime (state, metrics, engines), the logger
draining into the database, then scoring and the scorecard, timed apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.bench.common import scratch_sqlite
from core.config import PROJECT_ROOT, load_config

SYNTHETIC_RECORDING = PROJECT_ROOT / "tests" / "data" / "synthetic_backtest_NIFTY.jsonl.gz"
REAL_SESSIONS = PROJECT_ROOT.parent / "shared" / "data" / "real" / "sessions"
TARGET_TICKS_PER_S = 100_000


def _measure(paths: list[Path], db: str | None) -> dict[str, Any]:
    from core.backtest.runner import run_backtest

    url = db or scratch_sqlite("backtest")
    result = run_backtest(paths, url, label="bench", base=load_config(), progress=False)
    return {
        "files": result["files"],
        "leg_ticks": result["ticks"],
        "signals": result["signals"],
        "replay_wall_s": result["replay_wall_s"],
        "scoring_wall_s": result["scoring_wall_s"],
        "ticks_per_s": result["ticks_per_s"],
        "ticks_per_s_with_scoring": result["ticks_per_s_with_scoring"],
        "per_file_ticks_per_s": {r["file"]: r["leg_ticks_per_s"] for r in result["runs"]},
    }


def bench_backtest(db: str | None = None, real_sessions: Path = REAL_SESSIONS) -> dict[str, Any]:
    """Ticks per second over the synthetic recording and the real corpus (skipped with a reason when
    a recording is missing). `db` None: a throwaway SQLite file per measurement."""
    out: dict[str, Any] = {"target_ticks_per_s": TARGET_TICKS_PER_S}
    if SYNTHETIC_RECORDING.is_file():
        out["synthetic"] = _measure([SYNTHETIC_RECORDING], db)
    else:
        out["synthetic"] = {"skipped": f"{SYNTHETIC_RECORDING} not found (a source checkout has it)"}
    real = sorted(real_sessions.glob("*.jsonl.gz")) if real_sessions.is_dir() else []
    if real:
        out["real_corpus"] = _measure(real, db)
    else:
        out["real_corpus"] = {"skipped": f"no real recordings at {real_sessions}"}
    return out


def run(db: str | None) -> dict[str, Any]:
    return bench_backtest(db)
