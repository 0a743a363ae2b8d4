"""The Signal history page by run: the current run by default, every run (legacy rows included) or
every run but backtests on request, and never the legacy NEUTRAL / GAMMA_NEUTRAL rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import streamlit as st
from sqlalchemy.orm import sessionmaker
from streamlit.testing.v1 import AppTest

from app.runtime import get_runtime
from core.storage.database import make_engine
from core.storage.models import AiSignalLog
from core.storage.runs import ALL_RUNS, NO_BACKTESTS
from tests.app.conftest import main_script
from tests.core.storage.helpers import make_signal


@pytest.fixture
def quiet_env(app_env, monkeypatch):
    """The app's simulator at 1x: it cannot fire a signal within a test, so counts stay exact."""
    monkeypatch.setenv("STRIKEIQ_SPEED", "1")
    return app_env


def open_history() -> AppTest:
    at = AppTest.from_file(main_script(), default_timeout=60)
    at.run()
    at.switch_page("views/history.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def store(url: str, rows: dict[str, tuple[str | None, str | None, str]]) -> None:
    """uid -> (run_id, source, signal), each an hour before now (inside the default date range)."""
    engine = make_engine(url)
    ts = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    with sessionmaker(engine)() as session, session.begin():
        for uid, (run, source, signal) in rows.items():
            session.add(AiSignalLog.from_signal(make_signal(id=uid, ts=ts, signal=signal), run, source))
    engine.dispose()


def shown(at: AppTest) -> tuple[int, set[str]]:
    matching = next(m.value for m in at.metric if m.label == "Matching signals")
    # Ids sit in the details view, not the table: its labels end with the uid's first 8 characters.
    uids = {label.rsplit(" · ", 1)[-1] for label in at.selectbox(key="h_detail").options}
    return int(matching.replace(",", "")), uids


def pick_run(at: AppTest, choice: str) -> AppTest:
    at.sidebar.selectbox(key="h_run").set_value(choice)
    at.sidebar.button[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_history_shows_the_current_run_then_all_runs_or_all_but_backtests(quiet_env):
    at = open_history()
    assert any("No stored signals" in i.value for i in at.info)  # this run has stored nothing yet
    runtime = get_runtime()
    store(
        f"sqlite:///{(quiet_env / 'app.db').as_posix()}",
        {
            "mine": (runtime.run_id, runtime.source, "SWEEP_UP"),
            "earlier": ("earlier-run", "sim:demo", "SWEEP_UP"),
            "backtest": ("bt-run", "backtest:june", "SWEEP_DOWN"),
            "legacy": (None, None, "SWEEP_UP"),
            "legacy-neutral": (None, None, "NEUTRAL"),
            "legacy-gamma-neutral": (None, None, "GAMMA_NEUTRAL"),
        },
    )
    st.cache_data.clear()  # the page cached its empty answer for a few seconds
    at.run()
    assert at.sidebar.selectbox(key="h_run").value == runtime.run_id
    assert shown(at) == (1, {"mine"})
    assert shown(pick_run(at, ALL_RUNS)) == (4, {"mine", "earlier", "backtest", "legacy"})
    assert shown(pick_run(at, NO_BACKTESTS)) == (3, {"mine", "earlier", "legacy"})
    assert shown(pick_run(at, "earlier-run")) == (1, {"earlier"})
    options = at.sidebar.selectbox(key="h_run").options
    assert any("sim:demo" in o for o in options) and any("backtest:june" in o for o in options)
