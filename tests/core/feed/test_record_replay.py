"""Recorder and ReplayFeed: record a feed, replay the same items in the same batches, at any speed."""

from __future__ import annotations

import dataclasses
import gzip
import json
import threading
import time
from datetime import date

import pytest

from core.config import FeedConfig
from core.domain import InstrumentInfo, MarketStatus, Tick
from core.feed.base import FeedStats
from core.feed.encode import encode_item
from core.feed.recorder import Recorder
from core.feed.replay import ReplayFeed, iter_batches
from core.feed.server import FeedServer
from core.feed.websocket import WebSocketFeed
from tests.core.feed.test_websocket import FeedThread, RecordingSink

TS = 1_764_560_100.0
EXP = date(2026, 12, 1)


def session() -> list[list]:
    """A small session: metadata, status, then ticks; two consecutive batches share one event time."""
    batches: list[list] = [
        [InstrumentInfo("NIFTY", 65, 50.0, (EXP,)), MarketStatus("OPEN", TS)],
        [Tick("NIFTY", TS, 25000.0, recv_ts=TS + 0.01, prev_close=24950.0)],
        [Tick("NIFTY", TS, 25000.5, recv_ts=TS + 0.02)],
    ]
    for i in range(1, 6):
        ts = TS + i * 0.25
        batches.append(
            [
                Tick("NIFTY", ts, 25000.0 + i, recv_ts=ts + 0.003),
                Tick("NIFTY", ts, 100.0 + i, recv_ts=ts + 0.003, expiry=EXP, strike=25000.0, right="CE",
                     oi=65000.0 * i, volume=1300.0 * i, bid=99.5 + i, ask=100.5 + i, iv=0.12, delta=0.5),
            ]
        )  # fmt: skip
    return batches


def without_recv_ts(batches: list[list]) -> list[list]:
    return [[dataclasses.replace(i, recv_ts=0.0) if isinstance(i, Tick) else i for i in b] for b in batches]


def record(path, batches) -> RecordingSink:
    inner = RecordingSink()
    with Recorder(path, inner) as recorder:
        for batch in batches:
            recorder.on_items(batch)
    return inner


def replay(path, speed: float = 0.0, stop: threading.Event | None = None) -> tuple[RecordingSink, ReplayFeed]:
    sink, feed = RecordingSink(), ReplayFeed(path, speed)
    feed.run(sink, stop or threading.Event())
    return sink, feed


def test_recorder_passes_every_batch_through_unchanged(tmp_path):
    batches = session()
    inner = record(tmp_path / "s.jsonl.gz", batches)
    assert inner.batches == batches


def test_record_then_replay_reproduces_items_and_batches(tmp_path):
    path = tmp_path / "rec" / "s.jsonl.gz"
    batches = session()
    record(path, batches)
    sink, feed = replay(path)
    assert without_recv_ts(sink.batches) == without_recv_ts(batches)
    assert sink.states() == ["connecting", "connected", "stopped"]
    assert sink.statuses[-1].reason == "end of recording"
    assert feed.stats.frames == len(batches) and feed.stats.items == sum(map(len, batches))
    assert not feed.stats.rejected and feed.stats.last_event_ts == TS + 1.25


def test_recording_is_gzip_jsonl_of_protocol_objects_with_frame_and_recv_ts(tmp_path):
    path = tmp_path / "s.jsonl.gz"
    batches = session()
    record(path, batches)
    with gzip.open(path, "rt") as fh:
        lines = [json.loads(line) for line in fh]
    assert len(lines) == sum(map(len, batches))
    assert lines[2] == {**encode_item(batches[1][0]), "frame": 1, "recv_ts": TS + 0.01}
    assert [line["frame"] for line in lines[:4]] == [0, 0, 1, 2]


def test_malformed_lines_are_counted_and_skipped(tmp_path):
    path = tmp_path / "bad.jsonl.gz"
    good = [encode_item(Tick("NIFTY", TS + i, 25000.0 + i)) for i in range(3)]
    lines = [
        json.dumps({**good[0], "frame": 0}),
        "{truncated",
        json.dumps({**good[1], "frame": 1, "ltp": -3}),
        "",
        json.dumps({"type": "future-thing", "frame": 1}),
        json.dumps({**good[2], "frame": 2}),
    ]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    sink, feed = replay(path)
    assert [[t.ltp for t in b] for b in sink.batches] == [[25000.0], [25002.0]]
    assert dict(feed.stats.rejected) == {"invalid_json": 1, "negative_price": 1}
    assert feed.stats.ignored == 1


