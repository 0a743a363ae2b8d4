"""Command line: `python -m core worker|simulate|record|replay|backtest|db|evaluate|bench|export|login|instruments`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.alerts.config import alert_args, alert_overrides
from core.bench import TARGETS
from core.config import Config, load_config, parse_feed, parse_symbols, validate_database_url
from core.errors import ConfigError


def _feed_args(p: argparse.ArgumentParser, default_feed: str | None = "sim") -> None:
    p.add_argument("--feed", default=default_feed, help="sim | ws://HOST:PORT | replay:FILE | upstox | kite")
    p.add_argument("--symbols", help="comma list, e.g. NIFTY,BANKNIFTY")
    p.add_argument("--speed", type=float, help="simulator/replay speed factor (0 = as fast as possible)")
    p.add_argument("--seed", type=int, help="simulator seed")
    p.add_argument("--scenario", help="simulator scenario (calm, trending, volatile, demo, ...)")
    p.add_argument("--start", help="simulated event start, ISO 8601 with offset")
    p.add_argument("--no-reconnect", action="store_true", help="end when the feed server closes")
    p.add_argument("--instruments", help="broker instrument master file (upstox JSON / kite CSV)")
    p.add_argument("--url", help="override the feed endpoint (broker authorize/websocket URL)")


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="database URL (default DATABASE_URL or the embedded SQLite file)")


def build_config(args: argparse.Namespace) -> Config:
    """Environment and secrets first, then the command line on top."""
    config = load_config()
    if getattr(args, "db", None):
        config = replace(config, database_url=validate_database_url(args.db))
    feed = config.feed
    if getattr(args, "feed", None):
        kind, url = parse_feed(args.feed)
        feed = replace(feed, kind=kind, url=url)
    if getattr(args, "url", None):
        feed = replace(feed, url=args.url)
    overrides: dict[str, Any] = {  # argparse values
        "symbols": parse_symbols(args.symbols) if getattr(args, "symbols", None) else None,
        "speed": getattr(args, "speed", None),
        "seed": getattr(args, "seed", None),
        "scenario": getattr(args, "scenario", None),
        "start": getattr(args, "start", None),
        "instruments_file": getattr(args, "instruments", None),
    }
    feed = replace(feed, **{k: v for k, v in overrides.items() if v is not None})
    if getattr(args, "no_reconnect", False):
        feed = replace(feed, reconnect=False)
    if feed.speed < 0:
        raise ConfigError("--speed must be >= 0 (0 = as fast as possible)")
    return replace(config, feed=feed, alerts=alert_overrides(config.alerts, args))


def cmd_worker(args: argparse.Namespace) -> int:
    from core.worker import run_worker

    summary = run_worker(build_config(args), args.duration, publish_live_state=args.live_state)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from core.storage.database import current_revision, downgrade, head_revision, upgrade

    url = build_config(args).database_url
    if args.action == "upgrade":
        upgrade(url, args.revision or "head")
    elif args.action == "downgrade":
        downgrade(url, args.revision or "base")
    print(json.dumps({"database": _masked(url), "current": current_revision(url), "head": head_revision()}))
    return 0


def _masked(url: str) -> str:
    from core.config import mask_url

    return mask_url(url)


def cmd_simulate(args: argparse.Namespace) -> int:
    from core.worker import serve_simulator

    host, _, port = args.serve.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--serve {args.serve!r}: use HOST:PORT, e.g. 127.0.0.1:8765")
    serve_simulator(build_config(args), host, int(port), args.duration)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from core.worker import record_feed

    print(json.dumps(record_feed(build_config(args), Path(args.out), args.duration), default=str))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    args.feed = f"replay:{args.file}"
    args.live_state = False
    return cmd_worker(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from core.bench import run_benchmarks

    print(json.dumps(run_benchmarks(args.only, args.db), indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from core.worker import export_signals

    n = export_signals(build_config(args).database_url, args)
    print(json.dumps({"rows": n, "out": args.out}), file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core.worker import evaluate_outcomes

    print(json.dumps(evaluate_outcomes(build_config(args).database_url, progress=not args.quiet)))
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from core.backtest.runner import format_scorecard, run_backtest, write_json
    from core.errors import StorageError

    config = build_config(args)
    try:
        result = run_backtest(args.paths, config.database_url, base=config, label=args.label,
                              progress=not args.quiet, chain_snapshots=args.chain_snapshots,
                              jobs=args.jobs)  # fmt: skip
    except StorageError as exc:
        print(f"backtest failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        write_json(result, args.json)
    print(format_scorecard(result))
    return 0


def cmd_invariance(args: argparse.Namespace) -> int:
    from core.backtest.invariance import compare
    from core.backtest.sessions import recording_files

    results = [compare(path, seed=args.seed) for path in recording_files(args.paths)]
    matched = sum(r.matched for r in results)
    larger = sum(max(r.snapshot_signals, r.streamed_signals) for r in results)
    print(json.dumps({
        "sessions": [r.as_dict() for r in results],
        "matched": matched,
        "signals": larger,
        "agreement": round(matched / larger, 4) if larger else 1.0,
    }, indent=2))  # fmt: skip
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m core", description="StrikeIQ command line")
    top.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("worker", help="run the headless runtime (feed -> engines -> database)")
    _feed_args(p)
    _db_arg(p)
    p.add_argument("--duration", type=float, help="stop after this many wall seconds")
    p.add_argument("--live-state", action="store_true", help="upsert live_chain_state for db-sourced UIs")
    alert_args(p)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("simulate", help="serve the simulator over protocol v1 WebSocket")
    _feed_args(p, default_feed=None)
    p.add_argument("--serve", required=True, help="HOST:PORT to listen on, e.g. 127.0.0.1:8765")
    p.add_argument("--duration", type=float, help="stop after this many wall seconds")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("record", help="record any feed to a gzip JSONL file of protocol-v1 objects")
    _feed_args(p)
    p.add_argument("--out", required=True, help="output file, e.g. session.jsonl.gz")
    p.add_argument("--duration", type=float, required=True, help="wall seconds to record")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("replay", help="replay a recording through the runtime into the database")
    p.add_argument("file", help="recording (.jsonl.gz)")
    p.add_argument("--speed", type=float, default=0.0, help="speed factor (0 = as fast as possible)")
    p.add_argument("--symbols", help="comma list")
    _db_arg(p)
    p.add_argument("--duration", type=float, help="stop after this many wall seconds")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("db", help="database migrations")
    p.add_argument("action", choices=["upgrade", "downgrade", "current"])
    p.add_argument("--revision", help="target revision (default head / base)")
    _db_arg(p)
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("evaluate", help="score pending signal outcomes and update experience")
    _db_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "backtest", help="replay recordings as fast as possible, score them, print a scorecard"
    )
    p.add_argument(
        "paths", nargs="+", metavar="FILE_OR_DIR", help="recordings, or directories of *.jsonl[.gz]"
    )
    _db_arg(p)
    p.add_argument("--json", help="also write the scorecard as JSON to this file")
    p.add_argument("--label", help="run label: source backtest:LABEL (default: the UTC start time)")
    p.add_argument("--chain-snapshots", action="store_true", help="also store option-chain snapshots")
    p.add_argument(
        "--jobs", type=int, default=1, help="recordings replayed at once, one process each (needs idle cores)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser(
        "invariance",
        help="replay recordings as whole snapshots and re-timed leg by leg as a broker streams them; "
        "print how many signals agree (same engine, signal and direction within 3 minutes)",
    )
    p.add_argument(
        "paths", nargs="+", metavar="FILE_OR_DIR", help="recordings, or directories of *.jsonl[.gz]"
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the re-timing (default 1)")
    p.set_defaults(func=cmd_invariance)

    p = sub.add_parser("bench", help="performance benchmarks, JSON on stdout")
    p.add_argument("--only", choices=list(TARGETS), action="append", help="repeat for several")
    _db_arg(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("export", help="export signals to CSV")
    _db_arg(p)
    p.add_argument("--out", default="-", help="CSV file (default stdout)")
    p.add_argument("--symbols", help="comma list")
    p.add_argument("--engines", help="comma list of engine names")
    p.add_argument("--since", help="ISO date/time (UTC if no offset)")
    p.add_argument("--until", help="ISO date/time (UTC if no offset)")
    p.add_argument("--min-confidence", type=float, help="0-1")
    p.add_argument("--run", help="only the signals of this run id (default: every run)")
    p.add_argument("--exclude-backtests", action="store_true", help="leave out backtest runs")
    p.set_defaults(func=cmd_export)

    from core.broker.cli import add_parsers

    add_parsers(sub)  # login upstox|kite, instruments upstox|kite
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        status: int = args.func(args)
        return status
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
