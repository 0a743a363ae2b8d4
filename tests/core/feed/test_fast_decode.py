"""decode_line (orjson, then the plain path for anything else) gives exactly what the plain path gives:
parse_exact (the stdlib scanner) and decode_object, line by line: the item (every field's type too),
the frame number, rejects and counters."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.domain import Tick
from core.feed.base import FeedStats
from core.feed.fast_decode import decode_line, parse_exact
from core.feed.protocol import decode_object
from core.feed.replay import iter_batches

DATA = Path(__file__).resolve().parents[2] / "data"
RECORDINGS = [DATA / "synthetic_backtest_NIFTY.jsonl.gz", DATA / "synthetic_invariance_NIFTY.jsonl.gz"]
RECV_TS = 1_700_000_000.0
LEG = '"type":"tick","symbol":"NIFTY","expiry":"2026-12-01","strike":24900,"right":"CE","ts":1795578300000'

# Lines where orjson and the stdlib differ, or the decoder rejects: each must come out as it did.
EDGE_LINES = [
    "{" + LEG + ',"ltp":448.75,"oi":13975,"volume":0,"bid":444.75,"ask":448.75,"frame":1}',
    "{" + LEG + ',"ltp":448.75,"frame":18446744073709551616}',  # frame beyond 64 bits: orjson's float
    "{" + LEG + ',"ltp":123456789012345678901234567890}',  # orjson's float == float(int)
    "{" + LEG + ',"ltp":1' + "0" * 400 + "}",  # orjson refuses; the stdlib's int overflows float
    "{" + LEG + ',"ltp":NaN}',
    "{" + LEG + ',"ltp":1e400}',
    "{" + LEG + ',"ltp":-1}',
    "{" + LEG + ',"ltp":true}',
    "{" + LEG + ',"ltp":"448"}',
    "{" + LEG + ',"ltp":10,"bid":11,"ask":10}',
    "{" + LEG + ',"ltp":10,"iv":-0.1}',
    "{" + LEG + ',"ltp":10,"greeks":{"delta":0.5,"gamma":0.001,"theta":-3.2,"vega":12}}',
    "{" + LEG + ',"ltp":10,"greeks":{"delta":"x"}}',
    '{"type":"tick","symbol":"NIFTY","expiry":"2026-12-01","strike":0,"right":"CE","ts":1795578300000,"ltp":1}',
    '{"type":"tick","symbol":"NIFTY","expiry":"2026-12-01","strike":100,"right":"XX","ts":1795578300000,"ltp":1}',
    '{"type":"tick","symbol":"NIFTY","strike":100,"ts":1795578300000,"ltp":1}',
    '{"type":"tick","symbol":"NIFTY","ts":"2026-08-18T10:43:00+05:30","ltp":24212.8}',
    '{"type":"tick","symbol":"NIFTY","ts":"2026-08-18T10:43:00","ltp":24212.8}',
    '{"type":"tick","symbol":"NIFTY","ts":17955783000000000000000,"ltp":1}',
    '{"type":"tick","symbol":"","ts":1795578300000,"ltp":1}',
    '{"type":"tick","symbol":"NIFTY\\ud800","ts":1795578300000,"ltp":1}',  # lone surrogate
    '{"type":"tick","symbol":"NIFTY","ts":1795578300000,"ltp":1,"ltp":2}',  # duplicate key: the last
    '{"type":"instrument","symbol":"NIFTY","lot_size":18446744073709551616,"expiries":["2026-12-01"]}',
    '{"type":"instrument","symbol":"NIFTY","lot_size":65,"strike_step":50,"expiries":["2026-12-01"]}',
    '{"type":"status","market":"OPEN","ts":1795578300000}',
    '{"type":"heartbeat"}',
    '{"type":"quote","symbol":"NIFTY"}',
    '{"symbol":"NIFTY"}',
    "[1,2]",
    '"tick"',
    "{" + LEG + ',"ltp":1}x',
    "{" + LEG + ',"ltp":1,}',
    "not json",
]


def _plain(line: str, stats: FeedStats) -> tuple[Any, Any]:
    obj = parse_exact(line)
    return decode_object(obj, stats, RECV_TS), obj.get("frame") if type(obj) is dict else None


def _outcome(decode: Any, line: str) -> tuple[Any, ...]:
    stats = FeedStats()
    try:
        item, frame = decode(line, stats) if decode is _plain else decode(line, stats, RECV_TS)
    except (ValueError, StopIteration, RecursionError) as exc:
        return ("not json", type(exc).__name__)
    types = tuple(type(getattr(item, f)) for f in Tick.__slots__) if type(item) is Tick else ()
    return (
        item,
        type(item),
        types,
        frame,
        type(frame),
        dict(stats.rejected),
        list(stats.last_rejects),
        stats.ignored,
    )


def _lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip()]


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_every_line_of_a_committed_recording_decodes_as_the_plain_path_decodes_it(path: Path) -> None:
    lines = _lines(path)
    assert len(lines) > 1000
    for line in lines:
        assert _outcome(decode_line, line) == _outcome(_plain, line), line


@pytest.mark.parametrize("line", EDGE_LINES)
def test_edge_lines_decode_as_the_plain_path_decodes_them(line: str) -> None:
    assert _outcome(decode_line, line) == _outcome(_plain, line)


def test_the_replays_batches_hold_the_items_the_plain_path_decodes() -> None:
    path = RECORDINGS[0]
    stats = FeedStats()
    replayed = [item for batch in iter_batches(path, stats) for item in batch]
    plain = [item for line in _lines(path) if (item := _plain(line, FeedStats())[0]) is not None]
    assert [_without_recv_ts(i) for i in replayed] == [_without_recv_ts(i) for i in plain]
    assert not stats.rejected


def _without_recv_ts(item: Any) -> Any:
    # recv_ts is when the replay read the block, by definition not the same twice
    return replace(item, recv_ts=0.0) if type(item) is Tick else item
