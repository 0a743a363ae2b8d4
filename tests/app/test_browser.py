"""The real dashboard in headless Chromium: tiles and charts render and the live panel refreshes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.app.conftest import main_script

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI must run the browser test: /usr/bin/chromium is missing (apt-get install chromium)")
    pytest.skip("Chromium not installed at /usr/bin/chromium (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_app(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    """`streamlit run app/main.py` on a free port with `env`, its output in tmp_path/streamlit.log;
    yields the URL once the server answers its health check, stops the server afterwards."""
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", main_script(), "--server.port", str(port)]
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path(main_script()).parents[1]
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()[-2000:]}")
        time.sleep(0.25)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def dashboard(tmp_path):
    """The dashboard with its own SQLite file and a 20x simulator."""
    env = {
        **os.environ,
        "STRIKEIQ_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{(tmp_path / 'browser.db').as_posix()}",
        "STRIKEIQ_FEED": "sim",
        "STRIKEIQ_SPEED": "20",
    }
    with streamlit_app(tmp_path, env) as url:
        yield url


def test_live_page_renders_and_refreshes(dashboard, tmp_path):
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1200},
        )
        try:
            page = context.new_page()
            page.goto(dashboard, wait_until="domcontentloaded")
            page.get_by_text("Engines", exact=True).wait_for(timeout=60_000)
            page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=60_000)
            caption = page.get_by_text("Event time", exact=False).first
            first = caption.inner_text()
            page.wait_for_function(
                "(before) => [...document.querySelectorAll('p, div')].some("
                "e => e.innerText && e.innerText.startsWith('Event time') && e.innerText !== before)",
                arg=first,
                timeout=30_000,
            )
            second = page.get_by_text("Event time", exact=False).first.inner_text()
            assert second != first, "live panel did not refresh"
            assert page.get_by_text("Liquidity", exact=False).count() > 0  # an engine tile
            page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
        finally:
            context.close()
    assert (tmp_path / "live.png").stat().st_size > 10_000
