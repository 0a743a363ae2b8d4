"""The `ingest` benchmark: protocol-v1 decode + MarketStateManager apply, in-process and over loopback,
and the broker decoders (Kite binary, Upstox protobuf) on realistic frames."""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from core.clock import IST
from core.config import FeedConfig
from core.domain import FeedItem, FeedStatus, Right
from core.feed.base import FeedStats
from core.feed.encode import dumps
from core.feed.instruments import Instrument, InstrumentMaster
from core.feed.kite import FULL, INDEX_FULL, decode_kite
from core.feed.proto import MarketDataFeedV3_pb2 as pb
from core.feed.protocol import decode_frame, ts_to_ms
from core.feed.server import FeedServer
from core.feed.upstox import decode_upstox
from core.feed.websocket import WebSocketFeed
from core.state.market_state import MarketStateManager

BENCH_SYMBOL = "NIFTY"
BENCH_START_TS = 1_764_560_700.0  # 2025-12-01 09:15 IST
BENCH_EXPIRIES = (date(2026, 12, 1), date(2026, 12, 29))
BROKER_EXPIRY = date(2026, 12, 1)
BROKER_STRIKES = [25250.0 + 50.0 * i for i in range(31)]  # an ATM +-15 window
BROKER_TS = datetime(2026, 12, 1, 10, 0, tzinfo=IST).timestamp()


def chain_frames(n_ticks: int, frame_size: int = 50, strikes_each_side: int = 40) -> list[str]:
    """`n_ticks` protocol-v1 ticks of one NIFTY chain (2 expiries x 81 strikes x CE/PE = 324 legs,
    plus the underlying every 10th tick) as JSON array frames, event time 1 ms apart.

    Prices follow a deterministic drift so every leg keeps changing; the numbers are load, not a
    market model (the simulator is the market model).
    """
    strikes = [25000.0 + 50.0 * k for k in range(-strikes_each_side, strikes_each_side + 1)]
    legs = [(e.isoformat(), k, r) for e in BENCH_EXPIRIES for k in strikes for r in ("CE", "PE")]
    frames, batch = [], []
    for i in range(n_ticks):
        ts_ms = ts_to_ms(BENCH_START_TS) + i
        spot = 25000.0 + (i % 400) * 0.05
        if i % 10 == 0:
            obj = {"type": "tick", "symbol": BENCH_SYMBOL, "ts": ts_ms, "ltp": spot, "prev_close": 24950.0}
        else:
            expiry, strike, right = legs[i % len(legs)]
            intrinsic = max(0.0, spot - strike) if right == "CE" else max(0.0, strike - spot)
            ltp = round(intrinsic + 40.0 + (i % 97) * 0.05, 2)
            obj = {
                "type": "tick", "symbol": BENCH_SYMBOL, "expiry": expiry, "strike": strike, "right": right,
                "ts": ts_ms, "ltp": ltp, "oi": 650_000 + 65 * (i % 1000), "volume": 65 * i,
                "bid": ltp - 0.05, "ask": ltp + 0.05, "bid_qty": 650, "ask_qty": 1300,
                "prev_close": ltp - 1.0, "prev_oi": 650_000, "iv": 0.12 + (i % 50) * 0.0005,
            }  # fmt: skip
        batch.append(obj)
        if len(batch) == frame_size:
            frames.append(dumps(batch))
            batch = []
    if batch:
        frames.append(dumps(batch))
    return frames


def _in_process(frames: Sequence[str], publish_each_frame: bool) -> tuple[float, FeedStats]:
    stats = FeedStats()
    state = MarketStateManager([BENCH_SYMBOL])
    clock = time.time
    start = time.perf_counter()
    for frame in frames:
        state.apply(decode_frame(frame, stats, clock()))
        if publish_each_frame:
            state.publish()
    state.publish()
    return time.perf_counter() - start, stats


def _decode_only(frames: Sequence[str]) -> float:
    stats = FeedStats()
    start = time.perf_counter()
    for frame in frames:
        decode_frame(frame, stats, 0.0)
    return time.perf_counter() - start


class _CountingStateSink:
    """The runtime's sink in miniature: apply + publish per frame, signal when `total` ticks arrived."""

    def __init__(self, total: int) -> None:
        self.state = MarketStateManager([BENCH_SYMBOL])
        self.total = total
        self.count = 0
        self.done = threading.Event()

    def on_items(self, items: Sequence[FeedItem]) -> None:
        self.state.apply(items)
        self.state.publish()
        self.count += len(items)
        if self.count >= self.total:
            self.done.set()

    def on_status(self, status: FeedStatus) -> None:
        pass


def _loopback(batches: Sequence[Sequence[FeedItem]], timeout_s: float) -> tuple[float, int]:
    """Server -> WebSocketFeed -> state sink on 127.0.0.1; returns (seconds, ticks received)."""
    total = sum(len(b) for b in batches)
    server = FeedServer("127.0.0.1", 0, heartbeat_s=60.0).start()
    sink = _CountingStateSink(total)
    stop = threading.Event()
    feed = WebSocketFeed(FeedConfig(kind="ws", url=server.url, symbols=(BENCH_SYMBOL,)))
    thread = threading.Thread(target=feed.run, args=(sink, stop), name="bench-client", daemon=True)
    thread.start()
    try:
        if not server.wait_for_subscribers(1, 10.0):
            raise RuntimeError("benchmark client did not subscribe to the loopback server")
        start = time.perf_counter()
        for batch in batches:
            server.publish(batch)
        sink.done.wait(timeout_s)
        return time.perf_counter() - start, sink.count
    finally:
        stop.set()
        thread.join(5.0)
        server.stop()


