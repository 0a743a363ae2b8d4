"""When the simulated market reaches the feed: `sync` (whole-chain steps) or `broker` (leg by leg).

The market (core/feed/sim_market.py) moves spot, prices, OI and volume on a fixed event-time grid;
for a seed it is the same market in both modes. A delivery decides only when each value is sent.

- sync (the simulator's first delivery): every step carries the underlying and a random set of legs,
  all stamped with the step's instant; the whole chain at every OI step and every FULL_REFRESH_S.
- broker (the default), as Kite or Upstox stream a chain: each leg trades as its own Poisson process
  whose rate falls with the distance from the money (an ATM leg a few times a second, far wings once
  in minutes or not at all in a session); the underlying ticks about once a second; each leg's OI
  arrives at its own offset within the exchange's OI cycle; a leg that has not traded keeps its last
  price; now and then a tick comes without its quote or its depth. Every tick has its own moment
  (whole milliseconds); ticks are grouped into SLICE_MS event-time slices, one batch each.
Both open a session with a whole-chain snapshot, as a broker sends on subscribe.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

from core.domain import FeedItem, MarketStatus, Tick
from core.feed import market_model as mm

if TYPE_CHECKING:
    from core.feed.sim_market import Book, SymbolMarket

FULL_REFRESH_S = 60.0  # sync: the whole chain again at least this often
SLICE_MS = 250  # broker: ticks within one slice of event time are one batch
SPOT_GAP_MS = (750, 1251)  # broker: the index value arrives about once a second
# Trades per second of one leg: TRADE_ATM_PER_S x expiry weight x regime activity x the leg's own
# interest x [a Gaussian core of TRADE_CORE_STRIKES + a thin exponential tail]. Calm, front expiry:
# ATM ~2/s, 10 strikes out ~1 per 20 s, 20 out ~1 per 10 min, 40 out about once a session.
TRADE_ATM_PER_S = 2.5
TRADE_CORE_STRIKES = 3.5
TRADE_TAIL, TRADE_TAIL_STRIKES = 0.03, 5.3
TRADE_MAX_PER_S = 4.0
INTEREST_SD = 0.4  # log-sd of a leg's trading interest against its neighbours
# Each leg's OI goes out at its own offset after the exchange's OI step: a fixed fraction of
# OI_LAG_MAX_S (0.9 of the shortest ~3-minute cycle), or of OI_SPREAD of a script's faster cycle,
# so every leg still sees every step and keeps the exchange's cadence.
OI_LAG_MAX_S, OI_SPREAD = 135.0, 0.9
P_NO_QUOTE, P_NO_DEPTH = 0.01, 0.02  # a tick without bid/ask/depth; one without depth only
DELIVERY_STREAM = 1  # keeps the delivery's random stream apart from the market's


def underlying_tick(sim: SymbolMarket, ts: float) -> Tick:
    prev = round(sim.spot_prev_close, 2)
    return Tick(symbol=sim.symbol, ts=ts, ltp=round(sim.spot, 2), recv_ts=ts, prev_close=prev)


def sync_ticks(sim: SymbolMarket, ts: float, full: bool) -> list[Tick]:
    """The underlying tick and the option legs that traded this step (all legs when `full`)."""
    out = [underlying_tick(sim, ts)]
    symbol = sim.symbol
    for b in sim.books:
        q = sim.quotes(b, full)
        strikes, rights, expiry = b.strikes, b.rights, b.expiry
        cols = zip(
            q.idx.tolist(), q.ltp.tolist(), q.bid.tolist(), q.ask.tolist(), q.depth.tolist(),
            b.oi[q.idx].tolist(), b.volume[q.idx].tolist(), b.prev_close[q.idx].tolist(),
            b.prev_oi[q.idx].tolist(), strict=True,
        )  # fmt: skip
        # Positional, in Tick's field order (symbol, ts, ltp, recv_ts, expiry, strike, right, oi,
        # volume, bid, ask, bid_qty, ask_qty, prev_close, prev_oi): the simulator builds tens of
        # thousands of ticks a simulated minute, and keywords cost a quarter of each construction.
        out.extend(
            Tick(symbol, ts, lt, ts, expiry, strikes[i], rights[i], oi, vol, bd, ak, bq, aq, pc, poi)
            for i, lt, bd, ak, (bq, aq), oi, vol, pc, poi in cols
        )
    return out


def _opening(sims: list[SymbolMarket], ts: float) -> tuple[list[FeedItem], list[list[Tick]]]:
    """The session's first batch: instruments, OPEN and every symbol's whole chain at `ts`."""
    batch: list[FeedItem] = [sim.info() for sim in sims]
    batch.append(MarketStatus("OPEN", ts))
    chains = [sync_ticks(sim, ts, full=True) for sim in sims]
    for chain in chains:
        batch.extend(chain)
    return batch, chains


def _steps(
    sims: list[SymbolMarket], ts: float, close_ts: float, until_ts: float | None, step_s: float
) -> Iterator[tuple[float, list[tuple[SymbolMarket, bool, bool]]]]:
    """Advance every symbol's market one step at a time after `ts`; yields (now, [(sim, OI step,
    whole chain due)]). Both deliveries step through this, so the market's draws are the same."""
    next_full = ts + FULL_REFRESH_S
    end = close_ts if until_ts is None else min(close_ts, until_ts + step_s)
    step = 1
    while True:
        now = ts + step * step_s
        if now >= end:
            return
        refresh = now >= next_full
        if refresh:
            next_full = now + FULL_REFRESH_S
        steps = []
        for sim in sims:
            oi_step = sim.advance(now, step_s)
            steps.append((sim, oi_step, refresh or oi_step))
        yield now, steps
        step += 1


