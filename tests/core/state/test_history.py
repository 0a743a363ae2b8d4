"""RingBuffer keeps a bounded event-time series."""

import numpy as np
import pytest

from core.state.history import RingBuffer


def test_overwrites_oldest_and_keeps_time_order():
    rb = RingBuffer(3)
    for i in range(5):
        rb.append(float(i), i * 10.0)
    ts, val = rb.arrays()
    assert ts.tolist() == [2.0, 3.0, 4.0]
    assert val.tolist() == [20.0, 30.0, 40.0]
    assert len(rb) == 3 and rb.last() == (4.0, 40.0)


def test_window_and_lookup():
    rb = RingBuffer(100)
    for i in range(10):
        rb.append(100.0 + i, float(i))
    ts, _ = rb.window(3.0)
    assert np.array_equal(ts, [107.0, 108.0, 109.0])
    assert rb.value_at_or_before(104.5) == 4.0
    assert rb.value_at_or_before(99.0) is None


def test_empty_and_invalid():
    rb = RingBuffer(2)
    assert rb.last() is None
    assert len(rb.window(10)[0]) == 0
    with pytest.raises(ValueError):
        RingBuffer(0)
