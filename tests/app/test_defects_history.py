"""Signal history as a trader lives in it (issue 13): the CSV is the set the page counts (4), IST
everywhere with internals behind a details view (6), filters validated with the real rule (7), and
the run selector follows a demo restart to the new run (5)."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import sessionmaker
from streamlit.testing.v1 import AppTest

from app.runtime import get_runtime, restart_runtime
from core.clock import IST
from core.storage.database import make_engine
from core.storage.models import AiSignalLog
from tests.app.conftest import main_script
from tests.core.storage.helpers import make_signal

# 2026-11-26 09:45:40 IST, one day in the past for the date range default of a week.
WHEN = datetime(2026, 11, 26, 4, 15, 40, tzinfo=UTC)


@pytest.fixture
def quiet_env(app_env, monkeypatch):
    """The app's simulator at 1x: it cannot fire a signal within a test, so counts stay exact."""
    monkeypatch.setenv("STRIKEIQ_SPEED", "1")
    return app_env


def db_url(env) -> str:
    return f"sqlite:///{(env / 'app.db').as_posix()}"


def store(url: str, count: int, run_id: str | None, ts: datetime | None = None, **fields) -> list[str]:
    """`count` signals of run `run_id`, one second apart from `ts` (an hour ago by default)."""
    engine = make_engine(url)
    start = (ts or datetime.now(UTC) - timedelta(hours=1)).timestamp()
    uids = []
    with sessionmaker(engine)() as session, session.begin():
        for i in range(count):
            sig = make_signal(ts=start + i, **fields)
            uids.append(sig.id)
            session.add(AiSignalLog.from_signal(sig, run_id, "sim:test"))
    engine.dispose()
    return uids


