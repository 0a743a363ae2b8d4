"""The embedded market simulator: a seeded, event-time option market that speaks the Feed contract.

core/feed/sim_market.py owns each index's market (spot, IV, OI and volume of every leg on a fixed
event-time grid), this module the sessions and the feed around them, and core/feed/delivery.py
decides when each leg's values reach the feed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime

from core.clock import IST
from core.config import FeedConfig
from core.domain import FeedItem, FeedStatus, InstrumentInfo, MarketStatus
from core.errors import ConfigError
from core.feed import market_model as mm
from core.feed.base import FeedSink, FeedStats
from core.feed.delivery import BrokerDelivery, broker_session, sync_session
from core.feed.pacing import Pacer
from core.feed.scenarios import SCENARIOS
from core.feed.sim_market import RATE, SymbolMarket
from core.market_calendar import MarketCalendar


def scenario_for(name: str) -> mm.Scenario:
    """A fresh scenario from the library (core.feed.scenarios.SCENARIOS); unknown names list the known."""
    if name not in SCENARIOS:
        raise ConfigError(f"unknown simulator scenario {name!r}: use one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name]()


class Simulator:
    """A deterministic simulated NSE index-options market (SPEC 3.2).

    `batches()` is a pure generator of event-time batches (no sleeping); `run` paces it at
    `config.speed` x wall time (0 = as fast as possible) and delivers to a FeedSink. Each session
    opens with `config.warmup_s` of the baseline market before the script (`script_start_ts` in
    the first), which `run` delivers unpaced: charts and engines start with that much history.
    """

    mode = "SIMULATED"

    def __init__(
        self,
        config: FeedConfig,
        calendar: MarketCalendar | None = None,
        *,
        today: date | None = None,
        scenario: mm.Scenario | None = None,
        step_s: float = 0.5,
    ) -> None:
        if step_s <= 0:
            raise ConfigError(f"simulator step must be positive, got {step_s}")
        self.config = config
        self.calendar = calendar or MarketCalendar.default()
        self.scenario = scenario or scenario_for(config.scenario)
        self.step_s = step_s
        self.stats = FeedStats()
        self.start_ts = self._start_ts(config.start, today)
        self.script_start_ts = self.start_ts + config.warmup_s

    def _start_ts(self, start: str, today: date | None) -> float:
        """config.start (naive = IST) moved into a session, else the next session open from `today`."""
        if start:
            try:
                dt = datetime.fromisoformat(start)
            except ValueError:
                raise ConfigError(f"simulator start {start!r} is not an ISO datetime") from None
            dt = dt.replace(tzinfo=IST) if dt.tzinfo is None else dt
            ts = dt.timestamp()
            if self.calendar.is_open(ts):
                return ts
            day = dt.astimezone(IST).date()
            opens = self.calendar.session_bounds(day)[0].timestamp()
            if self.calendar.is_trading_day(day) and ts < opens:
                return opens
            return self.calendar.session_bounds(self.calendar.next_trading_day(day))[0].timestamp()
        # Wall time chooses only the default start day; the model itself never reads the clock.
        day = today or datetime.now(IST).date()
        if not self.calendar.is_trading_day(day):
            day = self.calendar.next_trading_day(day)
        return self.calendar.session_bounds(day)[0].timestamp()

    def batches(self, until_ts: float | None = None) -> Iterator[list[FeedItem]]:
        """Event-time batches from `start_ts` until `until_ts` (None = forever): one per step in
        sync delivery, one per event-time slice that holds a tick in broker delivery."""
        seed = self.config.seed
        warmup = self.config.warmup_s
        sims = [SymbolMarket(s, seed, self.scenario, RATE, warmup) for s in self.config.symbols]
        broker = [BrokerDelivery(s, seed) for s in self.config.symbols]
        ts = self.start_ts
        first = True
        while until_ts is None or ts <= until_ts:
            day = datetime.fromtimestamp(ts, IST).date()
            open_ts, close_ts = (x.timestamp() for x in self.calendar.session_bounds(day))
            for sim in sims:
                sim.start_session(self.calendar, day, open_ts, ts, first)
            if self.config.delivery == "sync":
                yield from sync_session(sims, ts, close_ts, until_ts, self.step_s)
            else:
                yield from broker_session(sims, broker, ts, close_ts, until_ts, self.step_s)
            first = False
            if until_ts is not None and close_ts > until_ts:
                return
            yield [MarketStatus("CLOSED", close_ts)]
            ts = self.calendar.session_bounds(self.calendar.next_trading_day(day))[0].timestamp()

    def run(self, sink: FeedSink, stop: threading.Event) -> None:
        """Deliver batches to `sink`, pacing event time at `speed` x wall time from each session's
        script start (its warm-up goes out as fast as possible), until `stop` is set."""
        pacer = Pacer(self.config.speed)
        self.stats.state = "connected"
        sink.on_status(FeedStatus("connected", self.describe(), self.start_ts))
        last_ts = self.start_ts
        script_ts = self.script_start_ts
        try:
            for batch in self.batches():
                if stop.is_set():
                    break
                ts = _batch_ts(batch, last_ts)
                script_ts = _script_start(batch, script_ts, self.config.warmup_s)
                # The pacer anchors on the script's first batch: a warm-up costs no wall time.
                delay = pacer.delay(ts) if ts >= script_ts else 0.0
                if delay > 0 and stop.wait(delay):
                    break
                last_ts = ts
                sink.on_items(batch)
                self._count(batch, ts)
        finally:
            self.stats.state = "stopped"
            sink.on_status(FeedStatus("stopped", "simulator stopped", last_ts))

    def _count(self, batch: list[FeedItem], ts: float) -> None:
        self.stats.frames += 1
        self.stats.items += len(batch)
        # No network: receive time equals event time, so the System page shows zero lag.
        self.stats.last_event_ts = self.stats.last_recv_ts = ts

    def describe(self) -> str:
        c = self.config
        start = datetime.fromtimestamp(self.start_ts, IST).isoformat(timespec="seconds")
        speed = "max" if c.speed == 0 else f"{c.speed:g}x"
        return (
            f"simulator symbols={','.join(c.symbols)} scenario={self.scenario.name} seed={c.seed} "
            f"delivery={c.delivery} speed={speed} warmup={c.warmup_s:g}s start={start}"
        )


def _script_start(batch: list[FeedItem], current: float, warmup_s: float) -> float:
    """When the script of this batch's session starts: each OPEN starts a warm-up."""
    for item in batch:
        if type(item) is MarketStatus and item.market == "OPEN":
            return item.ts + warmup_s
    return current


def _batch_ts(batch: list[FeedItem], default: float) -> float:
    for item in batch:
        if not isinstance(item, InstrumentInfo):
            return item.ts
    return default
