"""Simulator: determinism, chain shape, OI steps, quotes, sessions, scenarios and event-time pacing.

Properties of the market hold in both deliveries (`mode`); the broker delivery's own properties are
in test_delivery.py."""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime
from functools import cache
from itertools import islice

import numpy as np
import pytest

from core.clock import IST
from core.config import FeedConfig
from core.domain import FeedStatus, InstrumentInfo, MarketStatus, Tick
from core.errors import ConfigError
from core.feed import market_model as mm
from core.feed.pacing import Pacer
from core.feed.sim_market import RATE
from core.feed.simulator import Simulator
from core.market_calendar import MarketCalendar, expiry_close_epoch
from core.state.market_state import MarketStateManager

CAL = MarketCalendar.default()
DAY = date(2026, 12, 2)  # a Wednesday, ordinary trading day
OPEN = datetime(2026, 12, 2, 9, 15, tzinfo=IST).timestamp()
CONFIG = FeedConfig(speed=0, seed=11)
MODES = ("broker", "sync")
LOTS = {"NIFTY": 65, "BANKNIFTY": 30}
STEPS = {"NIFTY": 50.0, "BANKNIFTY": 100.0}


def make_sim(scenario_obj=None, start_today=DAY, **overrides) -> Simulator:
    return Simulator(replace(CONFIG, **overrides), CAL, today=start_today, scenario=scenario_obj)


def ticks_of(batches) -> list[Tick]:
    return [item for batch in batches for item in batch if type(item) is Tick]


@pytest.fixture(scope="module", params=MODES)
def mode(request) -> str:
    return request.param


@cache
def twenty_minutes(mode: str) -> list[list]:
    """Twenty minutes of event time, both symbols."""
    return list(make_sim(delivery=mode).batches(until_ts=OPEN + 1200))


@pytest.fixture(scope="module")
def run20(mode) -> list[list]:
    return twenty_minutes(mode)


def chain(batches, symbol: str) -> tuple[float, list[Tick]]:
    """(spot, every leg's latest tick) after `batches`: what a client holding the chain sees."""
    spot, legs = math.nan, {}
    for t in ticks_of(batches):
        if t.symbol == symbol:
            if t.right:
                legs[t.key] = t
            else:
                spot = t.ltp
    return spot, list(legs.values())


def head(sim: Simulator, n: int) -> list[list]:
    return list(islice(sim.batches(), n))


@pytest.mark.parametrize("mode", MODES)
def test_same_seed_gives_identical_batches_and_another_seed_does_not(mode):
    a, b = head(make_sim(delivery=mode), 400), head(make_sim(delivery=mode), 400)
    assert a == b
    c = head(make_sim(seed=12, delivery=mode), 400)
    assert len(c) == len(a) and ticks_of(c) != ticks_of(a)


@pytest.mark.parametrize("mode", MODES)
def test_symbol_paths_do_not_depend_on_which_other_symbols_run(mode):
    both = [t for t in ticks_of(make_sim(delivery=mode).batches(OPEN + 25)) if t.symbol == "NIFTY"]
    alone = ticks_of(make_sim(symbols=("NIFTY",), delivery=mode).batches(OPEN + 25))
    assert both == alone


def test_first_batch_announces_instruments_status_then_a_full_chain(run20):
    first = run20[0]
    infos = [i for i in first[:2] if isinstance(i, InstrumentInfo)]
    assert [i.symbol for i in infos] == ["NIFTY", "BANKNIFTY"]
    assert first[2] == MarketStatus("OPEN", OPEN)
    for info in infos:
        assert info.lot_size == LOTS[info.symbol] and info.strike_step == STEPS[info.symbol]
        assert list(info.expiries) == CAL.expiries(info.symbol, DAY, 2)
        legs = [t for t in first if type(t) is Tick and t.symbol == info.symbol and t.right]
        under = [t for t in first if type(t) is Tick and t.symbol == info.symbol and not t.right]
        assert len(under) == 1 and len(legs) == 2 * 81 * 2
        for expiry in info.expiries:
            strikes = sorted({t.strike for t in legs if t.expiry == expiry})
            assert len(strikes) == 81
            assert np.allclose(np.diff(strikes), info.strike_step)
            assert abs(strikes[40] - under[0].ltp) <= info.strike_step / 2