def sync_session(
    sims: list[SymbolMarket], ts: float, close_ts: float, until_ts: float | None, step_s: float
) -> Iterator[list[FeedItem]]:
    """One session in sync delivery: one batch per step, every tick stamped with the step's instant."""
    yield _opening(sims, ts)[0]
    for now, steps in _steps(sims, ts, close_ts, until_ts, step_s):
        batch: list[FeedItem] = []
        for sim, _, full in steps:
            batch.extend(sync_ticks(sim, now, full))
        yield batch


def broker_session(
    sims: list[SymbolMarket],
    deliveries: list[BrokerDelivery],
    ts: float,
    close_ts: float,
    until_ts: float | None,
    step_s: float,
) -> Iterator[list[FeedItem]]:
    """One session in broker delivery: the opening snapshot, then each step's ticks at their own
    moments within [step, step + step_s), batched by event-time slice (none at or after the close,
    none after `until_ts`)."""
    batch, chains = _opening(sims, ts)
    for sim, delivery, chain in zip(sims, deliveries, chains, strict=True):
        delivery.open(sim, chain)
    yield batch
    limit_ms = _ms(close_ts) if until_ts is None else min(_ms(close_ts), _ms(until_ts) + 1)
    step_ms = _ms(step_s)
    yield from _slices(deliveries, sims, _ms(ts), _ms(ts) + 1, step_ms, limit_ms)
    for now, steps in _steps(sims, ts, close_ts, until_ts, step_s):
        for (sim, oi_step, full), delivery in zip(steps, deliveries, strict=True):
            for b in sim.books:
                sim.quote_draws(b, full)  # the market's draws, made and discarded
            if oi_step:
                delivery.schedule_oi(sim, now)
        yield from _slices(deliveries, sims, _ms(now), _ms(now), step_ms, limit_ms)


