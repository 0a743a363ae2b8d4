"""Replay a recording (gzip or plain JSONL of protocol-v1 objects) as a Feed, at any speed."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from core.domain import FeedItem, FeedState, FeedStatus, InstrumentInfo, Tick
from core.feed.base import FeedSink, FeedStats
from core.feed.fast_decode import decode_line
from core.feed.pacing import Pacer

log = logging.getLogger(__name__)

# An event-time gap longer than this is a jump to another session (overnight, a weekend, the next
# recorded day): it is not waited out. Shorter gaps, such as a 5-minute snapshot recording's, are paced.
SESSION_GAP_S = 30 * 60.0

# Compressed bytes read per call: big enough that a whole recording takes a few dozen calls. Every
# read and inflate call releases the GIL, and with the logger's writer thread busy each release
# can cost a thread switch interval (5 ms), which line-by-line reading paid thousands of times.
READ_CHUNK = 1 << 20


def _gzip_blocks(fh: IO[bytes], stats: FeedStats) -> Iterator[bytes]:
    """Inflated blocks of a gzip file (every member of a multi-member file). A file cut short (no
    trailer, e.g. after a crash) yields everything that can be inflated, then counts one reject."""
    inflater, fed = zlib.decompressobj(31), False
    while raw := fh.read(READ_CHUNK):
        while raw:
            if not fed:  # gzip allows zero padding after a member
                raw = raw.lstrip(b"\0")
                if not raw:
                    break
            fed = True
            try:
                block = inflater.decompress(raw)
            except zlib.error as exc:
                stats.reject("truncated_file", f"corrupt gzip data: {exc}")
                return
            if block:
                yield block
            raw = b""
            if inflater.eof:  # a member ended; what follows it is the next member
                raw = inflater.unused_data
                inflater, fed = zlib.decompressobj(31), False
    if fed:
        if block := inflater.flush():
            yield block
        stats.reject("truncated_file", "compressed file ended before the end-of-stream marker")


def _lines(path: Path, stats: FeedStats) -> Iterator[tuple[list[str], float]]:
    """The file's lines in blocks, each with its receive time (the time the block was read).

    Lines split on "\n" only (a JSON string may hold U+2028, which str.splitlines would split on);
    bytes that are not UTF-8 are replaced, so the line fails as JSON and is counted there.
    """
    with path.open("rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        blocks = _gzip_blocks(fh, stats) if gzipped else iter(lambda: fh.read(READ_CHUNK), b"")
        carry = b""
        for block in blocks:
            block = carry + block
            cut = block.rfind(b"\n") + 1
            carry = block[cut:]
            if cut:
                yield _split(block[:cut]), time.time()
        if carry:
            yield _split(carry), time.time()


def _split(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def iter_batches(path: str | Path, stats: FeedStats) -> Generator[list[FeedItem], None, None]:
    """The recording's batches, in order; malformed lines are counted in `stats` and skipped."""
    batch: list[FeedItem] = []
    key: Any = None
    for lines, recv_ts in _lines(Path(path), stats):
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                item, frame = decode_line(line, stats, recv_ts)
            except (ValueError, StopIteration, RecursionError):
                stats.reject("invalid_json", line[:200])
                continue
            if item is None:
                continue
            # Recordings carry the original frame number; plain JSONL files batch by equal event time.
            item_key = frame if type(frame) is int else ("ts", getattr(item, "ts", None))
            if batch and item_key != key:
                yield batch
                batch = []
            key = item_key
            batch.append(item)
    if batch:
        yield batch


def _batch_ts(batch: list[FeedItem]) -> float | None:
    times = [item.ts for item in batch if type(item) is not InstrumentInfo]
    return max(times) if times else None


class ReplayFeed:
    """A REPLAY feed: plays a recording at `speed` x event time (0 = as fast as possible).

    Pacing waits on `stop`, so stopping is immediate. Items carry the replay's own receive time
    (`recv_ts` is local time by definition); their event times are the recorded ones.
    """

    mode = "REPLAY"

    def __init__(
        self, path: str | Path, speed: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        self.path = Path(path)
        self.speed = speed
        self.stats = FeedStats()
        self._clock = clock  # the pacer's wall clock; injectable so tests need not sleep

    def describe(self) -> str:
        pace = "as fast as possible" if self.speed == 0 else f"{self.speed:g}x"
        return f"replay {self.path.name} at {pace}"

    def run(self, sink: FeedSink, stop: threading.Event) -> None:
        self._status(sink, "connecting", str(self.path))
        if not self.path.is_file():
            self.stats.last_error = f"cannot read recording: {self.path} is not a file"
            self._status(sink, "disconnected", self.stats.last_error)
            return
        try:
            batches = iter_batches(self.path, self.stats)
            self._status(sink, "connected", "replaying")
            self._play(batches, sink, stop)
        except OSError as exc:
            self.stats.last_error = f"cannot read recording: {exc}"
            self._status(sink, "disconnected", self.stats.last_error)
            return
        except Exception as exc:  # a feed never raises into the runtime
            log.exception("replay failed")
            self.stats.last_error = f"replay failed {type(exc).__name__}: {exc}"
            self._status(sink, "disconnected", self.stats.last_error)
            return
        self._status(sink, "stopped", "stop requested" if stop.is_set() else "end of recording")

    def _play(self, batches: Iterator[list[FeedItem]], sink: FeedSink, stop: threading.Event) -> None:
        pacer = Pacer(self.speed, self._clock, reanchor_gap_s=SESSION_GAP_S)
        for batch in batches:
            if stop.is_set():
                return
            ts = _batch_ts(batch)
            delay = 0.0 if ts is None else pacer.delay(ts)
            if delay > 0:
                if stop.wait(delay):
                    return
                # Items were stamped when read; after a pacing wait they are received now.
                now = time.time()
                batch = [_with_recv_ts(item, now) for item in batch]
            now = time.time()
            self.stats.frames += 1
            self.stats.items += len(batch)
            self.stats.last_recv_ts = now
            if ts is not None and ts > self.stats.last_event_ts:
                self.stats.last_event_ts = ts
            try:
                sink.on_items(batch)
            except Exception as exc:  # a sink bug must not end the replay
                self.stats.last_error = f"sink error {type(exc).__name__}: {exc}"
                log.exception("feed sink raised; one batch dropped")

    def _status(self, sink: FeedSink, state: FeedState, reason: str) -> None:
        self.stats.state = state
        sink.on_status(FeedStatus(state, reason, time.time()))


def _with_recv_ts(item: FeedItem, recv_ts: float) -> FeedItem:
    return replace(item, recv_ts=recv_ts) if type(item) is Tick else item  # only a Tick has recv_ts
