"""Complete observations of an option chain that arrives leg by leg (see ChainObservations)."""

from __future__ import annotations

import numpy as np

from core.domain import LiveMetrics


class ChainObservations:
    """Which updates complete an observation of the whole chain, and when that chain was observed.

    A snapshot feed observes every leg at one instant; a broker streams the same chain leg by leg
    over a minute or so, so between two observations the chain is half old, half new. A reading of
    the whole chain (the dealer-gamma regime, the smart-money bias) is a property of the chain's
    observations, not of the moment a half-updated chain crossed a threshold. An observation is
    complete when every leg of the previous one has reported again, or when an update reports
    most of the chain at once (a snapshot: the legs it lacks have left the recorded strikes), or,
    failing both (a leg stopped reporting), when a leg reports a second time: the next observation
    has begun, and the observation is the chain as of the last update that reported into it
    (`closed_before`). The first observation has no previous one to tell when it is whole (the
    feed may begin while it is arriving, and a stream's first leg is "most of the chain" known so
    far), nor has one in which the chain grew by more than half (a session's first snapshot of a
    few strikes, then the whole chain): such an observation only establishes which legs the chain
    has, whatever the delivery; it is never a reading, and the next one is. It is stamped with its
    first leg's report (a snapshot's own time), so a reading's start and end are when the data
    showing them was observed, however long the chain took to arrive. A feed without per-leg tick
    times observes the chain on every update. `settled` says whether an update's own chain is a
    whole observation (a snapshot, or the update that completed one).
    """

    __slots__ = (
        "observed",
        "closed_before",
        "reporting",
        "settled",
        "latest",
        "completed",
        "_strikes",
        "_ts",
        "_reported",
        "_expected",
        "_first_ts",
        "_dated",
    )

    def __init__(self) -> None:
        self.observed: float | None = None  # this update's observation time, None if not complete
        self.closed_before = False  # the observation completed is as of the last reporting update
        self.reporting = False  # this update brought leg reports (into the observation it ends in)
        # This update's chain is a whole observation: one it completed with its own reports, or
        # most of the chain reported at once (a snapshot).
        self.settled = False
        self._strikes: np.ndarray = np.empty(0)
        self._ts: np.ndarray = np.empty(0)  # each leg's last report (calls, then puts)
        self._reported: np.ndarray = np.zeros(0, dtype=bool)  # legs reported in the observation
        self._expected: np.ndarray = np.zeros(0, dtype=bool)  # legs of the previous observation
        self._first_ts: float | None = None  # first report of the observation in progress
        self._dated = False  # _first_ts is a report from a leg of the previous observation
        self.latest: float | None = None  # the latest complete observation's time
        self.completed = 0  # observations completed so far (the one in progress is completed + 1)

    def update(self, m: LiveMetrics) -> float | None:
        """Advance with one metrics update; returns the observation time if it completed one."""
        self.observed, self.closed_before, self.reporting = None, False, False
        self.settled = False
        n = len(m.strikes)
        if not n or len(m.call_ts) != n or len(m.put_ts) != n:
            self.observed, self.reporting, self.settled = m.ts, True, True
            self.completed += 1
            return m.ts
        if not (self._strikes is m.strikes or _same_strikes(self._strikes, m.strikes)):
            self._realign(m.strikes)
        ts = np.concatenate((m.call_ts, m.put_ts))
        finite = np.isfinite(ts)
        with np.errstate(invalid="ignore"):
            new = finite & ~(ts <= self._ts)
        self._ts = ts
        if not new.any():
            return None
        self.reporting = True
        # "Most of the chain at once" counts the legs the chain has now, if more than before.
        legs = max(int(np.count_nonzero(self._expected)), int(np.count_nonzero(finite)))
        self.settled = 2 * int(np.count_nonzero(new)) > legs
        # With no previous observation, or one whose legs no longer tell when the chain is whole
        # (the chain grew by more than half since: a few strikes, then the whole chain), the
        # observation in progress only establishes which legs the chain has (see the class doc).
        establishing = not self._expected.any() or self._grown(new)
        known = True if establishing else self._expected
        again = new & self._reported & known
        if again.any():
            # A leg reports again before the chain completed: this observation is as complete as
            # it will get (a leg stopped reporting), and the next one begins with this update.
            closed = self._first_ts
            self._begin()
            self._report(new, ts)
            if establishing:
                return None
            self.observed = self.latest = closed
            self.closed_before = True
            self.completed += 1
            return closed
        self._report(new, ts)
        whole = not establishing and not (self._expected & ~self._reported).any()
        if not whole and not self.settled and not (establishing and self._reported.all()):
            return None
        observed = self._first_ts
        self._begin()
        self.settled = True
        if establishing:
            return None
        self.observed = self.latest = observed
        self.completed += 1
        return observed

    @property
    def in_progress_since(self) -> float | None:
        """When the observation in progress was observed (its stamp so far); None when no leg
        has reported into one since the last observation completed."""
        return self._first_ts

    def _begin(self) -> None:
        """The observation in progress is over: its legs are the ones the next must report."""
        self._expected, self._reported = self._reported, np.zeros_like(self._reported)
        self._first_ts, self._dated = None, False

    def anchors(self) -> np.ndarray:
        """When each leg's latest value was observed, as an observation of the chain (calls, then
        puts): the observation in progress for a leg that has reported into it, else the latest
        complete one (NaN before there is one). A leg's windows end there, so a leg streamed a
        minute after its neighbours is measured over the same span as in a snapshot."""
        latest = np.nan if self.latest is None else self.latest
        out = np.full(len(self._ts), latest)
        if self._first_ts is not None:
            out[self._reported] = self._first_ts
        return out

    def _grown(self, new: np.ndarray) -> bool:
        """Whether the observation in progress, with this update's reports, has more legs the
        previous observation lacked than half the legs it had. Its legs then no longer tell when
        the chain is whole: the observation completes when an update reports most of the chain at
        once (a snapshot) or when a leg reports a second time."""
        expected = int(np.count_nonzero(self._expected))
        joined = int(np.count_nonzero((self._reported | new) & ~self._expected))
        return bool(expected) and 2 * joined > expected

    def _report(self, new: np.ndarray, ts: np.ndarray) -> None:
        """Add this update's reports to the observation in progress. It is dated by its first
        report from a leg of the previous observation: a leg that joined the chain (a strike the
        recording did not carry before) may report after the rest completed."""
        self._reported = self._reported | new
        known = new & self._expected
        if known.any() and not self._dated:
            self._first_ts, self._dated = float(ts[known].min()), True
        elif self._first_ts is None:
            self._first_ts = float(ts[new].min())

    def _realign(self, strikes: np.ndarray) -> None:
        """Carry per-leg memory over to a changed strike list (a strike joined or left)."""
        old_n, n = len(self._strikes), len(strikes)
        pos = {float(k): i for i, k in enumerate(self._strikes)}
        src = np.array([pos.get(float(k), -1) for k in strikes], dtype=int)
        keep = np.flatnonzero(src >= 0)
        ts = np.full(2 * n, np.nan)
        reported, expected = np.zeros(2 * n, dtype=bool), np.zeros(2 * n, dtype=bool)
        if old_n:
            for half in (0, 1):
                dst, orig = half * n + keep, half * old_n + src[keep]
                ts[dst], reported[dst], expected[dst] = (
                    self._ts[orig],
                    self._reported[orig],
                    self._expected[orig],
                )
        self._strikes, self._ts, self._reported, self._expected = strikes, ts, reported, expected


def _same_strikes(a: np.ndarray, b: np.ndarray) -> bool:
    """np.array_equal(a, b) without its overhead (a feed's strike list is often a new array)."""
    return a.shape == b.shape and bool((a == b).all())
