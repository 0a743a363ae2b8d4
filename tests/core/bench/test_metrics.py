"""The metrics benchmark runs on the SPEC §11 chain and reports its figures (no speed assertion)."""

from __future__ import annotations

from core.analytics.structural import LiveStructuralEngine
from core.bench.metrics import bench_metrics, bench_snapshot


def test_bench_snapshot_is_two_expiries_of_81_strikes_with_real_ivs():
    snap = bench_snapshot()
    assert len(snap.expiries) == 2 and len(snap.legs) == 324
    m = LiveStructuralEngine().compute(snap)
    assert len(m.strikes) == 81
    assert m.iv_source == "solved" and sum(m.unavailable.get(k) is None for k in ("atm_iv", "net_gex")) == 2
    assert m.gamma_flip is not None or m.flip_state in ("all positive", "all negative")


def test_bench_metrics_reports_percentiles():
    out = bench_metrics(iterations=5)
    assert out["legs"] == 324 and out["iterations"] == 5
    assert 0 < out["p50_ms"] <= out["p99_ms"]
    assert out["per_expiry"]["legs"] == 162
