"""Simulator: determinism, chain shape, OI steps, quotes, sessions, scenarios and event-time pacing."""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pytest
from vollib.black import black

from core.clock import IST
from core.config import FeedConfig
from core.domain import FeedStatus, InstrumentInfo, MarketStatus, Tick
from core.errors import ConfigError
from core.feed import market_model as mm
from core.feed.simulator import RATE, Pacer, Simulator
from core.market_calendar import MarketCalendar, expiry_close_epoch
from core.state.market_state import MarketStateManager

CAL = MarketCalendar.default()
DAY = date(2026, 12, 2)  # a Wednesday, ordinary trading day
OPEN = datetime(2026, 12, 2, 9, 15, tzinfo=IST).timestamp()
CONFIG = FeedConfig(speed=0, seed=11)
LOTS = {"NIFTY": 65, "BANKNIFTY": 30}
STEPS = {"NIFTY": 50.0, "BANKNIFTY": 100.0}


def make_sim(**overrides) -> Simulator:
    kwargs = {k: overrides.pop(k) for k in ("scenario_obj", "start_today") if k in overrides}
    return Simulator(
        replace(CONFIG, **overrides),
        CAL,
        today=kwargs.get("start_today", DAY),
        scenario=kwargs.get("scenario_obj"),
    )


def ticks_of(batches) -> list[Tick]:
    return [item for batch in batches for item in batch if type(item) is Tick]


@pytest.fixture(scope="module")
def run20() -> list[list]:
    """Twenty minutes of event time, both symbols."""
    return list(make_sim().batches(until_ts=OPEN + 1200))


def head(sim: Simulator, n: int) -> list[list]:
    out = []
    for batch in sim.batches():
        out.append(batch)
        if len(out) == n:
            return out
    return out


def test_same_seed_gives_identical_batches_and_another_seed_does_not():
    a, b = head(make_sim(), 400), head(make_sim(), 400)
    assert a == b
    c = head(make_sim(seed=12), 400)
    assert len(c) == len(a) and ticks_of(c) != ticks_of(a)


def test_symbol_paths_do_not_depend_on_which_other_symbols_run():
    both = [t for t in ticks_of(head(make_sim(), 50)) if t.symbol == "NIFTY"]
    alone = ticks_of(head(make_sim(symbols=("NIFTY",)), 50))
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
    for batch in (run20[0], run20[-1]):
        for symbol in ("NIFTY", "BANKNIFTY"):
            s = next(t.ltp for t in batch if type(t) is Tick and t.symbol == symbol and not t.right)
            legs = [t for t in batch if type(t) is Tick and t.symbol == symbol and t.right]
            if len(legs) < 324:
                continue
            call_up = sum(t.oi for t in legs if t.right == "CE" and t.strike > s)
            call_dn = sum(t.oi for t in legs if t.right == "CE" and t.strike < s)
            put_up = sum(t.oi for t in legs if t.right == "PE" and t.strike > s)
            put_dn = sum(t.oi for t in legs if t.right == "PE" and t.strike < s)
            assert call_up > 3 * call_dn and put_dn > 3 * put_up


def test_oi_peaks_at_round_strikes():
    K = 25000.0 + 50.0 * np.arange(-20, 21)
    prof = mm.oi_profile(K, 25000.0, 50.0, np.ones(len(K), bool))
    # 25500 (a 10-step multiple) beats its neighbours despite being further out.
    i = int(np.flatnonzero(K == 25500.0)[0])
    assert prof[i] > prof[i - 1] and prof[i] > prof[i + 1]


def test_oi_moves_only_in_steps_about_three_minutes_apart(run20):
    last: dict = {}
    changes: dict[str, list[float]] = defaultdict(list)
    for batch in run20:
        for t in batch:
            if type(t) is Tick and t.right:
                key = (t.symbol, t.key)
                if key in last and last[key] != t.oi:
                    changes[t.symbol].append(t.ts)
                last[key] = t.oi
    for symbol in ("NIFTY", "BANKNIFTY"):
        steps = sorted(set(changes[symbol]))
        assert len(steps) >= 5  # 20 minutes / at most 210 s
        assert min(np.diff(steps)) >= 150.0
        for ts in steps:  # every OI step is a full refresh, so the whole chain moves together
            batch = next(b for b in run20 if any(type(t) is Tick and t.ts == ts for t in b))
            assert sum(1 for t in batch if type(t) is Tick and t.symbol == symbol and t.right) == 324


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


