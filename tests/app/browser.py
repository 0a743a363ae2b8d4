"""Real-browser test helpers: the dashboard as `streamlit run` on a free port, and headless Chromium.

Chromium is the machine's /usr/bin/chromium (Playwright cannot download a browser here), driven
through a persistent context so each test has its own profile directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.app.conftest import main_script

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

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
ROOT = Path(main_script()).parents[1]


def require_chromium() -> None:
    """Skip without Chromium, except in CI, where the browser tests are mandatory."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI must run the browser test: /usr/bin/chromium is missing (apt-get install chromium)")
    pytest.skip("Chromium not installed at /usr/bin/chromium (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_healthy(url: str, alive: Callable[[], bool], log: Path, timeout_s: float = 60.0) -> None:
    """Until Streamlit at `url` answers its health check; fails with the log's tail if `alive()`
    turns false (the server or something it needs died) or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if not alive() or time.monotonic() > deadline:
            pytest.fail(f"streamlit did not start: {log.read_text()[-2000:]}")
        time.sleep(0.25)


def stop(*procs: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """Terminate every process, then wait for each; kill what does not stop in time."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def streamlit_app(
    tmp_path: Path, env: dict[str, str], port: int | None = None, alive: Callable[[], bool] = lambda: True
) -> Iterator[str]:
    """`streamlit run app/main.py` with `env` on `port` (default: a free one), its output in
    tmp_path/streamlit.log; yields the URL once the server answers, stops the server afterwards.
    `alive` is asked while waiting: a companion process that died fails the start at once."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", main_script(), "--server.port", str(port)]
    log_path = tmp_path / "streamlit.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, lambda: proc.poll() is None and alive(), log_path)
            yield url
        finally:
            stop(proc)


@contextmanager
def chromium(tmp_path: Path, width: int = 1600, height: int = 1200) -> Iterator[BrowserContext]:
    """Headless Chromium with its profile in tmp_path/profile; closed afterwards."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()