def bench_ingest(n: int = 200_000, frame_size: int = 50, loopback_n: int | None = None) -> dict[str, Any]:
    """Ticks per second for decode alone, decode + apply (+ publish per frame), and end to end over a
    loopback WebSocket (server and client in this process, so they share one interpreter)."""
    frames = chain_frames(n, frame_size)
    _in_process(frames[:200], publish_each_frame=True)  # warm caches and allocator before timing
    decode_s = _decode_only(frames)
    apply_s, stats = _in_process(frames, publish_each_frame=False)
    publish_s, _ = _in_process(frames, publish_each_frame=True)
    loop_n = n if loopback_n is None else loopback_n
    loop_frames = chain_frames(loop_n, frame_size)
    batches = [decode_frame(f, FeedStats(), 0.0) for f in loop_frames]
    loop_s, received = _loopback(batches, timeout_s=max(30.0, loop_n / 5_000))
    return {
        "ticks": n,
        "frame_size": frame_size,
        "rejected": sum(stats.rejected.values()),
        "decode_ticks_per_s": round(n / decode_s),
        "decode_apply_ticks_per_s": round(n / apply_s),
        "decode_apply_publish_ticks_per_s": round(n / publish_s),
        "loopback_ticks": loop_n,
        "loopback_received": received,
        "loopback_ticks_per_s": round(received / loop_s),
        "target_in_process_ticks_per_s": 100_000,
    }


def _master(broker: str) -> InstrumentMaster:
    insts = [
        Instrument(
            "256265" if broker == "kite" else "NSE_INDEX|Nifty 50", "NIFTY", None, None, None, 1, "IDX"
        )
    ]
    rights: tuple[Right, ...] = ("CE", "PE")
    for i, (strike, right) in enumerate((k, r) for k in BROKER_STRIKES for r in rights):
        key = str((40_000 + i) * 256 + 2) if broker == "kite" else f"NSE_FO|{40_000 + i}"
        insts.append(Instrument(key, "NIFTY", BROKER_EXPIRY, strike, right, 65, "FO"))
    return InstrumentMaster(insts, broker)


def _kite_frame(master: InstrumentMaster) -> bytes:
    ts = int(BROKER_TS)
    packets = [INDEX_FULL.pack(256265, 2_601_200, 2_610_000, 2_590_000, 2_600_000, 2_595_000, 6_200, ts)]
    for inst in (master.get(str((40_000 + i) * 256 + 2)) for i in range(len(BROKER_STRIKES) * 2)):
        assert inst is not None  # _master("kite") listed every one of these tokens
        depth = [v for q, p in ((650, 12_340), (1300, 12_360)) for _ in range(5) for v in (q, p, 3)]
        fields = (int(inst.key), 12_345, 65, 12_300, 456_000, 13_000, 9_750, 12_000, 12_500, 11_900, 11_000)
        packets.append(FULL.pack(*fields, ts - 1, 1_234_500, 1_300_000, 1_200_000, ts, *depth))
    body = b"".join(struct.pack(">H", len(p)) + p for p in packets)
    return struct.pack(">H", len(packets)) + body


def _upstox_frame() -> bytes:
    ms = int(BROKER_TS * 1000)
    msg = pb.FeedResponse(type=pb.live_feed, currentTs=ms)
    msg.feeds["NSE_INDEX|Nifty 50"].ltpc.CopyFrom(pb.LTPC(ltp=26012.0, ltt=ms, cp=25950.0))
    for i in range(len(BROKER_STRIKES) * 2):
        f = msg.feeds[f"NSE_FO|{40_000 + i}"].firstLevelWithGreeks
        f.ltpc.CopyFrom(pb.LTPC(ltp=123.45, ltt=ms - 500, ltq=65, cp=110.0))
        f.firstDepth.CopyFrom(pb.Quote(bidQ=650, bidP=123.4, askQ=1300, askP=123.6))
        f.optionGreeks.CopyFrom(pb.OptionGreeks(delta=0.5, theta=-12.0, gamma=0.0004, vega=13.0, rho=0.1))
        f.vtt, f.oi, f.iv = 456_000, 1_234_500.0, 0.1425
    frame: bytes = msg.SerializeToString()
    return frame


def _rate(
    decode: Callable[[bytes, InstrumentMaster, FeedStats, float], list[FeedItem]],
    frame: bytes,
    master: InstrumentMaster,
    n_ticks: int,
) -> dict[str, Any]:
    stats = FeedStats()
    per_frame = len(decode(frame, master, stats, BROKER_TS))
    frames = max(1, n_ticks // per_frame)
    start = time.perf_counter()
    for _ in range(frames):
        decode(frame, master, stats, BROKER_TS)
    elapsed = time.perf_counter() - start
    return {
        "ticks_per_s": round(frames * per_frame / elapsed),
        "frames_per_s": round(frames / elapsed),
        "ticks_per_frame": per_frame,
        "frame_bytes": len(frame),
        "rejected": sum(stats.rejected.values()),
    }


def bench_decoders(n: int = 200_000) -> dict[str, Any]:
    """Decode about `n` ticks with each broker decoder; frames are one ATM +-15 window plus the index."""
    kite, upstox = _master("kite"), _master("upstox")
    return {
        "kite": _rate(decode_kite, _kite_frame(kite), kite, n),
        "upstox": _rate(decode_upstox, _upstox_frame(), upstox, n),
    }


def run(db: str | None) -> dict[str, Any]:
    return {**bench_ingest(), "brokers": bench_decoders()}
