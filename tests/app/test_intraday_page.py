"""Intraday page, compact day chart on Live and the chain page's all-expiry GEX through AppTest: on
the running simulator, on a stored past day, and as a database replica (STRIKEIQ_LIVE_SOURCE=db)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core.clock import IST
from tests.app.conftest import main_script
from tests.app.test_pages import rerun_until, run_page

pytestmark = pytest.mark.usefixtures("app_env")
PAGE = "views/intraday.py"
PAST = date(2026, 11, 18)


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def caption_with(at: AppTest, text: str) -> str:
    return next((c.value for c in at.caption if text in c.value), "")


def test_intraday_page_charts_the_running_day_with_its_live_tail():
    at = run_page(PAGE)
    assert at.title[0].value == "Intraday"
    at = rerun_until(  # until the first chain snapshot is stored too: it gives the strike picker
        at,
        lambda a: (
            len(charts(a)) >= 2
            and "live point(s)" in caption_with(a, "stored snapshot(s)")
            and any(k.startswith("intraday_strikes_") for k in _keys(a))
        ),
    )
    caption = caption_with(at, "stored snapshot(s)")
    assert "live point(s)" in caption  # the in-memory tail is merged
    assert "NSE disseminates OI about every 3 minutes" in caption
    assert "stored every 60 s here (STRIKEIQ_CHAIN_SNAPSHOT_S)" in caption_with(
        at, "STRIKEIQ_CHAIN_SNAPSHOT_S"
    )
    assert {m.label for m in at.metric} >= {"ATM IV", "IV rank", "IV percentile"}
    strikes = at.multiselect(key=next(k for k in _keys(at) if k.startswith("intraday_strikes_")))
    assert len(strikes.value) == 5  # ATM +- 2
    assert "rest on 0 stored day(s)" in caption_with(at, "rest on")  # the simulator's first day


def _keys(at: AppTest) -> list[str]:
    return [w.key for w in at.multiselect if w.key]


def fill_past_days(db_url: str) -> None:
    """Five closing ATM IVs on the days before PAST, and PAST itself from 09:15 to 10:00 IST."""
    from sqlalchemy.orm import Session

    from core.storage.database import make_engine, upgrade
    from core.storage.models import MarketSnapshot, OptionChainSnapshot

    upgrade(db_url)
    engine = make_engine(db_url)
    with Session(engine) as s, s.begin():
        for back, iv in zip(range(5, 0, -1), (0.10, 0.20, 0.12, 0.15, 0.18), strict=True):
            at = datetime.combine(PAST - timedelta(days=back), datetime.min.time(), IST) + timedelta(hours=15)
            s.add(MarketSnapshot(symbol="NIFTY", expiry=date(2026, 11, 25), ts=at, spot=25000.0, atm_iv=iv,
                                 run_id="r" * 32, source="live"))  # fmt: skip
        for minute in range(0, 46, 5):
            at = datetime(2026, 11, 18, 9, 15, tzinfo=IST) + timedelta(minutes=minute)
            row = MarketSnapshot(symbol="NIFTY", expiry=date(2026, 11, 25), ts=at, spot=25000.0 + minute,
                                 atm_strike=25000.0, atm_iv=0.17, pcr_oi=1.0, max_pain=24900.0,
                                 total_call_oi=1e7, total_put_oi=1e7 + minute * 1e4, run_id="r" * 32,
                                 source="live")  # fmt: skip
            s.add(row)
            s.flush()
            for strike in (24950.0, 25000.0, 25050.0):
                for right in ("CE", "PE"):
                    s.add(OptionChainSnapshot(market_snapshot_id=row.id, symbol="NIFTY", expiry=row.expiry,
                                              ts=at, strike=strike, right=right, ltp=100.0, volume=10.0 * minute,
                                              oi=1e5 + minute, run_id=row.run_id, source="live"))  # fmt: skip
    engine.dispose()


def test_a_stored_past_day_and_iv_rank_over_stored_days(app_env):
    fill_past_days(f"sqlite:///{(app_env / 'app.db').as_posix()}")
    at = run_page(PAGE)
    at.sidebar.date_input(key="intraday_day_NIFTY").set_value(PAST)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    caption = caption_with(at, "stored snapshot(s)")
    assert caption.startswith(
        f"{PAST} · expiry 2026-11-25 · 10 stored snapshot(s) from 09:15:00 IST to 10:00:00 IST"
    )
    assert "live point" not in caption  # a past day has no live tail
    # ATM IV 0.17 among closes 0.10 0.20 0.12 0.15 0.18: rank (0.17-0.10)/(0.20-0.10) = 70, percentile 3/5 = 60
    values = {m.label: m.value for m in at.metric}
    assert (values["IV rank"], values["IV percentile"], values["ATM IV"]) == ("70", "60", "17.00 %")
    assert (
        f"rest on 5 stored day(s) of closing ATM IV ({PAST - timedelta(days=5)} to {PAST - timedelta(days=1)})"
        in (caption_with(at, "rest on"))
    )
    strikes = at.multiselect(key=f"intraday_strikes_NIFTY_{PAST}_2026-11-25")
    assert strikes.value == [24950.0, 25000.0, 25050.0]
    assert "this day's rows are 300 s apart" in caption_with(at, "STRIKEIQ_CHAIN_SNAPSHOT_S")
    assert len(charts(at)) == 2


def test_live_page_shows_today_so_far():
    at = run_page()
    at = rerun_until(at, lambda a: any(s.value == "Today so far" for s in a.subheader))
    assert "stored snapshot(s) of" in caption_with(at, "the Intraday page has")


def test_chain_page_offers_all_expiry_gex():
    at = run_page("views/chain.py")
    at = rerun_until(at, lambda a: any(r.key == "chain_gex_scope" for r in a.radio))
    before = len(charts(at))
    at.radio(key="chain_gex_scope").set_value("All expiries")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    labels = {m.label for m in at.metric}
    assert {"Net GEX, all expiries", "Gamma flip, all expiries"} <= labels
    assert "listed expiries" in caption_with(at, "Summed over")
    assert len(charts(at)) == before + 1


def test_intraday_page_as_a_db_replica(monkeypatch, app_env):
    """STRIKEIQ_LIVE_SOURCE=db: the page reads the worker's stored day and its published tail."""
    url = f"sqlite:///{(app_env / 'app.db').as_posix()}"
    subprocess.run(
        [sys.executable, "-m", "core", "worker", "--speed", "20", "--duration", "8", "--live-state", "--db", url],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    monkeypatch.setenv("STRIKEIQ_LIVE_SOURCE", "db")
    at = AppTest.from_file(main_script(), default_timeout=60)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Intraday"
    caption = caption_with(at, "stored snapshot(s)")
    assert "stored snapshot(s)" in caption and len(charts(at)) == 2


def test_compact_chart_frame_keeps_finite_values_and_thins_long_days():
    import numpy as np

    from app.intraday_compact import MAX_POINTS, compact_day_chart, long_frame
    from core.storage.intraday import SERIES_COLUMNS, Series

    n = 3 * MAX_POINTS + 7
    ts = 1.79e9 + 5.0 * np.arange(n)
    values = {c: np.full(n, np.nan) for c in SERIES_COLUMNS}
    values["spot"] = 25000.0 + np.arange(n)
    straddle = Series(ts[:3], {"straddle": np.array([1.0, np.nan, 3.0]), "vwap": np.full(3, np.nan)})
    frame = long_frame(Series(ts, values), straddle)
    spot = frame[frame.series == "spot"]
    assert len(spot) <= MAX_POINTS + 1 and spot.value.iloc[-1] == 25000.0 + n - 1  # newest kept
    assert set(frame.series) == {"spot", "straddle"}  # all-NaN series leave no rows
    assert list(frame[frame.series == "straddle"].value) == [1.0, 3.0]
    assert "facet" in compact_day_chart(Series(ts, values), straddle)


def test_a_full_session_is_thinned_to_the_row_budget_of_a_one_second_refresh():
    """4,500 five-second snapshots of every series: each series keeps at most MAX_POINTS + 1 rows
    (the newest kept), so the whole day the Live panel sends every refresh stays small."""
    import numpy as np

    from app.intraday_compact import MAX_POINTS, SERIES, STRADDLE, compact_day_chart
    from core.storage.intraday import SERIES_COLUMNS, Series

    ts = 1.79e9 + 5.0 * np.arange(4500)
    day = Series(ts, {c: np.linspace(1.0, 2.0, 4500) for c in SERIES_COLUMNS})
    straddle = Series(ts[::12], {"straddle": np.ones(375), "vwap": np.ones(375)})
    rows = compact_day_chart(day, straddle)["datasets"]["day"]
    assert rows.groupby("series").size().max() <= MAX_POINTS + 1
    assert set(rows.series) == {s[2] for s in SERIES + STRADDLE}
    assert rows[rows.series == "spot"].value.iloc[-1] == 2.0  # the newest snapshot is kept