def test_quotes_are_sane_finite_and_on_lot_multiples(run20):
    legs = [t for t in ticks_of(run20) if t.right]
    assert legs
    for t in legs:
        fields = (t.ltp, t.bid, t.ask, t.oi, t.volume, t.prev_close, t.prev_oi, t.bid_qty, t.ask_qty)
        assert all(v is not None and math.isfinite(v) for v in fields)
        assert 0 < t.bid < t.ask and t.bid <= t.ltp <= t.ask
        assert t.bid_qty % LOTS[t.symbol] == 0 and t.ask_qty > 0 and t.oi % LOTS[t.symbol] == 0
        assert t.prev_close > 0 and t.prev_oi >= 0


def test_option_prices_respect_the_european_lower_bounds(run20):
    spot = {}
    for t in ticks_of(run20):
        if not t.right:
            spot[t.symbol] = t.ltp
            continue
        T = (expiry_close_epoch(t.expiry) - t.ts) / mm.CALENDAR_YEAR_S
        strike_pv = t.strike * math.exp(-RATE * T)
        # European options on the forward: C >= S - K e^-rT, P >= K e^-rT - S (a deep ITM put
        # may trade a little under spot intrinsic, as NSE index puts do).
        bound = max(0.0, spot[t.symbol] - strike_pv if t.right == "CE" else strike_pv - spot[t.symbol])
        assert t.ask >= bound - mm.TICK_SIZE
        assert (t.bid + t.ask) / 2 >= bound - mm.TICK_SIZE


def test_spreads_widen_out_of_the_money_and_in_volatile_regimes():
    calm = mm.RegimeChain(np.random.default_rng(1), "calm", True).fill(mm.REGIMES["calm"])
    wild = mm.RegimeChain(np.random.default_rng(1), "volatile", True).fill(mm.REGIMES["volatile"])
    K = np.array([25000.0, 26000.0])
    price = np.array([200.0, 200.0])
    bid, ask = mm.quote(price, K, 25000.0, 50.0, calm)
    wbid, wask = mm.quote(price, K, 25000.0, 50.0, wild)
    assert ask[1] - bid[1] > ask[0] - bid[0]
    assert wask[0] - wbid[0] > ask[0] - bid[0]


def test_black76_matches_vollib():
    F, T, r = 25100.0, 9 / 365, 0.055
    K = np.array([24000.0, 25000.0, 26000.0])
    sigma = np.array([0.15, 0.12, 0.11])
    for is_call, flag in ((True, "c"), (False, "p")):
        ours = mm.black76(np.full(3, is_call), F, K, T, r, sigma)
        ref = [black(flag, F, k, T, r, s) for k, s in zip(K, sigma, strict=True)]
        assert np.allclose(ours, ref, rtol=1e-9, atol=1e-9)


def test_smile_is_skewed_to_puts_and_front_expiry_is_richer_in_volatile_regimes():
    F, T, atm = 25000.0, 14 / 365, 0.12
    iv = mm.smile(np.array([F * 0.95, F, F * 1.05]), F, T, atm)
    assert iv[0] > iv[2] > 0 and abs(iv[1] - atm) < 1e-12
    wild = mm.RegimeChain(np.random.default_rng(1), "volatile", True).fill(mm.REGIMES["volatile"])
    calm = mm.RegimeChain(np.random.default_rng(1), "calm", True).fill(mm.REGIMES["calm"])
    assert mm.atm_iv(0.12, 2 / 365, wild) > mm.atm_iv(0.12, 30 / 365, wild)
    assert mm.atm_iv(0.12, 2 / 365, calm) < mm.atm_iv(0.12, 30 / 365, calm)