def _slices(
    deliveries: list[BrokerDelivery],
    sims: list[SymbolMarket],
    base_ms: int,
    start_ms: int,
    step_ms: int,
    limit_ms: int,
) -> Iterator[list[FeedItem]]:
    """Every symbol's ticks in [start_ms, base_ms + step_ms) in event-time order, one batch per slice.
    A step is drawn whole and then cut at `limit_ms`, so a shorter run is a prefix of a longer one."""
    events: list[tuple[int, Tick]] = []
    for delivery, sim in zip(deliveries, sims, strict=True):
        events.extend(e for e in delivery.window(sim, start_ms, base_ms + step_ms) if e[0] < limit_ms)
    events.sort(key=itemgetter(0))  # stable: ties keep symbol order, then each symbol's own order
    batch: list[FeedItem] = []
    edge = base_ms + SLICE_MS
    for ms, tick in events:
        if ms >= edge:
            if batch:
                yield batch
            batch = []
            edge = base_ms + ((ms - base_ms) // SLICE_MS + 1) * SLICE_MS
        batch.append(tick)
    if batch:
        yield batch


def _ms(seconds: float) -> int:
    return round(seconds * 1000.0)


def trade_rate(K: np.ndarray, spot: float, step: float, scale: float) -> np.ndarray:
    """Trades per second of each leg before its own interest: falls with the distance from spot in
    strikes; `scale` is the expiry's weight times the regime's activity."""
    d = np.abs(K - spot) / step
    shape = np.exp(-0.5 * (d / TRADE_CORE_STRIKES) ** 2) + TRADE_TAIL * np.exp(-d / TRADE_TAIL_STRIKES)
    return TRADE_ATM_PER_S * scale * shape


@dataclass(slots=True)
class _Legs:
    """What a broker has sent of one book's legs, and when each leg's next OI goes out."""

    interest: np.ndarray  # per-leg trading interest (lognormal around 1), fixed for the book's life
    oi_phase: np.ndarray  # per-leg offset within the OI cycle, 0..1, fixed for the book's life
    oi: list[float]  # OI as last published
    ltp: list[float]  # last traded price
    oi_due_ms: np.ndarray  # when this leg's pending OI goes out (inf = nothing pending)


class BrokerDelivery:
    """Broker-style delivery of one symbol, with its own seeded generator (the market's is untouched)."""

    def __init__(self, symbol: str, seed: int) -> None:
        self.rng = np.random.default_rng([seed, zlib.crc32(symbol.encode()), DELIVERY_STREAM])
        self.legs: dict[date, _Legs] = {}
        self.next_spot_ms = 0

    def open(self, sim: SymbolMarket, chain: list[Tick]) -> None:
        """Start a session from the opening snapshot `chain` (what every leg last showed)."""
        ltp = {t.key: t.ltp for t in chain if t.right}
        kept, self.legs = self.legs, {}
        for b in sim.books:
            n = len(b.K)
            old = kept.get(b.expiry)
            interest = old.interest if old else np.exp(INTEREST_SD * self.rng.standard_normal(n))
            phase = old.oi_phase if old else self.rng.random(n)
            last = [ltp[(b.expiry, k, r)] for k, r in zip(b.strikes, b.rights, strict=True)]
            self.legs[b.expiry] = _Legs(interest, phase, b.oi.tolist(), last, np.full(n, np.inf))
        self.next_spot_ms = _ms(chain[0].ts) + int(self.rng.integers(*SPOT_GAP_MS))

    def schedule_oi(self, sim: SymbolMarket, now: float) -> None:
        """The exchange's OI step at `now`: each leg's goes out at its own offset within the cycle.
        A leg still waiting from an earlier step keeps its earlier moment and sends the newest OI."""
        cycle_ms = 1000.0 * min(OI_LAG_MAX_S, OI_SPREAD * max(sim.oi_due() - now, 0.0))
        for b in sim.books:
            legs = self.legs[b.expiry]
            due = _ms(now) + np.floor(legs.oi_phase * cycle_ms)
            np.minimum(legs.oi_due_ms, due, out=legs.oi_due_ms)

    def window(self, sim: SymbolMarket, start_ms: int, end_ms: int) -> list[tuple[int, Tick]]:
        """This symbol's ticks in [start_ms, end_ms), in event-time order, from the market as it is now."""
        out: list[tuple[int, Tick]] = []
        while self.next_spot_ms < end_ms:
            out.append((self.next_spot_ms, underlying_tick(sim, self.next_spot_ms / 1000.0)))
            self.next_spot_ms += int(self.rng.integers(*SPOT_GAP_MS))
        for b in sim.books:
            out.extend(self._book_window(sim, b, start_ms, end_ms))
        out.sort(key=itemgetter(0))
        return out

    def _book_window(self, sim: SymbolMarket, b: Book, start_ms: int, end_ms: int) -> list[tuple[int, Tick]]:
        legs = self.legs[b.expiry]
        idx, at_ms, is_trade = self._events(sim, b, legs, start_ms, end_ms)
        K = b.K[idx]
        bid, ask = mm.quote(np.maximum(b.price[idx], mm.TICK_SIZE), K, sim.spot, sim.step, sim.state)
        # The book's liquidity at this spot, already computed by the step: the same bits as
        # mm.liquidity(K) (element by element, as numpy's exp is; checked over the simulator's runs).
        liq = sim.liquidity(b)[idx]
        depth = mm.depth_lots(self.rng, liq.repeat(2).reshape(-1, 2), sim.state) * sim.lot
        buyer = (self.rng.random(len(idx)) < 0.5).tolist()
        missing = self.rng.random(len(idx)).tolist()
        cols = zip(
            idx.tolist(), at_ms.tolist(), is_trade.tolist(), buyer, bid.tolist(), ask.tolist(),
            depth.tolist(), b.oi[idx].tolist(), b.volume[idx].tolist(), b.prev_close[idx].tolist(),
            b.prev_oi[idx].tolist(), missing, strict=True,
        )  # fmt: skip
        symbol, expiry, strikes, rights = sim.symbol, b.expiry, b.strikes, b.rights
        ltp, oi = legs.ltp, legs.oi
        no_depth = P_NO_QUOTE + P_NO_DEPTH
        out = []
        for i, ms, trade, buy, bd, ak, (bq, aq), new_oi, vol, pc, poi, gone in cols:
            if trade:
                ltp[i] = ak if buy else bd  # a buyer lifts the ask, a seller hits the bid
            else:
                oi[i] = new_oi
            if gone < no_depth:
                bq = aq = None
                if gone < P_NO_QUOTE:
                    bd = ak = None
            ts = ms / 1000.0
            tick = Tick(
                symbol, ts, ltp[i], ts, expiry, strikes[i], rights[i], oi[i], vol, bd, ak, bq, aq, pc, poi
            )
            out.append((ms, tick))  # positional Tick as in sync_ticks
        return out

    def _events(
        self, sim: SymbolMarket, b: Book, legs: _Legs, start_ms: int, end_ms: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(leg index, moment in ms, is a trade) of this book's ticks in [start_ms, end_ms), in time
        order: each leg's trades (Poisson at its own rate) and the OI publications that fall due."""
        rate = trade_rate(b.K, sim.spot, sim.step, b.weight * sim.state.activity) * legs.interest
        counts = self.rng.poisson(np.minimum(rate, TRADE_MAX_PER_S) * (end_ms - start_ms) / 1000.0)
        traded = np.arange(len(b.K)).repeat(counts)
        trade_ms = self.rng.integers(start_ms, end_ms, len(traded))
        published = (legs.oi_due_ms < end_ms).nonzero()[0]
        if not len(published):  # most windows: trades only, already in their legs' order
            order = trade_ms.argsort(kind="stable")
            return traded[order], trade_ms[order], np.ones(len(order), dtype=bool)
        oi_ms = np.maximum(legs.oi_due_ms[published], start_ms).astype(np.int64)
        legs.oi_due_ms[published] = np.inf
        idx = np.concatenate([published, traded])
        at_ms = np.concatenate([oi_ms, trade_ms])
        is_trade = np.arange(len(idx)) >= len(published)
        order = np.lexsort((is_trade, at_ms))  # by time; an OI and a trade at one moment: OI first
        return idx[order], at_ms[order], is_trade[order]
