"""The ingest benchmark delivers every tick (protocol v1, loopback) and decodes whole broker frames."""

from __future__ import annotations

from core.bench.ingest import bench_decoders, bench_ingest


def test_ingest_benchmark_delivers_every_tick_end_to_end():
    result = bench_ingest(n=3_000, frame_size=50, loopback_n=2_000)
    assert result["rejected"] == 0
    assert result["loopback_received"] == result["loopback_ticks"] == 2_000
    assert all(
        result[k] > 0 for k in ("decode_ticks_per_s", "decode_apply_ticks_per_s", "loopback_ticks_per_s")
    )


def test_bench_decoders_decodes_whole_frames_without_rejects():
    result = bench_decoders(1_000)
    for broker in ("kite", "upstox"):
        assert result[broker]["ticks_per_frame"] == 63  # index + 31 strikes x 2 rights
        assert result[broker]["rejected"] == 0
        assert result[broker]["ticks_per_s"] > 0
