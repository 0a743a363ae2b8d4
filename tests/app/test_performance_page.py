"""The Performance page through AppTest: on an empty database it says so; with scored signals it shows
hit rates, calibration, distribution, experience and prediction accuracy from SQL aggregates."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy.orm import sessionmaker
from streamlit.testing.v1 import AppTest

from app.runtime import get_runtime
from core.clock import to_datetime
from core.learning.evaluator import run_pass
from core.storage.database import make_engine, upgrade
from core.storage.models import Prediction
from core.storage.runs import ALL_RUNS
from tests.app.conftest import main_script
from tests.core.learning.builders import OPEN_T0, add_path, add_signal, ramp

PAGE = "views/performance.py"
SEEDED_DAY = date(2026, 11, 18)  # OPEN_T0's trading day


@pytest.fixture
def quiet_env(app_env, monkeypatch):
    """The app's simulator at 1x: it cannot fire a signal within a test, so counts stay exact."""
    monkeypatch.setenv("STRIKEIQ_SPEED", "1")
    return app_env


def open_page(day: date | None = None, run: str | None = None) -> AppTest:
    """The page, optionally with a date and a run choice (a run id, ALL_RUNS or NO_BACKTESTS)."""
    at = AppTest.from_file(main_script(), default_timeout=60)
    at.run()
    at.switch_page(PAGE)
    at.run()
    if day is not None or run is not None:
        if day is not None:
            at.sidebar.date_input(key="p_dates").set_value((day, day))
        if run is not None:
            at.sidebar.selectbox(key="p_run").set_value(run)
        at.sidebar.button[0].click()
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_empty_database_says_so(quiet_env):
    at = open_page()
    assert at.title[0].value == "Performance"
    assert any("No stored signals" in i.value for i in at.info)
    assert not at.subheader


def seed_scored_database(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session:
        add_path(session, OPEN_T0, ramp(0.2, 300))
        for i in range(12):
            add_signal(session, OPEN_T0 + i, direction="UP" if i % 3 else "DOWN", confidence=0.55 + 0.03 * i)
        session.add(Prediction(ts=to_datetime(OPEN_T0), symbol="NIFTY", bullish_probability=0.7))
        session.commit()
    run_pass(factory)
    engine.dispose()


def test_page_with_scored_outcomes(quiet_env):
    seed_scored_database(f"sqlite:///{(quiet_env / 'app.db').as_posix()}")
    at = open_page(SEEDED_DAY, ALL_RUNS)  # the seeded rows are legacy rows: no run
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Signals"] == "12" and metrics["Outcomes"] == "36"
    subheaders = [s.value for s in at.subheader]
    assert subheaders == [
        "Hit rate by engine, signal and horizon",
        "Calibration",
        "Confidence distribution",
        "Experience",
        "Prediction accuracy over time",
    ]
    hits = next(d.value for d in at.dataframe if "hit_rate" in d.value.columns)
    assert isinstance(hits, pd.DataFrame)
    assert set(hits["horizon_min"]) == {5, 15, 30}
    assert (hits["correct"] == 8).all() and (hits["wrong"] == 4).all()  # 8 UP right, 4 DOWN wrong
    assert hits["ci_low"].between(0, 1).all() and (hits["ci_low"] < hits["hit_rate"]).all()
    assert not at.info  # every section had data


def test_page_filters_by_symbol(quiet_env):
    seed_scored_database(f"sqlite:///{(quiet_env / 'app.db').as_posix()}")
    at = open_page(SEEDED_DAY, ALL_RUNS)
    at.sidebar.multiselect(key="p_symbols").set_value(["BANKNIFTY"])
    at.sidebar.button[0].click()
    at.run()
    assert any("No stored signals" in i.value for i in at.info)


def test_page_defaults_to_the_current_run(quiet_env):
    """Legacy rows (no run) are not this run's: the default view is empty and says how to see them."""
    seed_scored_database(f"sqlite:///{(quiet_env / 'app.db').as_posix()}")
    at = open_page(SEEDED_DAY)
    assert at.sidebar.selectbox(key="p_run").value == get_runtime().run_id
    assert any("No stored signals" in i.value and "All runs" in i.value for i in at.info)
