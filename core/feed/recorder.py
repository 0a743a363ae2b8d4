"""Record any feed to a gzip JSONL file of protocol-v1 objects, passing items through to a sink.

Each line is one protocol-v1 object plus two fields the protocol ignores: `frame`, the number of
the batch it arrived in (so a replay re-batches exactly as the feed delivered), and `recv_ts`, the
local receive time in epoch seconds (so analysts can study the recorded feed's lag).
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from core.domain import FeedItem, FeedStatus
from core.feed.base import FeedSink
from core.feed.encode import dumps, encode_item


class Recorder:
    """A FeedSink that writes every batch to `path` and then hands it to `inner` (if any).

    Called from the feed thread only; `close()` (or leaving the `with` block) flushes the file.
    """

    def __init__(self, path: str | Path, inner: FeedSink | None = None, compresslevel: int = 6) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.inner = inner
        # Level 6, not gzip's default 9: a recorder must keep up with the feed; 9 costs ~3x CPU for ~2 %.
        # The file lives as long as the recorder; close() / __exit__ end it.
        self._fh = gzip.open(self.path, "wt", encoding="utf-8", compresslevel=compresslevel)  # noqa: SIM115
        self._lock = threading.Lock()  # close() may come from another thread than on_items
        self.frames = 0
        self.items = 0

    def on_items(self, items: Sequence[FeedItem]) -> None:
        if items:
            lines = []
            for item in items:
                obj = encode_item(item)
                obj["frame"] = self.frames
                recv_ts = getattr(item, "recv_ts", 0.0)
                if recv_ts:
                    obj["recv_ts"] = recv_ts
                lines.append(dumps(obj))
            with self._lock:
                if not self._fh.closed:
                    self._fh.write("\n".join(lines) + "\n")
            self.frames += 1
            self.items += len(items)
        if self.inner is not None:
            self.inner.on_items(items)

    def on_status(self, status: FeedStatus) -> None:
        if self.inner is not None:
            self.inner.on_status(status)

    def flush(self) -> None:
        """Push buffered lines to disk (a sync point a reader can decompress up to)."""
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
