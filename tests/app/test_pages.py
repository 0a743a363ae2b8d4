"""Every page renders through Streamlit's AppTest, on an empty database and with live data."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import main_script

pytestmark = pytest.mark.usefixtures("app_env")


def run_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(main_script(), default_timeout=60)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun_until(at: AppTest, predicate, timeout: float = 30.0) -> AppTest:
    """AppTest does not fire run_every timers: rerun until the live data is there."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError("page never showed live data")
        time.sleep(0.3)  # wall time for the simulator thread to produce event time
        at.run()
        assert not at.exception, [e.value for e in at.exception]


def test_live_page_fills_with_simulated_market():
    at = run_page()
    assert at.title[0].value == "Live"
    at = rerun_until(at, lambda a: any(m.label == "Spot" for m in a.metric))
    labels = {m.label for m in at.metric}
    headline = {"Spot", "PCR (OI)", "Max pain", "Net GEX", "Gamma flip"}
    assert headline | {"Expected move (1σ, trading time)"} <= labels
    spot = next(m for m in at.metric if m.label == "Spot")
    assert float(spot.value.replace(",", "")) > 1000
    assert any(s.value == "Engines" for s in at.subheader)


def test_live_page_switches_symbol():
    at = run_page()
    at.sidebar.selectbox(key="live_symbol").set_value("BANKNIFTY")
    at.run()
    at = rerun_until(at, lambda a: any(m.label == "Spot" for m in a.metric))
    spot = float(next(m for m in at.metric if m.label == "Spot").value.replace(",", ""))
    assert spot > 40000  # BANKNIFTY trades far above NIFTY


def test_history_page_on_empty_database_says_so():
    at = run_page("views/history.py")
    assert at.title[0].value == "Signal history"
    assert any("No stored signals" in i.value for i in at.info)


def test_history_page_rejects_invalid_filter():
    at = run_page("views/history.py")
    at.sidebar.text_input(key="h_signals").set_value("DROP TABLE;--")
    at.sidebar.button[0].click()
    at.run()
    assert any("Invalid filter" in e.value for e in at.error)


def test_system_page_shows_feed_logger_and_database():
    at = run_page("views/system.py")
    subheaders = {s.value for s in at.subheader}
    assert {"Feed", "Engines", "Signal logger", "Learning loop", "Database", "Demo controls"} <= subheaders
    assert any("sqlite:///" in m.value for m in at.markdown)


def test_chain_page_renders():
    at = run_page("views/chain.py")
    assert at.title[0].value == "Option chain"


def test_live_page_as_a_db_replica(monkeypatch, app_env):
    """STRIKEIQ_LIVE_SOURCE=db: the page renders a worker's published state, no in-process feed."""
    import subprocess
    import sys

    url = f"sqlite:///{(app_env / 'app.db').as_posix()}"
    subprocess.run(
        [sys.executable, "-m", "core", "worker", "--speed", "20", "--duration", "5", "--live-state", "--db", url],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    monkeypatch.setenv("STRIKEIQ_LIVE_SOURCE", "db")
    at = run_page()
    assert any(m.label == "Spot" for m in at.metric)
    at = run_page("views/system.py")
    assert any(s.value == "Live source: database" for s in at.subheader)


def test_demo_controls_restart_the_simulator_with_a_new_scenario():
    from app.runtime import get_runtime

    at = run_page("views/system.py")
    at.selectbox[0].set_value("volatile")
    at.number_input[1].set_value(3)
    at.button[0].click()
    at.run()
    assert not at.exception
    runtime = get_runtime()
    assert runtime.running
    assert (runtime.config.feed.scenario, runtime.config.feed.seed) == ("volatile", 3)


def test_signal_feed_shows_the_reasons_and_features_of_a_signal(monkeypatch):
    monkeypatch.setenv("STRIKEIQ_SCENARIO", "demo")  # a calm market rightly signals nothing
    at = run_page()
    at = rerun_until(at, lambda a: any(s.value == "Signal feed" for s in a.subheader) and len(a.json) > 0)
    assert any("select a row to inspect it" in m.value for m in at.markdown)
    assert any(m.value == "Features the rules looked at" for m in at.markdown)


def test_every_page_looks_for_new_alerts_once_per_run_from_its_one_timed_fragment(monkeypatch):
    """A page with a timed panel checks for alerts to toast in that panel; the others in the
    standalone `alert_toasts` fragment. Never both: a second timed fragment beside a page's own
    loses toasts in the browser now and then (alerts_ui.toast_new_alerts)."""
    import sys

    import app.alerts_ui as alerts_ui

    callers: list[str] = []
    real = alerts_ui._new_alerts

    def counted(feed):
        callers.append(sys._getframe(2).f_code.co_name)  # who called toast_new_alerts
        return real(feed)

    monkeypatch.setattr(alerts_ui, "_new_alerts", counted)
    at = run_page()
    own = {"live": "live_panel", "chain": "chain_panel", "alerts": "alert_log", "system": "health_panel"}
    for page in ("live", "chain", "intraday", "history", "performance", "alerts", "system"):
        at.switch_page(f"views/{page}.py")
        callers.clear()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if page == "intraday":  # a timed panel on today's chart only; before any live data, none
            assert callers in (["day_panel"], ["alert_toasts"]), callers
        else:
            assert callers == [own.get(page, "alert_toasts")], page