def test_oi_is_massed_above_spot_for_calls_and_below_for_puts(run20):
    for batches in (run20[:1], run20):
        for symbol in ("NIFTY", "BANKNIFTY"):
            s, legs = chain(batches, symbol)
            assert len(legs) == 324
            call_up = sum(t.oi for t in legs if t.right == "CE" and t.strike > s)
            call_dn = sum(t.oi for t in legs if t.right == "CE" and t.strike < s)
            put_up = sum(t.oi for t in legs if t.right == "PE" and t.strike > s)
            put_dn = sum(t.oi for t in legs if t.right == "PE" and t.strike < s)
            assert call_up > 3 * call_dn and put_dn > 3 * put_up


def test_oi_steps_near_the_money_are_small_drifts_not_noise(run20):
    """A real chain's 3-minute OI step moves a near-money strike by a few tenths of a percent; the
    bulk of the steps must stay well under 2 % (the old +-1.5 % noise put a third of them above)."""
    spot: dict[str, float] = {}
    last: dict = {}
    rel: dict[str, list[float]] = defaultdict(list)
    for t in ticks_of(run20):
        if not t.right:
            spot[t.symbol] = t.ltp
            continue
        key = (t.symbol, t.key)
        old = last.get(key)
        near = abs(t.strike - spot[t.symbol]) <= 5 * STEPS[t.symbol]
        if old and t.oi != old and near:
            rel[t.symbol].append((t.oi - old) / old)
        last[key] = t.oi
    for symbol in ("NIFTY", "BANKNIFTY"):
        steps = np.abs(np.array(rel[symbol]))
        assert len(steps) > 50
        assert np.percentile(steps, 95) < 0.02 and np.median(steps) < 0.01


def test_volume_accumulates_and_never_decreases_within_a_session(run20):
    last: dict = {}
    for t in ticks_of(run20):
        if t.right:
            assert t.volume >= last.get((t.symbol, t.key), 0.0)
            last[(t.symbol, t.key)] = t.volume
            assert t.volume % LOTS[t.symbol] == 0
    assert sum(last.values()) > 0


def test_quotes_are_sane_finite_and_on_lot_multiples(run20, mode):
    legs = [t for t in ticks_of(run20) if t.right]
    assert legs
    for t in legs:
        fields = (t.ltp, t.oi, t.volume, t.prev_close, t.prev_oi)
        assert all(v is not None and math.isfinite(v) for v in fields)
        assert t.oi % LOTS[t.symbol] == 0 and t.prev_close > 0 and t.prev_oi >= 0
        assert t.ltp > 0 and abs(t.ltp / mm.TICK_SIZE - round(t.ltp / mm.TICK_SIZE)) < 1e-6
        if t.bid is not None or mode == "sync":  # broker: a few ticks come without their quote
            assert 0 < t.bid < t.ask and math.isfinite(t.ask)
        if t.bid_qty is not None or mode == "sync":
            assert t.bid_qty % LOTS[t.symbol] == 0 and t.ask_qty > 0
        if mode == "sync":  # broker: a leg that has not traded shows its last price, not today's quote
            assert t.bid <= t.ltp <= t.ask


