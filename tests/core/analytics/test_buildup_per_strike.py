"""Per-strike build-up classes line up with the strikes, for the option chain page."""

import pytest

from core.analytics.structural import LiveStructuralEngine
from tests.factories import make_chain


@pytest.mark.parametrize(
    ("close_factor", "oi_factor", "expected"),
    [
        (0.9, 0.9, "LONG_BUILDUP"),  # price up, OI up
        (1.1, 0.9, "SHORT_BUILDUP"),  # price down, OI up
        (0.9, 1.1, "SHORT_COVERING"),  # price up, OI down
        (1.1, 1.1, "LONG_UNWINDING"),  # price down, OI down
    ],
)
def test_every_leg_gets_its_class(close_factor, oi_factor, expected):
    m = LiveStructuralEngine().compute(
        make_chain(strikes_each_side=5, prev_close_factor=close_factor, prev_oi_factor=oi_factor)
    )
    assert len(m.call_buildup) == len(m.put_buildup) == len(m.strikes) == 11
    assert set(m.call_buildup) == set(m.put_buildup) == {expected}
    assert m.buildup_counts[expected] == 22


def test_unchanged_legs_have_no_class():
    m = LiveStructuralEngine().compute(make_chain(strikes_each_side=2))
    assert set(m.call_buildup) == {""}
