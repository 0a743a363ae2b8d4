"""ChainObservations: which updates complete an observation of the whole chain, however it is delivered."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.domain import LiveMetrics, frozen_array
from core.engines.observations import ChainObservations
from tests.core.engines.builders import T0, make_metrics


def legs(strikes: np.ndarray, call_ts: np.ndarray, put_ts: np.ndarray, ts: float) -> LiveMetrics:
    """A chain of `strikes` whose legs last reported at `call_ts` / `put_ts` (NaN: not yet)."""
    n = len(strikes)
    full = np.full(n, 1_000_000.0)
    return replace(
        make_metrics(ts=ts),
        strikes=frozen_array(strikes),
        call_oi=frozen_array(full),
        put_oi=frozen_array(full),
        call_ltp=frozen_array(np.full(n, 100.0)),
        put_ltp=frozen_array(np.full(n, 100.0)),
        call_ts=frozen_array(call_ts),
        put_ts=frozen_array(put_ts),
    )


def stream(
    obs: ChainObservations,
    strikes: np.ndarray,
    at: float,
    order: list[int],
    prior: np.ndarray | None = None,
) -> tuple[list[tuple[float, float | None]], np.ndarray]:
    """Report the legs (calls 0..n-1, then puts) one per second from `at` in `order`; the chain's
    strike list holds every strike with a leg that has reported. Returns [(update ts, observed)]
    and the legs' report times."""
    n = len(strikes)
    ts = np.full(2 * n, np.nan) if prior is None else prior.copy()
    out = []
    for k, leg in enumerate(order):
        ts[leg] = at + k
        seen = np.isfinite(ts[:n]) | np.isfinite(ts[n:])
        m = legs(strikes[seen], ts[:n][seen], ts[n:][seen], at + k)
        out.append((at + k, obs.update(m)))
    return out, ts


STRIKES = np.arange(24000.0, 26001.0, 100.0)  # 21 strikes, 42 legs
FEW = np.flatnonzero((STRIKES >= 24900) & (STRIKES <= 25100))  # 3 strikes, 6 legs


def few_legs() -> list[int]:
    return [*FEW, *(len(STRIKES) + FEW)]


def snapshot(strikes: np.ndarray, ts: float) -> LiveMetrics:
    n = len(strikes)
    return legs(strikes, np.full(n, ts), np.full(n, ts), ts)


def test_snapshots_complete_an_observation_each_after_the_first_stamped_with_their_time():
    obs = ChainObservations()
    # The first only establishes which legs the chain has: nothing before it tells it is whole.
    assert obs.update(snapshot(STRIKES, T0)) is None and obs.latest is None
    for ts in (T0 + 60.0, T0 + 120.0):
        assert obs.update(snapshot(STRIKES, ts)) == ts
        assert obs.latest == ts and not obs.closed_before


def test_a_streamed_chain_completes_when_every_leg_of_the_previous_observation_reported_again():
    obs = ChainObservations()
    n = len(STRIKES)
    assert obs.update(snapshot(STRIKES, T0)) is None
    order = list(np.random.default_rng(5).permutation(2 * n))
    out, _ = stream(obs, STRIKES, T0 + 300.0, order, prior=np.full(2 * n, T0))
    done = [(ts, seen) for ts, seen in out if seen is not None]
    # Only the update bringing the 42nd leg completes it, stamped with the first leg's report.
    assert done == [(T0 + 300.0 + 2 * n - 1, T0 + 300.0)]


def test_a_first_observation_streamed_leg_by_leg_only_establishes_the_chain():
    """A stream's first legs are all the chain known so far: nothing is a reading until a whole
    observation after the first, as with snapshots."""
    obs = ChainObservations()
    n = len(STRIKES)
    out, ts = stream(obs, STRIKES, T0, list(np.random.default_rng(2).permutation(2 * n)))
    assert [seen for _, seen in out] == [None] * (2 * n)
    out, _ = stream(obs, STRIKES, T0 + 60.0, list(np.random.default_rng(3).permutation(2 * n)), prior=ts)
    assert [seen for _, seen in out] == [None] * (2 * n - 1) + [T0 + 60.0]


