"""The Performance page as a trader reads it (issue 13 #10): how range calls are scored, 0 % bars
that show, tables of chosen columns at page width, IST times, and why Outcomes is not Signals."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import sessionmaker
from streamlit.testing.v1 import AppTest

from core.clock import to_datetime
from core.learning.evaluator import run_pass
from core.storage.database import make_engine, upgrade
from core.storage.models import Prediction
from core.storage.runs import ALL_RUNS
from tests.app.conftest import main_script
from tests.core.learning.builders import OPEN_T0, add_path, add_signal, ramp

SEEDED_DAY = date(2026, 11, 18)


@pytest.fixture
def seeded(app_env, monkeypatch) -> AppTest:
    """Spot rises 0.2 % in 5 minutes: four UP sweeps are right, three DOWN hunts wrong (0 %)."""
    monkeypatch.setenv("STRIKEIQ_SPEED", "1")  # the app's own simulator stores nothing meanwhile
    url = f"sqlite:///{(app_env / 'app.db').as_posix()}"
    upgrade(url)
    engine = make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session:
        add_path(session, OPEN_T0, ramp(0.2, 300))
        for i in range(4):
            add_signal(session, OPEN_T0 + i)
        for i in range(3):
            add_signal(
                session, OPEN_T0 + 10 + i, engine="StoplossHuntEngine", signal="HUNT_DOWN", direction="DOWN"
            )
        session.add(Prediction(ts=to_datetime(OPEN_T0), symbol="NIFTY", bullish_probability=0.7))
        session.commit()
    run_pass(factory)
    engine.dispose()
    at = AppTest.from_file(main_script(), default_timeout=60)
    at.run()
    at.switch_page("views/performance.py")
    at.run()
    at.sidebar.date_input(key="p_dates").set_value((SEEDED_DAY, SEEDED_DAY))
    at.sidebar.selectbox(key="p_run").set_value(ALL_RUNS)
    at.sidebar.button[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart(at: AppTest, key: str) -> dict:
    import json

    element = next(e for e in at.get("plotly_chart") if e.proto.id.endswith(key) or key in e.proto.id)
    return json.loads(element.proto.spec)


def test_a_zero_percent_bar_is_visible_and_labelled(seeded):
    fig = chart(seeded, "hit_rate_chart")
    bars = next(t for t in fig["data"] if t["type"] == "bar")
    labels = dict(zip(bars["x"], bars["text"], strict=True))
    assert labels["StoplossHunt / HUNT_DOWN"] == "0% · n=3"
    assert labels["Liquidity / SWEEP_UP"] == "100% · n=4"
    marks = next(t for t in fig["data"] if t.get("mode") == "markers")
    assert "StoplossHunt / HUNT_DOWN" in marks["x"]  # a tick at 0 where the bar has no height
    assert marks["marker"]["symbol"] == "line-ew-open"


def test_range_calls_and_the_outcome_count_are_explained(seeded):
    captions = " ".join(c.value for c in seeded.caption)
    assert (
        "Range calls (direction NONE) are correct when spot stays within half the expected move" in captions
    )
    assert "21 outcomes from 7 signals: each signal is scored at three horizons, so up to 21" in captions
    outcomes = next(m for m in seeded.metric if m.label == "Outcomes")
    assert "up to 3 per signal" in outcomes.proto.help


def test_tables_hold_chosen_columns_with_short_engine_names(seeded):
    hits = next(d for d in seeded.dataframe if "hit_rate" in d.value.columns)
    assert set(hits.value["engine"]) == {"Liquidity", "StoplossHunt"}
    assert "avg_move_pct" in hits.value.columns and "tested" in hits.value.columns
    experience = seeded.dataframe[-1].value
    assert "last_updated" in experience.columns
    assert all(len(str(v)) == 16 for v in experience["last_updated"])  # "YYYY-MM-DD HH:MM" IST


def test_prediction_times_are_ist(seeded):
    fig = chart(seeded, "prediction_chart")
    assert fig["layout"]["xaxis"]["title"]["text"] == "time (IST)"
    first = fig["data"][0]["x"][0]
    assert first.startswith("2026-11-18T10:00") or first.startswith("2026-11-18 10:00"), first