def test_option_prices_respect_the_european_lower_bounds(run20, mode):
    # A broker's quote moves with spot before the next index tick shows it: take spot from the
    # same market's sync run at the step the quote was made in.
    steps = {(t.symbol, t.ts): t.ltp for t in ticks_of(twenty_minutes("sync")) if not t.right}
    spot = {}
    for t in ticks_of(run20):
        if mode == "broker" and t.right:
            spot[t.symbol] = steps[(t.symbol, OPEN + math.floor((t.ts - OPEN) / 0.5) * 0.5)]
        if not t.right:
            spot[t.symbol] = t.ltp
            continue
        T = (expiry_close_epoch(t.expiry) - t.ts) / mm.CALENDAR_YEAR_S
        strike_pv = t.strike * math.exp(-RATE * T)
        # European options on the forward: C >= S - K e^-rT, P >= K e^-rT - S (a deep ITM put
        # may trade a little under spot intrinsic, as NSE index puts do).
        bound = max(0.0, spot[t.symbol] - strike_pv if t.right == "CE" else strike_pv - spot[t.symbol])
        if t.ask is None:
            continue
        assert t.ask >= bound - mm.TICK_SIZE
        assert (t.bid + t.ask) / 2 >= bound - mm.TICK_SIZE


def realized_vol(batches) -> float:
    under = [t for t in ticks_of(batches) if not t.right]
    spots, ts = np.array([t.ltp for t in under]), np.array([t.ts for t in under])
    return float(np.std(np.diff(np.log(spots))) * math.sqrt(mm.TRADING_YEAR_S / np.mean(np.diff(ts))))


@pytest.mark.parametrize("mode", MODES)
def test_fixed_regime_scenarios_set_the_volatility(mode):
    runs = {
        name: list(make_sim(scenario=name, symbols=("NIFTY",), delivery=mode).batches(until_ts=OPEN + 900))
        for name in ("calm", "volatile")
    }
    calm, wild = realized_vol(runs["calm"]), realized_vol(runs["volatile"])
    assert 0.06 < calm < 0.13 and wild > 1.8 * calm


def test_unknown_scenario_is_a_config_error():
    with pytest.raises(ConfigError, match="switching"):
        make_sim(scenario="meltdown")


class ShockAt:
    """A tiny scripted scenario: a -2 % shock at one instant and call writing focused on one strike."""

    name = "shock"
    fixed_regime = "calm"

    def __init__(self, at: float, call_flow: float) -> None:
        self.at, self.call_flow = at, call_flow

    def adjust(self, symbol: str, ts: float, spot: float, state: mm.StepState) -> None:
        if ts == self.at:
            state.shock = -0.02
        state.call_oi_flow = self.call_flow
        state.oi_focus = 25500.0


@pytest.mark.parametrize("mode", MODES)
def test_scenario_hooks_override_spot_and_oi_flow(mode):
    at = OPEN + 100.0
    runs = {
        flow: list(
            make_sim(symbols=("NIFTY",), scenario_obj=ShockAt(at, flow), delivery=mode).batches(OPEN + 900)
        )
        for flow in (0.0, 0.3)
    }
    under = [t for t in ticks_of(runs[0.3]) if not t.right]
    before = [t.ltp for t in under if t.ts < at][-1]
    after = next(t.ltp for t in under if t.ts >= at)
    assert math.log(after / before) < -0.015

    def final_oi(flow: float, strike: float, right: str) -> float:
        return [t.oi for t in ticks_of(runs[flow]) if t.strike == strike and t.right == right][-1]

    assert final_oi(0.3, 25500.0, "CE") > 1.5 * final_oi(0.0, 25500.0, "CE")
    assert final_oi(0.3, 26500.0, "CE") < 1.05 * final_oi(0.0, 26500.0, "CE")  # focused, not everywhere
    assert final_oi(0.3, 25000.0, "PE") == final_oi(0.0, 25000.0, "PE")  # puts untouched


def rollover(mode: str) -> list[list]:
    sim = make_sim(symbols=("NIFTY",), start="2026-11-23T15:20:00", delivery=mode)
    return list(sim.batches(until_ts=datetime(2026, 11, 25, 9, 20, tzinfo=IST).timestamp()))


