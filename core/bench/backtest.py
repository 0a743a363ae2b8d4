"""The `backtest` benchmark: end-to-end option-leg ticks per second of `python -m core backtest`.

Measured over the real NSE corpus when it is beside the repository (../shared/data/real/sessions,
every session), otherwise over the committed synthetic recording (tests/data, made by the
simulator); `corpus` says which. One whole backtest into a fresh database: decode, runtime (state,
metrics, engines), the logger's writes, then scoring and the scorecard, timed apart. Wall time
depends on what else the machine runs, so CPU seconds and the load average are reported beside it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.bench.common import scratch_sqlite
from core.config import PROJECT_ROOT, load_config

SYNTHETIC_RECORDING = PROJECT_ROOT / "tests" / "data" / "synthetic_backtest_NIFTY.jsonl.gz"
REAL_SESSIONS = PROJECT_ROOT.parent / "shared" / "data" / "real" / "sessions"
TARGET_TICKS_PER_S = 100_000


def _per_s(count: int, seconds: float) -> int | None:
    return round(count / seconds) if seconds > 0 else None


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 3) if whole > 0 else None


def corpus(real_sessions: Path = REAL_SESSIONS) -> tuple[str, list[Path]]:
    """("real", the real recordings) when there are any at `real_sessions`, else ("synthetic", [the
    committed synthetic recording])."""
    real = sorted(real_sessions.glob("*.jsonl.gz")) if real_sessions.is_dir() else []
    return ("real", real) if real else ("synthetic", [SYNTHETIC_RECORDING])


def bench_backtest(
    db: str | None = None, real_sessions: Path = REAL_SESSIONS, jobs: int = 1
) -> dict[str, Any]:
    """One backtest of the corpus (`jobs` recordings at a time). `db` None: a throwaway SQLite file."""
    from core.backtest.runner import run_backtest

    name, paths = corpus(real_sessions)
    load_before = os.getloadavg()[0]
    result = run_backtest(paths, db or scratch_sqlite("backtest"), label="bench", base=load_config(),
                          progress=False, jobs=jobs)  # fmt: skip
    legs, seconds, cpu = result["ticks"], result["replay_wall_s"], result["replay_cpu_s"]
    return {
        "corpus": name,
        "corpus_path": str(real_sessions if name == "real" else SYNTHETIC_RECORDING),
        "target_leg_ticks_per_s": TARGET_TICKS_PER_S,
        "jobs": jobs,
        "files": result["files"],
        "leg_ticks": legs,
        "signals": result["signals"],
        "seconds": seconds,
        "cpu_seconds": cpu,
        "leg_ticks_per_s": _per_s(legs, seconds),
        "leg_ticks_per_cpu_s": _per_s(legs, cpu),
        # decode / runtime (state, metrics, engines) / writes; other: per-session setup and teardown
        "cpu_share": {
            **{stage: _share(s, cpu) for stage, s in result["stage_cpu_s"].items()},
            "other": _share(cpu - sum(result["stage_cpu_s"].values()), cpu),
        },
        "scoring_seconds": result["scoring_wall_s"],
        "leg_ticks_per_s_with_scoring": result["ticks_per_s_with_scoring"],
        "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "cpus": os.cpu_count(),
        "per_session": {
            r["file"]: {
                k: r[k] for k in ("leg_ticks", "wall_s", "cpu_s", "stage_cpu_s", "leg_ticks_per_s", "signals")
            }
            for r in result["runs"]
        },
    }


def run(db: str | None) -> dict[str, Any]:
    """One process, then (on a multi-core machine) one recording per core at a time: a year of
    recordings is scored with every core, so that is the end-to-end figure that counts."""
    report = bench_backtest(db)
    cores = os.cpu_count() or 1
    if cores > 1 and report["files"] > 1:
        parallel = bench_backtest(db, jobs=cores)
        keep = ("jobs", "seconds", "cpu_seconds", "leg_ticks_per_s", "load_average_1m")
        report["all_cores"] = {key: parallel[key] for key in keep}
    return report
