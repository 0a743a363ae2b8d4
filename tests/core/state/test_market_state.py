"""MarketStateManager: publishing, immutability, sticky ATM, TTL, ordering, unknown symbols, bounds."""

from __future__ import annotations

import threading
from datetime import date

import numpy as np
import pytest

from core.domain import ChainSnapshot, InstrumentInfo, MarketStatus, Tick
from core.market_calendar import expiry_close_epoch
from core.state.market_state import MarketStateManager, derive_strike_step, nearest_strike

EXPIRY = date(2026, 12, 8)
T0 = expiry_close_epoch(date(2026, 12, 2)) - 6 * 3600  # 2026-12-02 09:30 IST


def spot(ts: float, ltp: float, symbol: str = "NIFTY", **kw) -> Tick:
    return Tick(symbol=symbol, ts=ts, ltp=ltp, **kw)


def leg(ts: float, strike: float, right: str = "CE", ltp: float = 100.0, symbol: str = "NIFTY", **kw) -> Tick:
    return Tick(
        symbol=symbol, ts=ts, ltp=ltp, expiry=kw.pop("expiry", EXPIRY), strike=strike, right=right, **kw
    )


def chain(ts: float, center: float = 25000.0, step: float = 50.0, n: int = 5, ltp: float = 100.0):
    return [leg(ts, center + i * step, r, ltp=ltp, oi=1000.0) for i in range(-n, n + 1) for r in ("CE", "PE")]


@pytest.fixture
def msm() -> MarketStateManager:
    return MarketStateManager(["NIFTY", "BANKNIFTY"])


def test_apply_marks_changed_symbols_and_publish_builds_one_snapshot_each(msm):
    changed = msm.apply([spot(T0, 25010.0, prev_close=24900.0), *chain(T0)])
    assert changed == {"NIFTY"}
    assert msm.snapshot("NIFTY") is None  # nothing is visible before publish
    published = msm.publish()
    assert set(published) == {"NIFTY"}
    snap = msm.snapshot("NIFTY")
    assert isinstance(snap, ChainSnapshot)
    assert (snap.spot, snap.spot_prev_close, snap.ts) == (25010.0, 24900.0, T0)
    assert (snap.lot_size, snap.strike_step, snap.expiries) == (65, 50.0, (EXPIRY,))
    assert len(snap.legs) == 22 and snap.tick_count == 23
    assert snap.legs[(EXPIRY, 25050.0, "PE")].oi == 1000.0
    assert msm.snapshot("BANKNIFTY") is None
    assert msm.publish() == {}  # nothing dirty: no new snapshot
    assert msm.snapshot("NIFTY") is snap


def test_published_snapshot_never_changes_after_later_applies(msm):
    msm.apply([spot(T0, 25000.0), *chain(T0, ltp=1.0)])
    msm.publish()
    old = msm.snapshot("NIFTY")
    with pytest.raises(TypeError):
        old.legs[(EXPIRY, 25000.0, "CE")] = leg(T0, 25000.0)  # type: ignore[index]
    msm.apply([spot(T0 + 1, 25100.0), *chain(T0 + 1, ltp=2.0), leg(T0 + 1, 26000.0)])
    assert old.spot == 25000.0 and len(old.legs) == 22
    assert {t.ltp for t in old.legs.values()} == {1.0}
    msm.publish()
    new = msm.snapshot("NIFTY")
    assert new is not old and len(new.legs) == 23 and new.spot == 25100.0


def test_spot_prev_close_is_kept_when_later_ticks_omit_it(msm):
    msm.apply([spot(T0, 25000.0, prev_close=24800.0)])
    msm.apply([spot(T0 + 1, 25001.0)])
    msm.publish()
    assert msm.snapshot("NIFTY").spot_prev_close == 24800.0