@pytest.mark.parametrize("mode", MODES)
def test_sessions_roll_over_holidays_with_new_expiries_and_reset_volume(mode):
    batches = rollover(mode)
    statuses = [i for b in batches for i in b if isinstance(i, MarketStatus)]
    assert [(s.market, datetime.fromtimestamp(s.ts, IST).isoformat()) for s in statuses] == [
        ("OPEN", "2026-11-23T15:20:00+05:30"),
        ("CLOSED", "2026-11-23T15:30:00+05:30"),
        ("OPEN", "2026-11-25T09:15:00+05:30"),  # 2026-11-24 is a holiday
    ]
    infos = [i for b in batches for i in b if isinstance(i, InstrumentInfo)]
    assert [i.expiries for i in infos] == [
        (date(2026, 11, 23), date(2026, 12, 1)),
        (date(2026, 12, 1), date(2026, 12, 8)),
    ]
    first = ticks_of(batches[:1])
    s0 = first[0].ltp
    expiring_otm = [
        t
        for t in first
        if t.expiry == date(2026, 11, 23) and (t.strike - s0) * (1 if t.right == "CE" else -1) >= 200
    ]
    assert expiring_otm and max(t.ask for t in expiring_otm) <= 0.5  # ten minutes of time value left
    reopen = next(i for i, b in enumerate(batches) if MarketStatus("OPEN", statuses[2].ts) in b)
    before, after = ticks_of(batches[:reopen]), ticks_of(batches[reopen : reopen + 1])
    last_spot = [t.ltp for t in before if not t.right][-1]
    assert next(t.prev_close for t in after if not t.right) == last_spot
    if mode == "broker":  # broker OI may lag at the close; the market is sync's, so compare with it
        sync = rollover("sync")
        i = next(i for i, b in enumerate(sync) if MarketStatus("OPEN", statuses[2].ts) in b)
        assert ticks_of(sync[i : i + 1]) == after  # the next day opens with the same snapshot
        before = ticks_of(sync[:i])
    last_leg = {t.key: t for t in before if t.right}
    for t in after:
        if t.right and t.key in last_leg:
            assert t.volume == 0.0 and t.prev_oi == last_leg[t.key].oi


def test_start_time_is_moved_into_a_session():
    def start(**kw) -> str:
        return datetime.fromtimestamp(make_sim(**kw).start_ts, IST).isoformat()

    assert start(start="2026-12-02T11:00:00") == "2026-12-02T11:00:00+05:30"
    assert start(start="2026-12-02T05:30:00+00:00") == "2026-12-02T11:00:00+05:30"
    assert start(start="2026-12-02T07:00:00") == "2026-12-02T09:15:00+05:30"
    assert start(start="2026-12-05T10:00:00") == "2026-12-07T09:15:00+05:30"  # Saturday
    assert start(start="2026-12-02T16:00:00") == "2026-12-03T09:15:00+05:30"
    assert start(start_today=date(2026, 11, 24)) == "2026-11-25T09:15:00+05:30"  # holiday
    with pytest.raises(ConfigError):
        make_sim(start="tomorrow")


def test_until_ts_ends_the_generator(mode):
    batches = list(make_sim(delivery=mode).batches(until_ts=OPEN + 10))
    ts = [t.ts for t in ticks_of(batches)]
    assert max(ts) <= OPEN + 10
    if mode == "sync":
        assert len(batches) == 21
    else:  # a shorter run is the start of a longer one
        longer = ticks_of(make_sim(delivery=mode).batches(until_ts=OPEN + 60))
        assert ticks_of(batches) == [t for t in longer if t.ts <= OPEN + 10] and max(ts) > OPEN + 9


class RecordingSink:
    def __init__(self, stop: threading.Event, stop_after: int) -> None:
        self.stop, self.stop_after = stop, stop_after
        self.batches: list[list] = []
        self.statuses: list[FeedStatus] = []
        self.first = threading.Event()

    def on_items(self, items) -> None:
        self.batches.append(list(items))
        self.first.set()
        if len(self.batches) >= self.stop_after:
            self.stop.set()

    def on_status(self, status: FeedStatus) -> None:
        self.statuses.append(status)


