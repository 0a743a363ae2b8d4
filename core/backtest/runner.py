"""`python -m core backtest`: replay recordings into a database, score them, report the scorecard.

One backtest invocation has one label (`--label`, default the UTC start time) and stores every
recording as its own run (`run_id` per file, `source` = backtest:<label>), so outcomes are scored
within one session's price path. Scoring is the learning code's own pass (`run_pass`, the one
`python -m core evaluate` runs), then core.backtest.scorecard reads the runs' rows back.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.backtest.scorecard import build_scorecard
from core.backtest.sessions import STAGES, SessionRun, recording_files, replay_session
from core.config import Config, load_config, mask_url, validate_database_url
from core.errors import ConfigError
from core.learning.evaluator import run_pass
from core.storage.database import SessionLocal, configure_database, prepare_database
from core.storage.runs import backtest_source, new_run_id


def default_label() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def run_backtest(
    paths: Sequence[str | Path],
    db_url: str,
    *,
    label: str | None = None,
    base: Config | None = None,
    progress: bool = True,
    chain_snapshots: bool = False,
    jobs: int = 1,
) -> dict[str, Any]:
    """Replay every recording of `paths` into `db_url` (`jobs` recordings at a time, each in its
    own process), score the runs, return the scorecard with totals (`files`, `ticks` = option-leg
    ticks, `wall_s`, `ticks_per_s`) and per-file runs."""
    files = recording_files(paths)
    url = validate_database_url(db_url)
    base = replace(base or load_config(), database_url=url)
    label = label or default_label()
    source = backtest_source(label)
    prepare_database(url)
    started, cpu_started = time.perf_counter(), _cpu_s()
    runs = _replay_all(files, base, source, progress, chain_snapshots, jobs)
    replayed, replay_cpu = time.perf_counter(), _cpu_s() - cpu_started
    engine = configure_database(url)  # the last runtime's engine was disposed when it stopped
    try:
        scoring = run_pass(SessionLocal, progress=progress)
        with SessionLocal() as session:
            card = build_scorecard(session, [r.run_id for r in runs])
    finally:
        engine.dispose()
    done = time.perf_counter()
    legs = sum(r.leg_ticks for r in runs)
    return {
        "label": label,
        "source": source,
        "database": mask_url(url),
        "files": len(runs),
        "jobs": jobs,
        "ticks": legs,
        "items": sum(r.items for r in runs),
        "signals": sum(r.signals for r in runs),
        "replay_wall_s": round(replayed - started, 3),
        "replay_cpu_s": round(replay_cpu, 3),
        "stage_cpu_s": {s: round(sum(r.stage_cpu_s[s] for r in runs), 3) for s in STAGES},
        "scoring_wall_s": round(done - replayed, 3),
        "wall_s": round(done - started, 3),
        "ticks_per_s": round(legs / (replayed - started)) if replayed > started else None,
        "ticks_per_s_with_scoring": round(legs / (done - started)) if done > started else None,
        "outcomes_written": scoring.get("outcomes_written", 0),
        **card,
        "runs": [r.as_dict() for r in runs],
    }


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished worker processes (user + system)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _replay_all(
    files: list[Path], base: Config, source: str, progress: bool, chain_snapshots: bool, jobs: int
) -> list[SessionRun]:
    """Every recording replayed as its own run, in order; with jobs > 1 in worker processes (a
    session is bound by one interpreter's GIL, so sessions scale only across processes), with one
    bar over the files instead of one per file."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if jobs == 1 or len(files) == 1:
        return [replay_session(p, base, new_run_id(), source, progress=progress,
                               chain_snapshots=chain_snapshots) for p in files]  # fmt: skip
    context = multiprocessing.get_context("spawn")  # no inherited engines, threads or locks
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        # The largest recordings first, so one long session does not start last and run alone.
        largest_first = sorted(range(len(files)), key=lambda i: files[i].stat().st_size, reverse=True)
        futures = {i: pool.submit(replay_session, files[i], base, new_run_id(), source, progress=False,
                                  chain_snapshots=chain_snapshots) for i in largest_first}  # fmt: skip
        with tqdm(total=len(files), unit=" file", file=sys.stderr, disable=not progress) as bar:
            for future in as_completed(futures.values()):
                bar.update(1)
                if future.exception() is None:
                    run = future.result()
                    bar.write(
                        f"{run.path.name}: {run.leg_ticks} legs, {run.signals} signals", file=sys.stderr
                    )
        return [futures[i].result() for i in range(len(files))]


def write_json(result: dict[str, Any], out: str | Path) -> None:
    """The result as JSON (NaN and infinities as null, so any JSON reader accepts it)."""
    Path(out).write_text(json.dumps(_finite(result), indent=2) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


SCORECARD_HEADER = (
    f"{'engine':<22}{'signal':<20}{'h':>4}{'signals':>8}{'/s-h':>7}{'decided':>8}{'hit%':>7}"
    f"{'95% CI':>14}{'base%':>7}{'brier':>7}  reliability (conf bin: n, mean conf, hit %)"
)


def format_scorecard(result: dict[str, Any]) -> str:
    """The scorecard as a fixed-width text table (what the CLI prints)."""
    lines = [
        f"backtest {result['label']}: {result['files']} files, {result['sessions']} sessions, "
        f"{result['session_hours']:.1f} session-hours, {result['ticks']} leg ticks in "
        f"{result['replay_wall_s']:.1f} s ({result['ticks_per_s'] or 0} ticks/s), "
        f"{result['signals']} signals; h = horizon in minutes, /s-h = signals per session-hour",
        SCORECARD_HEADER,
    ]
    for row in result["engines"]:
        ci = "-" if row["ci_low"] is None else f"{_pct(row['ci_low'])}-{_pct(row['ci_high'])}"
        bins = "  ".join(
            f"{b['lo']:.1f}-{b['hi']:.1f}: {b['count']}, {_num(b['mean_confidence'], '.2f')}, {_pct(b['hit_rate'])}"
            for b in row["reliability"]
            if b["count"]
        )
        lines.append(
            f"{row['engine']:<22}{row['signal']:<20}{row['horizon_s'] // 60:>4}{row['signals']:>8}"
            f"{_num(row['signals_per_session_hour'], '.2f'):>7}{row['decided']:>8}{_pct(row['hit_rate']):>7}"
            f"{ci:>14}{_pct(row['baseline']):>7}{_num(row['brier']):>7}  {bins}"
        )
    lines.append(
        "baselines per horizon (windows from every stored snapshot; up/down exclude the neutral band):"
    )
    for horizon, b in result["baselines"].items():
        lines.append(
            f"  {int(horizon) // 60:>3} min: up {b['up']}, down {b['down']}, flat {b['flat']} -> directional "
            f"{_pct(b['directional_baseline'])} %; range held {b['range_held']} of "
            f"{b['range_held'] + b['range_broke']} -> range {_pct(b['range_baseline'])} %"
        )
    return "\n".join(lines)
