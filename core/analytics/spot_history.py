"""One symbol's spot history for the structural engine: 1 s samples in a ring buffer, and the
spot features of its latest view.

The runtime computes every expiry of a symbol from one snapshot, so consecutive calls ask for the
same view at the same event time: the view is then the object of the first call. The features are
a function of the spot observations alone, so they are kept until those change.
"""

from __future__ import annotations

import math

import numpy as np

from core.analytics import regime
from core.analytics.expiry_state import append_spaced
from core.state.history import RingBuffer

SPOT_SAMPLE_S = 1.0
CAPACITY = 4096


class SpotHistory:
    """Spaced spot samples of one symbol plus the view (times, values) last handed out."""

    __slots__ = ("_buf", "_key", "_view", "_features", "_observed")

    def __init__(self) -> None:
        self._buf = RingBuffer(CAPACITY)
        self._key: tuple[object, ...] | None = None
        self._view: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
        self._features: regime.SpotFeatures | None = None
        self._observed: tuple[bytes, bytes] | None = None  # the observations _features are of

    def view(self, ts: float, spot: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Stored (times, values), the current spot always last even between spaced samples.

        A spot that is None, non-finite or not positive is not recorded (the view is the stored one)."""
        buf = self._buf
        current = spot if spot is not None and math.isfinite(spot) and spot > 0 else None
        if current is not None:
            append_spaced(buf, ts, current, SPOT_SAMPLE_S)
        # Appends only happen here, each with a later ts than the last: the last sample names the
        # buffer's content, so the same key is the same view.
        key = (ts, current, buf.last())
        if key == self._key:
            return self._view
        times, values = buf.arrays()
        if current is not None and times[-1] != ts:
            times, values = np.append(times, ts), np.append(values, current)
        self._key, self._view = key, (times, values)
        return self._view

    def features(self, now: float) -> regime.SpotFeatures:
        """regime.spot_features of the latest view at `now` (the ts of that view).

        Kept while the view's spot observations are bit for bit those it was computed from: a
        view that only repeats the last spot (a stream between two moves of the index) has the
        same features, and the median, returns and vols are not worked out again."""
        ts, spot = regime.spot_observations(*self._view, now)
        observed = (ts.tobytes(), spot.tobytes())
        if self._features is None or observed != self._observed:
            self._features, self._observed = regime.observed_features(ts, spot), observed
        return self._features