def test_a_chain_that_grows_from_a_few_strikes_starts_its_observations_again():
    """A recording opens with a 6-leg snapshot, then the whole 42-leg chain. Streamed, the 6 legs
    report again early among the 42: the chain is not whole then. The grown chain only
    establishes the legs (as a snapshot too); the next observation of all 42 is the reading."""
    obs = ChainObservations()
    n = len(STRIKES)
    assert obs.update(snapshot(STRIKES[FEW], T0)) is None
    # The whole chain streamed from T0 + 600, the six legs of the first snapshot among the first.
    rest = [i for i in range(2 * n) if i not in few_legs()]
    order = [*rest[:4], *few_legs(), *rest[4:]]
    prior = np.full(2 * n, np.nan)
    prior[few_legs()] = T0
    out, ts = stream(obs, STRIKES, T0 + 600.0, order, prior=prior)
    assert [seen for _, seen in out] == [None] * len(order)
    # The next snapshot's stream: its first report ends the grown observation (no reading), and
    # its last completes the first whole observation of all 42 legs.
    out, _ = stream(obs, STRIKES, T0 + 900.0, list(range(2 * n)), prior=ts)
    assert [seen for _, seen in out] == [None] * (2 * n - 1) + [T0 + 900.0]


def test_the_grown_chain_delivered_as_snapshots_gives_the_same_observations():
    obs = ChainObservations()
    assert obs.update(snapshot(STRIKES[FEW], T0)) is None
    assert obs.update(snapshot(STRIKES, T0 + 600.0)) is None
    assert obs.update(snapshot(STRIKES, T0 + 900.0)) == T0 + 900.0


def test_a_strike_or_two_joining_the_chain_does_not_hold_the_observation_back():
    obs = ChainObservations()
    n = len(STRIKES)
    inner = np.arange(1, n - 1)  # 19 strikes, 38 legs; the outer two join in the stream
    assert obs.update(snapshot(STRIKES[inner], T0)) is None
    assert obs.update(snapshot(STRIKES[inner], T0 + 60.0)) == T0 + 60.0
    order = [int(i) for i in range(2 * n) if i % n not in (0, n - 1)] + [0, n - 1, n, 2 * n - 1]
    prior = np.full(2 * n, T0 + 60.0)
    prior[[0, n - 1, n, 2 * n - 1]] = np.nan
    out, _ = stream(obs, STRIKES, T0 + 300.0, order, prior=prior)
    done = [(ts, seen) for ts, seen in out if seen is not None]
    assert done == [(T0 + 300.0 + 37, T0 + 300.0)]  # whole once its 38 legs reported again


def test_snapshots_that_each_carry_part_of_the_chain_are_read_as_of_their_own_update():
    """A source that lists only the legs that traded: a snapshot of 16 of the 42 legs, then one
    of all 42. The first observation ends with the 16-leg snapshot: the legs it lacked ticked
    with the re-reports of the next one, so it is not completed with the later chain."""
    obs = ChainObservations()
    n = len(STRIKES)
    ts = np.full(2 * n, T0)
    assert obs.update(legs(STRIKES, ts[:n], ts[n:], T0)) is None
    ts[:16] = T0 + 300.0
    assert obs.update(legs(STRIKES, ts[:n], ts[n:], T0 + 300.0)) is None
    ts[:] = T0 + 600.0
    assert obs.update(legs(STRIKES, ts[:n], ts[n:], T0 + 600.0)) == T0 + 300.0
    assert obs.closed_before


def test_an_update_is_settled_when_its_chain_is_a_whole_observation():
    """What a pattern waits for: a snapshot's update is whole at once; a stream's update is whole
    when it completes the observation with its own reports, not when a leg reporting again
    closes one that ended before it."""
    obs = ChainObservations()
    n = len(STRIKES)
    obs.update(snapshot(STRIKES, T0))
    assert obs.settled  # the first snapshot: no reading, but its chain came whole
    settled = []
    ts = np.full(2 * n, T0)
    for k, leg in enumerate(range(2 * n - 1)):  # one leg (the last put) stops reporting
        ts[leg] = T0 + 60.0 + k
        obs.update(legs(STRIKES, ts[:n], ts[n:], T0 + 60.0 + k))
        settled.append(obs.settled)
    assert not any(settled)
    ts[0] = T0 + 120.0  # a leg reports again: the observation as of the update before closes
    assert obs.update(legs(STRIKES, ts[:n], ts[n:], T0 + 120.0)) == T0 + 60.0
    assert obs.closed_before and not obs.settled