def test_reader_thread_never_sees_a_half_updated_snapshot(msm):
    batches = 1500
    done = threading.Event()
    start = threading.Barrier(2)
    seen: list[float] = []
    errors: list[str] = []

    def reader() -> None:
        start.wait()
        last = -1.0
        while not done.is_set() or last < batches - 1:
            snap = msm.snapshot("NIFTY")
            if snap is None:
                continue
            values = {t.ltp for t in snap.legs.values()}
            if values != {snap.spot} or snap.tick_count != (snap.spot + 1) * 23:
                errors.append(f"mixed snapshot: spot {snap.spot}, legs {sorted(values)[:5]}")
                return
            if snap.spot < last:
                errors.append(f"went back from {last} to {snap.spot}")
                return
            if snap.spot != last:
                seen.append(snap.spot)
            last = snap.spot

    thread = threading.Thread(target=reader)
    thread.start()
    start.wait()
    for k in range(batches):
        # Every item of batch k carries k, so any mix of two batches is detectable.
        msm.apply([spot(T0 + k, float(k)), *chain(T0 + k, ltp=float(k))])
        msm.publish()
    done.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors == []
    assert seen[-1] == batches - 1 and len(seen) >= 2


def test_instrument_info_overrides_defaults_and_status_reaches_every_symbol(msm):
    msm.apply(
        [
            InstrumentInfo("BANKNIFTY", lot_size=35, strike_step=500.0, expiries=(date(2027, 1, 26), EXPIRY)),
            MarketStatus("CLOSED", T0),
        ]
    )
    msm.publish()
    bank = msm.snapshot("BANKNIFTY")
    assert (bank.lot_size, bank.strike_step, bank.expiries) == (35, 500.0, (EXPIRY, date(2027, 1, 26)))
    assert bank.market == "CLOSED" and msm.snapshot("NIFTY").market == "CLOSED"
    assert (msm.snapshot("NIFTY").lot_size, msm.snapshot("NIFTY").strike_step) == (65, 50.0)


def test_strike_step_is_derived_from_the_chain_unless_the_feed_says_otherwise():
    msm = MarketStateManager(["NIFTY", "BANKNIFTY"])
    msm.apply([spot(T0, 25000.0), *chain(T0, step=100.0)])
    msm.apply([spot(T0, 56000.0, symbol="BANKNIFTY"), InstrumentInfo("BANKNIFTY", strike_step=100.0)])
    msm.apply([leg(T0, 56000.0 + 200 * i, symbol="BANKNIFTY") for i in range(5)])
    msm.publish()
    assert msm.snapshot("NIFTY").strike_step == 100.0
    assert msm.snapshot("BANKNIFTY").strike_step == 100.0
    assert derive_strike_step([100.0, 150.0, 200.0, 300.0, 400.0]) == 50.0  # tie -> smaller gap
    assert derive_strike_step([100.0, 150.0]) is None


def test_atm_is_sticky_within_half_a_step_plus_margin(msm):
    msm.apply(chain(T0, n=10))

    def atm_at(price: float, ts: float) -> float:
        msm.apply([spot(ts, price)])
        msm.publish()
        return msm.snapshot("NIFTY").atm_strike

    assert atm_at(25010.0, T0) == 25000.0
    assert atm_at(25029.0, T0 + 1) == 25000.0  # past the midpoint but inside the margin
    assert atm_at(25031.0, T0 + 2) == 25050.0
    assert atm_at(25021.0, T0 + 3) == 25050.0  # hysteresis: no flip back at the midpoint
    assert atm_at(25019.0, T0 + 4) == 25000.0
    assert atm_at(25100.0, T0 + 5) == 25100.0


def test_atm_without_margin_moves_exactly_past_half_a_step():
    msm = MarketStateManager(["NIFTY"], atm_margin_steps=0.0)
    msm.apply([*chain(T0, n=10), spot(T0, 25000.0)])
    msm.publish()
    msm.apply([spot(T0 + 1, 25025.0)])
    msm.publish()
    assert msm.snapshot("NIFTY").atm_strike == 25000.0
    msm.apply([spot(T0 + 2, 25025.5)])
    msm.publish()
    assert msm.snapshot("NIFTY").atm_strike == 25050.0


def test_nearest_strike_picks_the_listed_strike_lower_on_ties():
    assert nearest_strike((24900.0, 25000.0, 25100.0), 25049.0) == 25000.0
    assert nearest_strike((24900.0, 25000.0, 25100.0), 25051.0) == 25100.0
    assert nearest_strike((24900.0, 25000.0, 25100.0), 25050.0) == 25000.0  # ties go lower
    assert nearest_strike(np.array([24900.0, 25000.0]), 30000.0) == 25000.0
    assert nearest_strike((), 25074.0) is None
    assert nearest_strike((24900.0, 25000.0), float("nan")) is None


