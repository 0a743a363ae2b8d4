"""Decode-rate benchmark of the broker decoders (Kite binary, Upstox protobuf) on realistic frames."""

from __future__ import annotations

import struct
import time
from datetime import date, datetime

from core.clock import IST
from core.feed.base import FeedStats
from core.feed.instruments import Instrument, InstrumentMaster
from core.feed.kite import FULL, INDEX_FULL, decode_kite
from core.feed.proto import MarketDataFeedV3_pb2 as pb
from core.feed.upstox import decode_upstox

EXPIRY = date(2026, 12, 1)
STRIKES = [25250.0 + 50.0 * i for i in range(31)]  # an ATM +-15 window
BENCH_TS = datetime(2026, 12, 1, 10, 0, tzinfo=IST).timestamp()


def _master(broker: str) -> InstrumentMaster:
    insts = [
        Instrument(
            "256265" if broker == "kite" else "NSE_INDEX|Nifty 50", "NIFTY", None, None, None, 1, "IDX"
        )
    ]
    for i, (strike, right) in enumerate((k, r) for k in STRIKES for r in ("CE", "PE")):
        key = str((40_000 + i) * 256 + 2) if broker == "kite" else f"NSE_FO|{40_000 + i}"
        insts.append(Instrument(key, "NIFTY", EXPIRY, strike, right, 65, "FO"))  # type: ignore[arg-type]
    return InstrumentMaster(insts, broker)


def _kite_frame(master: InstrumentMaster) -> bytes:
    ts = int(BENCH_TS)
    packets = [INDEX_FULL.pack(256265, 2_601_200, 2_610_000, 2_590_000, 2_600_000, 2_595_000, 6_200, ts)]
    for inst in (master.get(str((40_000 + i) * 256 + 2)) for i in range(len(STRIKES) * 2)):
        depth = [v for q, p in ((650, 12_340), (1300, 12_360)) for _ in range(5) for v in (q, p, 3)]
        fields = (int(inst.key), 12_345, 65, 12_300, 456_000, 13_000, 9_750, 12_000, 12_500, 11_900, 11_000)
        packets.append(FULL.pack(*fields, ts - 1, 1_234_500, 1_300_000, 1_200_000, ts, *depth))
    body = b"".join(struct.pack(">H", len(p)) + p for p in packets)
    return struct.pack(">H", len(packets)) + body


def _upstox_frame() -> bytes:
    ms = int(BENCH_TS * 1000)
    msg = pb.FeedResponse(type=pb.live_feed, currentTs=ms)
    msg.feeds["NSE_INDEX|Nifty 50"].ltpc.CopyFrom(pb.LTPC(ltp=26012.0, ltt=ms, cp=25950.0))
    for i in range(len(STRIKES) * 2):
        f = msg.feeds[f"NSE_FO|{40_000 + i}"].firstLevelWithGreeks
        f.ltpc.CopyFrom(pb.LTPC(ltp=123.45, ltt=ms - 500, ltq=65, cp=110.0))
        f.firstDepth.CopyFrom(pb.Quote(bidQ=650, bidP=123.4, askQ=1300, askP=123.6))
        f.optionGreeks.CopyFrom(pb.OptionGreeks(delta=0.5, theta=-12.0, gamma=0.0004, vega=13.0, rho=0.1))
        f.vtt, f.oi, f.iv = 456_000, 1_234_500.0, 0.1425
    return msg.SerializeToString()


def _rate(decode, frame: bytes, master: InstrumentMaster, n_ticks: int) -> dict:
    stats = FeedStats()
    per_frame = len(decode(frame, master, stats, BENCH_TS))
    frames = max(1, n_ticks // per_frame)
    start = time.perf_counter()
    for _ in range(frames):
        decode(frame, master, stats, BENCH_TS)
    elapsed = time.perf_counter() - start
    return {
        "ticks_per_s": round(frames * per_frame / elapsed),
        "frames_per_s": round(frames / elapsed),
        "ticks_per_frame": per_frame,
        "frame_bytes": len(frame),
        "rejected": sum(stats.rejected.values()),
    }


def bench_decoders(n: int = 200_000) -> dict:
    """Decode about `n` ticks with each broker decoder; frames are one ATM +-15 window plus the index."""
    kite, upstox = _master("kite"), _master("upstox")
    return {
        "kite": _rate(decode_kite, _kite_frame(kite), kite, n),
        "upstox": _rate(decode_upstox, _upstox_frame(), upstox, n),
    }