def test_run_at_speed_zero_delivers_batches_without_pacing_until_stopped(mode):
    sim, stop = make_sim(delivery=mode), threading.Event()
    sink = RecordingSink(stop, stop_after=300)
    sim.run(sink, stop)
    assert sink.batches == head(make_sim(delivery=mode), 300)
    assert [s.state for s in sink.statuses] == ["connected", "stopped"]
    assert sim.stats.frames == 300 and sim.stats.state == "stopped"
    assert sim.stats.items == sum(len(b) for b in sink.batches)
    assert sim.stats.last_event_ts == sink.batches[-1][0].ts
    if mode == "sync":
        assert sim.stats.last_event_ts == OPEN + 299 * 0.5


def test_paced_run_waits_on_stop_so_stopping_ends_it_promptly():
    # At speed 0.0001 the second step is due 5000 s of wall time later: only stop.wait ends it.
    sim, stop = make_sim(speed=0.0001, warmup_s=0.0), threading.Event()
    sink = RecordingSink(stop, stop_after=10**9)
    thread = threading.Thread(target=sim.run, args=(sink, stop))
    thread.start()
    assert sink.first.wait(timeout=30)
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(sink.batches) == 1 and sink.statuses[-1].state == "stopped"


def test_pacer_maps_event_time_to_wall_time_and_skips_overnight_gaps():
    now = [100.0]
    pacer = Pacer(2.0, clock=lambda: now[0])
    assert pacer.delay(1000.0) == 0.0
    assert pacer.delay(1001.0) == pytest.approx(0.5)  # 1 s of event time at 2x
    now[0] = 101.0
    assert pacer.delay(1004.0) == pytest.approx(1.0)  # due at 102, now 101
    now[0] = 110.0
    assert pacer.delay(1005.0) == 0.0  # behind schedule: deliver at once
    assert pacer.delay(60_000.0) == 0.0  # next session: re-anchored, not waited out
    assert pacer.delay(60_002.0) == pytest.approx(1.0)
    assert Pacer(0.0).delay(5.0) == 0.0
    replay = Pacer(1.0, clock=lambda: now[0], reanchor_gap_s=1800.0)  # a gap under 30 min is paced
    assert (replay.delay(0.0), replay.delay(300.0), replay.delay(60_000.0)) == (0.0, 300.0, 0.0)


def test_describe_names_the_run():
    text = make_sim(scenario="volatile").describe()
    assert Simulator.mode == "SIMULATED"
    assert "scenario=volatile" in text and "seed=11" in text and "NIFTY,BANKNIFTY" in text
    assert "delivery=broker" in text and "delivery=sync" in make_sim(delivery="sync").describe()
    assert "warmup=900s" in text and "warmup=0s" in make_sim(warmup_s=0.0).describe()


def test_simulated_chain_lands_whole_in_the_market_state_manager(run20, mode):
    msm = MarketStateManager(["NIFTY", "BANKNIFTY"], calendar=CAL)
    for batch in run20:
        msm.apply(batch)
        msm.publish()
    assert msm.stats()["out_of_order"] == 0 and msm.stats()["dropped_legs"] == 0
    for symbol in ("NIFTY", "BANKNIFTY"):
        snap = msm.snapshot(symbol)
        assert len(snap.legs) == 324 and snap.market == "OPEN"
        assert (snap.lot_size, snap.strike_step) == (LOTS[symbol], STEPS[symbol])
        assert list(snap.expiries) == CAL.expiries(symbol, DAY, 2)
        assert abs(snap.atm_strike - snap.spot) <= 0.6 * snap.strike_step
        assert snap.spot_prev_close is not None
        assert snap.ts == OPEN + 1200 if mode == "sync" else OPEN + 1199 < snap.ts <= OPEN + 1200