def test_plain_jsonl_without_frame_numbers_batches_by_event_time(tmp_path):
    path = tmp_path / "third_party.jsonl"
    objs = [encode_item(Tick("NIFTY", TS + (i // 3), 25000.0 + i)) for i in range(7)]
    path.write_text("\n".join(json.dumps(o) for o in objs) + "\n")
    sink, _ = replay(path)
    assert [len(b) for b in sink.batches] == [3, 3, 1]


def test_a_recording_cut_short_replays_what_was_flushed(tmp_path):
    path = tmp_path / "crash.jsonl.gz"
    recorder = Recorder(path)
    for batch in session():
        recorder.on_items(batch)
    recorder.flush()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(path.read_bytes())  # what a crash before close() leaves: no gzip trailer
    recorder.close()
    sink, feed = replay(cut)
    assert without_recv_ts(sink.batches) == without_recv_ts(session())
    assert dict(feed.stats.rejected) == {"truncated_file": 1}


def test_a_multi_member_gzip_file_replays_every_member(tmp_path):
    # What appending to a recording with a second gzip writer leaves (zero padding is allowed too).
    lines = [
        json.dumps({**encode_item(Tick("NIFTY", TS + i, 25000.0 + i)), "frame": i}) + "\n" for i in range(4)
    ]
    path = tmp_path / "two_members.jsonl.gz"
    path.write_bytes(
        gzip.compress("".join(lines[:2]).encode()) + b"\0\0" + gzip.compress("".join(lines[2:]).encode())
    )
    sink, feed = replay(path)
    assert [[t.ltp for t in b] for b in sink.batches] == [[25000.0], [25001.0], [25002.0], [25003.0]]
    assert not feed.stats.rejected


def test_lines_split_on_newlines_only(tmp_path):
    # U+2028 is legal inside a JSON string (str.splitlines would cut there); CRLF files replay too.
    path = tmp_path / "odd.jsonl"
    obj = {**encode_item(Tick("NIFTY", TS, 25000.0)), "note": "a\u2028b"}
    path.write_bytes((json.dumps(obj, ensure_ascii=False) + "\r\n" + json.dumps(obj) + "\r\n").encode())
    sink, feed = replay(path)
    assert [len(b) for b in sink.batches] == [2] and not feed.stats.rejected


def test_a_line_with_extra_data_is_invalid_json(tmp_path):
    path = tmp_path / "extra.jsonl"
    good = json.dumps(encode_item(Tick("NIFTY", TS, 25000.0)))
    path.write_text(f"{good} {good}\n{good}\n")
    sink, feed = replay(path)
    assert [len(b) for b in sink.batches] == [1] and dict(feed.stats.rejected) == {"invalid_json": 1}


def test_missing_file_reports_disconnected_and_does_not_raise(tmp_path):
    sink, feed = replay(tmp_path / "nope.jsonl.gz")
    assert sink.states() == ["connecting", "disconnected"]
    assert "cannot read recording" in feed.stats.last_error


class RecordingStop(threading.Event):
    """A stop event whose waits return at once and are remembered: pacing without wall time."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.waits: list[float] = []
        self._stop_after = stop_after

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if self._stop_after is not None and len(self.waits) >= self._stop_after:
            self.set()
        return self.is_set()


class ClockedStop(RecordingStop):
    """A RecordingStop whose waits are the only thing that moves its clock: pacing on a fake clock."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def wait(self, timeout: float | None = None) -> bool:
        self.now += timeout or 0.0
        return super().wait(timeout)


@pytest.mark.parametrize("speed", [1.0, 10.0])
def test_pacing_follows_event_time_divided_by_speed(tmp_path, speed):
    path = tmp_path / "s.jsonl.gz"
    record(path, session())
    stop, sink = ClockedStop(), RecordingSink()
    ReplayFeed(path, speed, clock=stop.clock).run(sink, stop)
    assert len(sink.batches) == len(session())
    # Batches 0.25 s apart in event time are waited for 0.25 s / speed each, and the replay ends
    # 1.25 s / speed after it started; the batches sharing the first event time are not waited for.
    # The fake clock moves only in waits, so decoding time cannot enter (it did on a busy machine).
    assert stop.waits == pytest.approx([0.25 / speed] * 5)
    assert stop.now == pytest.approx(1.25 / speed)


@pytest.mark.parametrize("speed", [1.0, 60.0])
def test_five_minute_gaps_are_paced_and_an_overnight_gap_is_not_waited_out(tmp_path, speed):
    night = 17 * 3600.0
    times = [TS, TS + 300, TS + 600, TS + 600 + night, TS + 900 + night]  # 5-minute snapshots, two days
    path = tmp_path / "snapshots.jsonl.gz"
    record(path, [[Tick("NIFTY", ts, 25000.0, recv_ts=ts)] for ts in times])
    stop, sink = ClockedStop(), RecordingSink()
    started = time.time()
    ReplayFeed(path, speed, clock=stop.clock).run(sink, stop)
    assert len(sink.batches) == len(times)
    assert stop.waits == pytest.approx([300.0 / speed] * 3)
    assert stop.now == pytest.approx(900.0 / speed)  # the night cost no wall time
    assert sink.batches[1][0].recv_ts >= started  # received after the wait, stamped then


def test_stop_during_a_pacing_wait_ends_the_replay(tmp_path):
    path = tmp_path / "s.jsonl.gz"
    record(path, session())
    stop = RecordingStop(stop_after=2)
    sink, _ = replay(path, 1.0, stop)
    assert len(sink.batches) < len(session())
    assert sink.statuses[-1].reason == "stop requested"


def test_iter_batches_is_usable_without_a_feed(tmp_path):
    path = tmp_path / "s.jsonl.gz"
    record(path, session())
    stats = FeedStats()
    assert without_recv_ts(list(iter_batches(path, stats))) == without_recv_ts(session())


def test_record_a_live_websocket_session_and_replay_it(tmp_path):
    path = tmp_path / "live.jsonl.gz"
    server = FeedServer(heartbeat_s=30.0).start()
    inner = RecordingSink()
    recorder = Recorder(path, inner)
    try:
        config = FeedConfig(kind="ws", url=server.url, symbols=("NIFTY",))
        with FeedThread(WebSocketFeed(config), recorder):
            assert server.wait_for_subscribers(1, 5)
            for batch in session():
                server.publish(batch)
            assert inner.wait_for(lambda: len(inner.batches) == len(session()))
    finally:
        recorder.close()
        server.stop()
    sink, _ = replay(path)
    assert without_recv_ts(sink.batches) == without_recv_ts(session())