def open_history() -> AppTest:
    at = AppTest.from_file(main_script(), default_timeout=60)
    at.run()
    at.switch_page("views/history.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def apply(at: AppTest) -> AppTest:
    at.sidebar.button[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def matching(at: AppTest) -> int:
    return int(next(m.value for m in at.metric if m.label == "Matching signals").replace(",", ""))


@pytest.fixture(autouse=True)
def downloads(monkeypatch) -> dict[str, bytes]:
    """What each download button serves, by media file id (AppTest's media store lives one run)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    served: dict[str, bytes] = {}
    load = MemoryMediaFileStorage.load_and_get_id

    def keep(self, data, mimetype, kind, filename=None):
        file_id = load(self, data, mimetype, kind, filename)
        served[file_id] = data if isinstance(data, bytes) else data.encode()
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return served


def csv_rows(at: AppTest, downloads: dict[str, bytes]) -> list[dict[str, str]]:
    """The rows the page's download button serves."""
    url = at.get("download_button")[0].proto.url
    file_id = url.rsplit("/", 1)[-1].split(".")[0]
    return list(csv.DictReader(io.StringIO(downloads[file_id].decode())))


def test_the_csv_is_the_set_the_page_counts_after_new_signals_arrive(quiet_env, downloads):
    """Issue 13 #4: the page said 86, the CSV had 83 (the CSV was cached 30 s, the count 5 s)."""
    runtime = get_runtime()
    store(db_url(quiet_env), 3, runtime.run_id)
    at = open_history()
    assert matching(at) == 3 and len(csv_rows(at, downloads)) == 3
    store(db_url(quiet_env), 2, runtime.run_id)
    time.sleep(5.5)  # past the page's short cache: a new signal id is seen
    at.run()
    assert matching(at) == 5
    assert len(csv_rows(at, downloads)) == 5
    assert "5 rows" in at.get("download_button")[0].proto.label


def test_times_are_ist_and_internals_sit_behind_the_details_view(quiet_env, downloads):
    """Issue 13 #6: UTC under an IST label, ids and raw JSON in the table, "Engine" suffixes."""
    runtime = get_runtime()
    (uid,) = store(db_url(quiet_env), 1, runtime.run_id, ts=WHEN, engine="LiquidityEngine", confidence=0.6123)
    at = open_history()
    at.sidebar.date_input(key="h_dates").set_value((date(2026, 11, 20), date(2026, 11, 27)))
    apply(at)
    table = at.dataframe[0].value
    assert list(table["time"]) == ["2026-11-26 09:45:40"]
    assert not {"id", "signal_uid", "metadata", "run_id", "source", "timestamp"} & set(table.columns)
    assert list(table["engine"]) == ["Liquidity"]
    assert at.sidebar.multiselect(key="h_engines").format_func("LiquidityEngine") == "Liquidity"
    detail = at.json[0].value
    assert uid in detail and runtime.run_id in detail and "pierce_reclaim" in detail
    (row,) = csv_rows(at, downloads)
    assert row["timestamp"] == "2026-11-26T09:45:40+05:30"
    assert datetime.fromisoformat(row["timestamp"]).astimezone(IST).hour == 9


def test_a_confidence_range_has_a_minimum_and_a_maximum(quiet_env):
    runtime = get_runtime()
    for conf in (0.3, 0.6, 0.9):
        store(db_url(quiet_env), 1, runtime.run_id, confidence=conf)
    at = open_history()
    at.sidebar.slider(key="h_conf").set_value((0.5, 0.7))
    apply(at)
    assert matching(at) == 1
    assert [float(c) for c in at.dataframe[0].value["confidence"]] == [0.6]


def test_a_3000_character_filter_is_refused_with_the_real_rule_and_not_echoed(quiet_env):
    """Issue 13 #7: the message said "letters, digits and underscores" to a text of letters, and
    repeated all 3,000 characters across the page."""
    at = open_history()
    at.sidebar.text_input(key="h_signals").set_value("A" * 3000)
    apply(at)
    (error,) = at.error
    assert "at most 64 characters" in error.value
    assert "(2,000 characters)" in error.value  # the box keeps 2,000: more cannot be a name list
    assert len(error.value) < 400
    assert not at.dataframe


def test_signal_names_are_accepted_in_any_case_with_spaces(quiet_env):
    runtime = get_runtime()
    store(db_url(quiet_env), 2, runtime.run_id, signal="SWEEP_UP")
    store(db_url(quiet_env), 1, runtime.run_id, signal="SWEEP_DOWN")
    at = open_history()
    at.sidebar.text_input(key="h_signals").set_value(" sweep_down , ")
    apply(at)
    assert matching(at) == 1


def test_a_half_entered_date_range_says_so_instead_of_showing_today(quiet_env):
    """Issue 13 #7: a range with only its start picked silently became "today only"."""
    at = open_history()
    at.sidebar.date_input(key="h_dates").set_value((date(2026, 11, 20),))
    apply(at)
    assert any("needs a start and an end" in w.value for w in at.warning)
    assert not at.metric and not at.dataframe


def test_the_run_selector_follows_a_demo_restart_to_the_new_run(quiet_env):
    """Issue 13 #5: after "Restart simulator" the page defaults to the new run, not the stopped one."""
    before = get_runtime().run_id
    store(db_url(quiet_env), 1, before)  # the stopped run stays listed among the recent runs
    at = open_history()
    assert at.sidebar.selectbox(key="h_run").value == before
    restart_runtime(seed=7)
    after = get_runtime().run_id
    assert after != before
    at.run()
    assert not at.exception
    assert before in at.sidebar.selectbox(key="h_run").options[2:] or any(
        before[:8] in o for o in at.sidebar.selectbox(key="h_run").options
    )
    assert at.sidebar.selectbox(key="h_run").value == after


def test_a_run_picked_on_purpose_survives_a_restart(quiet_env):
    at = open_history()
    at.sidebar.selectbox(key="h_run").set_value("all")
    apply(at)
    restart_runtime(seed=8)
    at.run()
    assert at.sidebar.selectbox(key="h_run").value == "all"
