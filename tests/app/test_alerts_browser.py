"""In headless Chromium on the demo scenario: a rule added on the Alerts page fires a toast on an
open Live tab, and the alert log lists it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.app.browser import ROOT, chromium, stop, streamlit_app

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_dashboard(tmp_path):
    """`streamlit run app/main.py` on the demo scenario at 20x, with its own SQLite file."""
    env = {
        **os.environ,
        "STRIKEIQ_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{(tmp_path / 'alerts.db').as_posix()}",
        "STRIKEIQ_FEED": "sim",
        "STRIKEIQ_SCENARIO": "demo",
        "STRIKEIQ_SPEED": "20",
        "STRIKEIQ_SIM_WARMUP_S": "120",
    }
    env.pop("STRIKEIQ_LIVE_SOURCE", None)
    with streamlit_app(tmp_path, env) as url:
        yield url


def _choose(page, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label`."""
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def _add_near_max_pain_rule(page, name: str, symbol: str | None = None) -> None:
    """Add a "spot within 20 % of max pain" rule on the open Alerts page and wait until it is listed."""
    _choose(page, "Kind", "Spot near a level")
    page.get_by_text("Within (% of the level)").wait_for(timeout=30_000)
    page.get_by_label("Name").fill(name)
    if symbol:
        _choose(page, "Symbol", symbol)
    _choose(page, "Level", "max pain")
    within = page.get_by_label("Within (% of the level)")
    within.fill("20")
    within.press("Tab")
    page.get_by_role("button", name="Add rule").click()
    page.get_by_text("spot within 20 % of max pain", exact=False).first.wait_for(timeout=30_000)


def test_a_rule_fires_a_toast_on_the_demo(demo_dashboard, tmp_path):
    with chromium(tmp_path) as context:
        # A trader's Live tab is open before the rule exists; the rule is added in a second tab. The
        # toast must reach the Live tab. (Adding the rule first and then clicking to Live raced: at
        # 20x the Alerts page could toast the alert before the click, and a page switch drops it.)
        live = context.new_page()
        live.goto(demo_dashboard, wait_until="domcontentloaded")
        live.get_by_text("Engines", exact=True).wait_for(timeout=60_000)
        page = context.new_page()
        page.goto(f"{demo_dashboard}/alerts", wait_until="domcontentloaded")
        page.get_by_text("New rule", exact=True).wait_for(timeout=60_000)
        _add_near_max_pain_rule(page, "NIFTY near max pain", symbol="NIFTY")
        toast = live.locator('[data-testid="stToast"]').filter(has_text="NEAR_MAX_PAIN")
        toast.first.wait_for(timeout=60_000)
        text = toast.first.inner_text()
        assert "NIFTY NEAR_MAX_PAIN" in text and "max pain" in text
        live.screenshot(path=str(tmp_path / "toast.png"))
        live.close()
        page.reload(wait_until="domcontentloaded")
        # the rules table is a canvas grid: its cells exist in the DOM for assistive tech, hidden
        cell = page.locator('[data-testid="stDataFrame"] td').filter(has_text="NIFTY near max pain")
        cell.first.wait_for(state="attached", timeout=30_000)
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "alerts.png"), full_page=True)
    assert (tmp_path / "toast.png").stat().st_size > 10_000


@pytest.fixture
def replica(tmp_path):
    """A headless worker (demo, 20x, --live-state) and a dashboard replica (STRIKEIQ_LIVE_SOURCE=db)
    sharing one SQLite file: the worker evaluates and delivers, the replica shows."""
    db = f"sqlite:///{(tmp_path / 'shared.db').as_posix()}"
    env = {
        **os.environ,
        "STRIKEIQ_DATA_DIR": str(tmp_path),
        "DATABASE_URL": db,
        "STRIKEIQ_SIM_WARMUP_S": "120",
    }
    env.pop("STRIKEIQ_LIVE_SOURCE", None)
    with (tmp_path / "worker.log").open("w") as wlog:
        worker = subprocess.Popen(
            [sys.executable, "-m", "core", "worker", "--feed", "sim", "--scenario", "demo", "--speed", "20",
             "--symbols", "NIFTY", "--live-state", "--db", db],
            env=env, stdout=wlog, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        try:
            replica_env = {**env, "STRIKEIQ_LIVE_SOURCE": "db", "STRIKEIQ_SYMBOLS": "NIFTY"}
            with streamlit_app(tmp_path, replica_env, alive=lambda: worker.poll() is None) as url:
                yield url
        finally:
            stop(worker, timeout_s=30)


def test_a_rule_added_on_a_replica_fires_in_the_worker_and_toasts_on_the_replica(replica, tmp_path):
    with chromium(tmp_path) as context:
        page = context.new_page()
        page.goto(f"{replica}/alerts", wait_until="domcontentloaded")
        page.get_by_text("Replica mode", exact=False).first.wait_for(timeout=60_000)
        _add_near_max_pain_rule(page, "replica rule")  # a replica of NIFTY only: no symbol choice
        toast = page.locator('[data-testid="stToast"]').filter(has_text="NEAR_MAX_PAIN")
        toast.first.wait_for(timeout=90_000)  # the worker reloads rules every 2 s, then a cycle fires
        assert "NIFTY NEAR_MAX_PAIN" in toast.first.inner_text()
        page.screenshot(path=str(tmp_path / "replica_toast.png"))