def realized_vol(batches) -> float:
    spots = np.array([t.ltp for t in ticks_of(batches) if not t.right])
    return float(np.std(np.diff(np.log(spots))) * math.sqrt(mm.TRADING_YEAR_S / 0.5))


def test_fixed_regime_scenarios_set_the_volatility():
    runs = {
        name: list(make_sim(scenario=name, symbols=("NIFTY",)).batches(until_ts=OPEN + 900))
        for name in ("calm", "volatile")
    }
    calm, wild = realized_vol(runs["calm"]), realized_vol(runs["volatile"])
    assert 0.06 < calm < 0.13 and wild > 1.8 * calm


def test_unknown_scenario_is_a_config_error():
    with pytest.raises(ConfigError, match="switching"):
        make_sim(scenario="meltdown")


def test_switching_regimes_visit_every_regime_while_fixed_never_moves():
    chain = mm.RegimeChain(np.random.default_rng(3), "calm", fixed=False)
    visited = {chain.step(0.5).name for _ in range(200_000)}
    assert visited == set(mm.REGIMES)
    fixed = mm.RegimeChain(np.random.default_rng(3), "trending", fixed=True)
    assert {fixed.step(0.5).name for _ in range(20_000)} == {"trending"}


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


def test_scenario_hooks_override_spot_and_oi_flow():
    at = OPEN + 100.0
    runs = {
        flow: list(make_sim(symbols=("NIFTY",), scenario_obj=ShockAt(at, flow)).batches(OPEN + 900))
        for flow in (0.0, 0.3)
    }
    spots = {t.ts: t.ltp for t in ticks_of(runs[0.3]) if not t.right}
    assert math.log(spots[at] / spots[at - 0.5]) < -0.015

    def final_oi(flow: float, strike: float, right: str) -> float:
        return [t.oi for t in ticks_of(runs[flow]) if t.strike == strike and t.right == right][-1]

    assert final_oi(0.3, 25500.0, "CE") > 1.5 * final_oi(0.0, 25500.0, "CE")
    assert final_oi(0.3, 26500.0, "CE") < 1.05 * final_oi(0.0, 26500.0, "CE")  # focused, not everywhere
    assert final_oi(0.3, 25000.0, "PE") == final_oi(0.0, 25000.0, "PE")  # puts untouched


def test_sessions_roll_over_holidays_with_new_expiries_and_reset_volume():
    sim = make_sim(symbols=("NIFTY",), start="2026-11-23T15:20:00")
    batches = list(sim.batches(until_ts=datetime(2026, 11, 25, 9, 20, tzinfo=IST).timestamp()))
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


def test_until_ts_ends_the_generator():
    batches = list(make_sim().batches(until_ts=OPEN + 10))
    ts = [t.ts for t in ticks_of(batches)]
    assert max(ts) <= OPEN + 10 and len(batches) == 21


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


def test_run_at_speed_zero_delivers_batches_without_pacing_until_stopped():
    sim, stop = make_sim(), threading.Event()
    sink = RecordingSink(stop, stop_after=300)
    sim.run(sink, stop)
    assert sink.batches == head(make_sim(), 300)
    assert [s.state for s in sink.statuses] == ["connected", "stopped"]
    assert sim.stats.frames == 300 and sim.stats.state == "stopped"
    assert sim.stats.items == sum(len(b) for b in sink.batches)
    assert sim.stats.last_event_ts == OPEN + 299 * 0.5


def test_paced_run_waits_on_stop_so_stopping_ends_it_promptly():
    # At speed 0.0001 the second step is due 5000 s of wall time later: only stop.wait ends it.
    sim, stop = make_sim(speed=0.0001), threading.Event()
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


def test_describe_names_the_run():
    text = make_sim(scenario="volatile").describe()
    assert Simulator.mode == "SIMULATED"
    assert "scenario=volatile" in text and "seed=11" in text and "NIFTY,BANKNIFTY" in text


def test_simulated_chain_lands_whole_in_the_market_state_manager(run20):
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
        assert snap.ts == OPEN + 1200 and snap.spot_prev_close is not None
