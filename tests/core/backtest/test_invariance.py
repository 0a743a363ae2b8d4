"""Signals are a property of the market, not of its delivery: a recording replayed as whole
snapshots and re-timed leg by leg as a broker streams it gives >= 90 % the same signals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.backtest.invariance import compare, matched_pairs
from core.feed.base import FeedStats
from core.feed.replay import iter_batches
from core.feed.retime import broker_stream
from tests.core.backtest.synthetic import INVARIANCE_RECORDING, SYNTHETIC_RECORDING

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real" / "sessions"
# Sessions with 1- or 5-minute snapshots (the 2019 page and the end-of-day files are coarser).
REAL_SESSIONS = sorted(
    p.name for p in REAL.glob("*.jsonl.gz") if any(k in p.name for k in ("_kite", "_nse-v3", "-parityspot"))
)
QUICK = "NIFTY_2026-01-22_kite.jsonl.gz"
MIN_AGREEMENT = 0.9


def real(name: str) -> Path:
    if not (REAL / name).is_file():
        pytest.skip(f"real NSE recordings are read from {REAL}, which is absent here")
    return REAL / name


def test_matched_pairs_are_one_to_one_within_the_tolerance():
    a = [(0.0, "E", "S", "UP"), (100.0, "E", "S", "UP"), (500.0, "E", "S", "DOWN")]
    b = [(150.0, "E", "S", "UP"), (700.0, "E", "S", "DOWN"), (900.0, "F", "S", "UP")]
    # 0 and 100 both fit 150 but it is used once; 500 -> 700 is 200 s apart, beyond 180 s.
    assert matched_pairs(a, b) == 1
    assert matched_pairs(a, b, tolerance_s=200.0) == 2
    assert matched_pairs([], b) == 0


def test_the_broker_stream_keeps_every_value_and_spreads_legs_over_the_minute():
    snap = [i for batch in iter_batches(SYNTHETIC_RECORDING, FeedStats()) for i in batch]
    streamed_batches = list(broker_stream(iter_batches(SYNTHETIC_RECORDING, FeedStats()), seed=3))
    streamed = [i for batch in streamed_batches for i in batch]
    assert len(streamed) == len(snap)
    key = lambda t: (t.symbol, t.expiry, t.strike, t.right, t.ltp, t.oi)  # noqa: E731
    assert sorted(map(key, (i for i in snap if hasattr(i, "ltp"))), key=str) == sorted(
        map(key, (i for i in streamed if hasattr(i, "ltp"))), key=str
    )
    times = [i.ts for b in streamed_batches for i in b if hasattr(i, "ltp")]
    assert times == sorted(times)  # event-time order
    legs = [i for i in streamed if getattr(i, "strike", None) is not None]
    moved = [i for i in legs if i.ts % 30.0 != 0.0]
    assert len(moved) > 0.95 * len(legs)  # off the snapshot instants
    assert len(streamed_batches) > 10 * len({i.ts for i in snap if hasattr(i, "ltp")})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_committed_synthetic_recording_is_delivery_invariant(seed):
    """Four hours of the simulator's `switching` market as 1-minute snapshots (8 signals): every
    one streamed too with seeds 1-7. What used to differ was window edges on minute samples, not
    delivery: a stream stamps each spot observation with the update that brought it, up to a
    second after the snapshot's own stamp. The sweep's recent low (a 30-minute window ending 3
    minutes before the clock) dropped the 10:20 low at the 10:53 snapshot while a stream held it,
    a snapshot-only SWEEP_UP (seeds 1, 5); a 5-minute realised vol that began exactly 5 minutes
    back took or left the observation there by that jitter, so the vol spike of a SQUEEZE_DOWN held
    a minute longer in a stream (seeds 2, 7). Both windows now start between observations: 0.89 /
    0.9 / 1.0 / 1.0 / 0.89 / 1.0 / 0.9 before, 1.0 on every seed after."""
    result = compare(INVARIANCE_RECORDING, seed=seed)
    assert result.snapshot_signals >= 5  # the figure is not vacuous
    assert result.agreement >= MIN_AGREEMENT, result.as_dict()


@pytest.mark.prefix_of("test_each_real_one_and_five_minute_session_is_delivery_invariant")
@pytest.mark.parametrize("name", [QUICK])
def test_a_real_five_minute_session_is_delivery_invariant(name):
    """The quick loop's real session: the full suite's run of it (same seed) checks the same."""
    result = compare(real(name), seed=7)
    assert result.snapshot_signals >= 3 and result.agreement >= MIN_AGREEMENT, result.as_dict()


# No real session is short of the bar with seed 7 any more. BANKNIFTY 2026-01-22 (was 4 of 5 with
# every seed) opens with a 10-leg snapshot, then the 244-leg chain: that grown chain now only
# establishes the legs, in either delivery, so the stream does not read a partial chain and the
# snapshot replay does not read a PCR "falling" from the 10-leg chain's to the whole chain's.
SHORT_OF_THE_BAR: dict[str, float] = {}


@pytest.mark.slow
@pytest.mark.timeout(900)  # one session replayed twice: a minute or two on a busy 2-core machine
@pytest.mark.parametrize("name", REAL_SESSIONS or ["(none)"])
def test_each_real_one_and_five_minute_session_is_delivery_invariant(name):
    """Every real session with 1- or 5-minute snapshots, re-timed with seed 7 (one test per
    session, so the suite's workers share them). Measured with the runtime's cycle after a quiet
    gap (the last legs of a streamed burst are read before the next batch, not folded into it
    minutes later with the next spot move): 85 of 85 signals agree with seeds 1, 2 and 7, 85 of 86
    with seed 3 (NIFTY 2026-08-18 9 of 10), every session >= 90 % with each. Before it: 84/85,
    83/86, 84/85, 83/89, with BANKNIFTY 2026-02-01 (seed 2), BANKNIFTY 2026-01-27 and NIFTY
    2026-01-22 (seed 3) short of the bar."""
    result = compare(real(name), seed=7)
    assert result.agreement >= SHORT_OF_THE_BAR.get(name, MIN_AGREEMENT), result.as_dict()


def test_the_invariance_command_prints_the_figure_per_session(capsys):
    from core.__main__ import main

    assert main(["invariance", str(SYNTHETIC_RECORDING), "--seed", "1"]) == 0  # the shorter one
    out = json.loads(capsys.readouterr().out)
    (session,) = out["sessions"]
    assert session["session"] == SYNTHETIC_RECORDING.name and session["seed"] == 1
    assert out["matched"] == session["matched"] and out["signals"] >= out["matched"] > 0
