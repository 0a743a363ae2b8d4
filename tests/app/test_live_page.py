"""Live page defects of issue 13: the feed's pick follows the signal, tiles agree with their last
signal, ages in wall time, ₹ before numbers, spot with separators, touch probability instead of the
constant breach probability, and signals held back while the database is down."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from streamlit.testing.v1 import AppTest

from app.signal_feed import PICKED, feed_frame, feed_key, signal_age
from app.tiles import GREY, tile_view
from core.domain import Signal
from core.engines.base import EngineResult
from core.engines.pipeline import EngineState
from tests.app.conftest import main_script
from tests.app.test_pages import rerun_until


def _signal(name: str, ts: float, direction: str = "UP", **kw) -> Signal:
    return Signal(ts, "NIFTY", "LiquidityEngine", name, direction, 0.7, 0.7, 0.5, 24_512.35, **kw)


def _live_page() -> AppTest:
    at = AppTest.from_file(main_script(), default_timeout=60)
    at.run()
    return rerun_until(at, lambda a: any(m.label == "Spot" for m in a.metric))


def _detail(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "select a row to inspect it" in m.value)


@pytest.mark.usefixtures("app_env")
def test_feed_selection_follows_the_signal_when_new_signals_arrive():
    from app.runtime import get_runtime

    at = _live_page()
    bus = get_runtime().bus
    far = time.time() + 10**6  # above anything the simulator signals during the test
    picks = [_signal(f"TEST_{c}", far + i) for i, c in enumerate("ABC")]
    bus.publish_signals(picks)
    at.run()
    shown = bus.signals("NIFTY", limit=50)
    assert [s.signal for s in shown[:3]] == ["TEST_C", "TEST_B", "TEST_A"]
    # The trader ticks the third row: TEST_A.
    at.session_state[feed_key(shown)] = {"selection": {"rows": [2], "columns": []}}
    at.run()
    assert "TEST_A" in _detail(at) and at.session_state[PICKED] == picks[0].id
    bus.publish_signals([_signal("TEST_D", far + 10)])
    at.run()
    # Row 3 now holds TEST_B: the detail must stay on TEST_A, and the table marks TEST_A's new row.
    assert "TEST_A" in _detail(at)
    frame = at.dataframe[0].value
    assert frame.loc[frame[""] == "▶", "signal"].tolist() == ["TEST_A"]


def _result(signal: str, direction: str = "UP", active: bool = True) -> EngineResult:
    return EngineResult(signal, direction, 0.8, 0.5, ("a reason",), active=active)


def test_tile_never_shows_a_reading_in_colour_that_is_not_its_last_signal():
    now = 10_000.0
    last = _signal("BULLISH_SWEEP", now - 30)
    never = lambda _id: None  # noqa: E731
    told = tile_view(EngineState("LiquidityEngine", _result("BULLISH_SWEEP"), now, last), now, never)
    assert told.headline == "BULLISH_SWEEP" and told.colour != GREY
    other = tile_view(EngineState("LiquidityEngine", _result("BEARISH_SWEEP", "DOWN"), now, last), now, never)
    assert other.headline == "BEARISH_SWEEP (reading, not signalled)" and other.colour == GREY
    assert "last signal BULLISH_SWEEP UP" in other.last
    # A state engine back in a state it may not signal again yet (cooldown): held, not signalled.
    state_last = _signal("SHORT_GAMMA", now - 60, "DOWN")
    held = EngineState("DealerGammaEngine", _result("LONG_GAMMA"), now, state_last, held="LONG_GAMMA")
    view = tile_view(held, now, never)
    assert view.headline == "LONG_GAMMA (held, not signalled)" and view.colour == GREY
    same = EngineState(
        "DealerGammaEngine", _result("SHORT_GAMMA", "DOWN"), now, state_last, held="SHORT_GAMMA"
    )
    assert tile_view(same, now, never).colour != GREY


def test_ages_are_wall_time_when_the_bus_knows_and_say_event_time_otherwise():
    s = _signal("X", 1_000.0)
    assert signal_age(s, 1_600.0, lambda _id: time.time() - 12.2) == "12 s ago"
    assert signal_age(s, 1_600.0, lambda _id: None) == "10 min 00 s ago (event time)"


def test_feed_spot_has_thousands_separators():
    frame = feed_frame([_signal("X", 1.0), replace(_signal("Y", 2.0), spot_price=None)], None)
    assert frame["spot"].tolist() == ["24,512.35", "–"]


@pytest.mark.usefixtures("app_env")
def test_cards_show_rupees_first_and_a_touch_probability_not_a_constant_breach():
    at = _live_page()
    at = rerun_until(at, lambda a: next(m for m in a.metric if m.label.startswith("Expected move")).delta)
    straddle = next(m for m in at.metric if m.label == "ATM straddle")
    assert straddle.value.startswith("₹")
    em = next(m for m in at.metric if m.label.startswith("Expected move"))
    assert "touch" in em.delta and "breach" not in em.delta
    assert "Touch = P(spot reaches the level" in em.help


@pytest.mark.usefixtures("app_env")
def test_live_page_says_when_signals_are_held_back(monkeypatch):
    from app.runtime import get_runtime

    at = _live_page()
    runtime = get_runtime()
    down = time.time() - 120
    runtime.bus.publish_signals([_signal("HELD", time.time() + 10**6)])
    stats = runtime.logger.stats()
    monkeypatch.setattr(
        runtime.logger, "stats", lambda: {**stats, "db_up": False, "down_since": down, "queue_depth": 7}
    )
    at.run()
    warning = next(w.value for w in at.warning if "Database unavailable since" in w.value)
    assert "1 signal(s) since then are held back" in warning and "live data continues" in warning
    assert time.strftime("%H:%M", time.gmtime(down + 5.5 * 3600)) in warning
