"""Debounce: a reading becomes a state once it has held, in event time; the one mechanism the
pipeline's state engines and the engines' dealer-gamma regime share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.state.history import TIME_TOL


@dataclass(frozen=True, slots=True)
class Settled:
    """A reading that became the debounced state at `ts` (the moment it had held long enough);
    `payload` is what was last seen with that reading (e.g. the engine result and its metrics);
    `since` when the reading began."""

    reading: Any
    ts: float
    payload: Any
    since: float = field(default=0.0, compare=False)


class _Hold:
    """One debounce stage: a reading becomes the state once it has held `hold_s` of event time
    (within `tol`, a fraction of it), stamped at the moment it qualified (since + hold, or its end
    if it ended within the tolerance short of that)."""

    __slots__ = ("hold_s", "need_s", "state", "_reading", "_since", "_payload")
    _UNSET: Any = object()

    def __init__(self, hold_s: float, tol: float = 0.0) -> None:
        self.hold_s = hold_s
        self.need_s = hold_s * (1.0 - tol)
        self.state: Any = None  # the settled reading (None until one has held)
        self._reading: Any = self._UNSET
        self._since = 0.0
        self._payload: Any = None

    def update(self, ts: float, reading: Any, payload: Any = None) -> list[Settled]:
        """Feed the reading seen at `ts`; returns what settled (at most two: the outgoing reading,
        if it held until now, and the current one)."""
        out: list[Settled] = []
        if reading != self._reading:
            if self._reading is not self._UNSET:
                out += self._settle(ts, ended=True)
            self._reading, self._since = reading, ts
        elif self._since + self.hold_s < ts:
            # It qualified between the previous update and this one: on the previous update's data
            # (this update's payload would be information from after the moment it is stamped).
            out += self._settle(ts)
        self._payload = payload
        return out + self._settle(ts)

    def _settle(self, until: float, ended: bool = False) -> list[Settled]:
        """Settle the reading if it held until `until`: the whole hold while it lasts, within the
        tolerance once it has ended (its end is an observation time too)."""
        if self._reading == self.state or until - self._since < (self.need_s if ended else self.hold_s):
            return []
        self.state = self._reading
        return [Settled(self._reading, min(self._since + self.hold_s, until), self._payload, self._since)]


class Debounce:
    """A reading becomes the state once it has held `hold_s` of event time, interruptions shorter
    than `glitch_s` not counting, stamped at the moment it qualified (since + hold).

    Both durations are met within `tol` (TIME_TOL, a tenth of them): a reading's start and end
    are observation times of the chain (`ChainObservations`), known only to the spread of the
    first legs' reports in a stream and to a second or two in a snapshot's stamp, and a reading
    seen on three 1-minute snapshots lasts exactly the 180 s hold; without a tolerance, whether
    it had held would be decided by that jitter, not by the market.

    Two stages: a reading must last `glitch_s` to count as a change at all (a half-updated
    streamed chain flickers for seconds), then `hold_s` from its start to become the state. The
    second stage runs `glitch_s` behind the first, where the first is certain, so a state is never
    settled on a reading that a later flicker shows had already ended. A sparse feed (snapshots
    minutes apart) settles a reading that held between two updates as a streamed feed of the same
    market settles it live. The one debounce mechanism: the pipeline's state engines and the
    dealer-gamma regime the other engines read both use it.
    """

    __slots__ = (
        "hold_s",
        "glitch_s",
        "max_gap_s",
        "tol",
        "_changes",
        "_states",
        "_state_payload",
        "_last_ts",
    )

    def __init__(
        self, hold_s: float, glitch_s: float = 0.0, max_gap_s: float = 1800.0, tol: float = TIME_TOL
    ) -> None:
        self.hold_s, self.glitch_s, self.max_gap_s, self.tol = hold_s, glitch_s, max_gap_s, tol
        self._last_ts: float | None = None
        self._reset()

    def _reset(self) -> None:
        self._changes = _Hold(self.glitch_s, self.tol)  # readings that lasted long enough to be a change
        self._states = _Hold(self.hold_s, self.tol)  # changes that held long enough to be the state
        self._state_payload: Any = None

    @property
    def state(self) -> Any:
        """The settled reading (None until one has held)."""
        return self._states.state

    def update(self, ts: float, reading: Any, payload: Any = None) -> list[Settled]:
        """Feed the reading seen at `ts`; returns the states that settled, in time order. After a
        gap in the data longer than `max_gap_s` (a feed outage, a collector that skipped an hour;
        30 minutes by default, twice the spacing of the coarsest snapshot feeds)
        nothing is known to have held across it: the state starts afresh."""
        if self._last_ts is not None and ts - self._last_ts > self.max_gap_s:
            self._reset()
        self._last_ts = ts
        out: list[Settled] = []
        for change in self._changes.update(ts, reading, payload):
            out += self._states.update(change.since, change.reading, change.payload)
            self._state_payload = change.payload
        if reading == self._changes.state:
            self._state_payload = payload
        out += self._states.update(ts - self.glitch_s, self._changes.state, self._state_payload)
        return out