def test_atm_is_on_the_step_grid_before_any_leg_is_listed():
    msm = MarketStateManager(["NIFTY"])
    msm.apply([spot(T0, 25074.0)])
    msm.publish()
    assert msm.snapshot("NIFTY").atm_strike == 25050.0


def test_legs_not_updated_for_the_ttl_are_dropped(msm):
    msm.apply([spot(T0, 25000.0), leg(T0, 24000.0), leg(T0, 25000.0)])
    msm.publish()
    msm.apply([spot(T0 + 1000, 25000.0), leg(T0 + 1000, 25000.0)])
    msm.publish()
    assert len(msm.snapshot("NIFTY").legs) == 2
    msm.apply([spot(T0 + 1801, 25000.0)])
    msm.publish()
    keys = set(msm.snapshot("NIFTY").legs)
    assert keys == {(EXPIRY, 25000.0, "CE")}  # 1801 s old leg gone, 801 s old leg kept
    assert msm.stats()["dropped_legs"] == 1


def test_legs_of_a_closed_expiry_are_dropped():
    msm = MarketStateManager(["NIFTY"])
    close = expiry_close_epoch(EXPIRY)
    msm.apply([leg(close - 10, 25000.0), leg(close - 10, 25000.0, expiry=date(2026, 12, 15))])
    msm.publish()
    assert len(msm.snapshot("NIFTY").legs) == 2
    msm.apply([spot(close + 60, 25000.0)])
    msm.publish()
    snap = msm.snapshot("NIFTY")
    assert [k[0] for k in snap.legs] == [date(2026, 12, 15)]
    assert snap.expiries == (date(2026, 12, 15),)


def test_out_of_order_ticks_are_ignored_and_counted(msm):
    msm.apply([spot(T0 + 10, 25000.0), leg(T0 + 10, 25000.0, ltp=50.0)])
    changed = msm.apply([spot(T0 + 5, 1.0), leg(T0 + 5, 25000.0, ltp=1.0)])
    assert changed == set()
    msm.apply([leg(T0 + 10, 25000.0, ltp=51.0)])  # same event time is a valid update
    msm.publish()
    snap = msm.snapshot("NIFTY")
    assert snap.spot == 25000.0 and snap.legs[(EXPIRY, 25000.0, "CE")].ltp == 51.0
    assert snap.ts == T0 + 10 and snap.tick_count == 3
    assert msm.stats()["out_of_order"] == 2


def test_unknown_symbols_are_ignored_and_counted_with_bounded_names(msm):
    assert msm.apply([spot(T0, 100.0, symbol="SENSEX"), InstrumentInfo("SENSEX", lot_size=20)]) == set()
    msm.apply([spot(T0, 1.0, symbol=f"X{i}") for i in range(500)])
    assert msm.publish() == {}
    stats = msm.stats()
    assert stats["unknown_symbol_ticks"] == 502
    assert stats["unknown_symbols"]["SENSEX"] == 2
    assert len(stats["unknown_symbols"]) == 64
    assert set(msm.snapshots()) == set()


def test_memory_is_bounded_by_the_leg_cap():
    msm = MarketStateManager(["NIFTY"], max_legs_per_symbol=300)
    for k in range(200):
        # A fresh band of strikes every batch: the leg map must not grow without limit.
        msm.apply([spot(T0 + k, 25000.0 + k), *(leg(T0 + k, 10000.0 + 50 * (k * 5 + i)) for i in range(5))])
        msm.apply([leg(T0 + k, 25000.0, oi=float(k))])
        msm.publish()
    snap = msm.snapshot("NIFTY")
    assert len(snap.legs) <= 300
    assert (EXPIRY, 10000.0 + 50 * 999, "CE") in snap.legs  # newest kept, oldest evicted
    assert snap.spot == 25199.0 and snap.legs[(EXPIRY, 25000.0, "CE")].oi == 199.0


def test_stats_report_ticks_legs_and_last_event_time(msm):
    msm.apply([spot(T0, 25000.0), *chain(T0, n=2)])
    msm.apply([spot(T0 + 2, 25001.0, symbol="BANKNIFTY")])
    stats = msm.stats()["symbols"]
    assert stats["NIFTY"] == {"ticks": 11, "legs": 10, "last_ts": T0}
    assert stats["BANKNIFTY"] == {"ticks": 1, "legs": 0, "last_ts": T0 + 2}
