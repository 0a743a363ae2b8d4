"""The `page` benchmark: server time of a Live page rerun (SPEC §11: fragment rerun <= 100 ms), and the
in-process dashboard session that the Alerts and Intraday page benchmarks share.

Streamlit's AppTest runs the dashboard's entry point, app/main.py, by file path in this process, as
`streamlit run` would. `streamlit.testing` is imported only when a page benchmark runs, so the rest of
core stays free of Streamlit. A full script rerun includes the Live fragment, so its time is an upper
bound on the fragment's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from core.bench.common import percentiles, scratch_dir, time_ms
from core.config import PROJECT_ROOT

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

MAIN = PROJECT_ROOT / "app" / "main.py"


def _shutdown_runtime() -> None:
    """Run by AppTest as a Streamlit script, like the pages (never called from core): the app's own
    teardown stops the runtime its pages started and clears the page caches."""
    from app.runtime import shutdown_runtime

    shutdown_runtime()


@contextmanager
def dashboard(env: dict[str, str], timeout_s: float = 60.0) -> Iterator[AppTest]:
    """An AppTest of the dashboard whose runtime reads `env`; on exit the runtime the pages started
    is stopped and the process environment restored, so the next benchmark starts clean.

    Streamlit logs only errors meanwhile: its notes on the pages (deprecations, bare-mode warnings)
    would otherwise flood stderr beside the JSON.
    """
    from streamlit import logger as streamlit_logger
    from streamlit.testing.v1 import AppTest

    saved = {name: os.environ.get(name) for name in env}
    log_level = logging.getLogger("streamlit").level or logging.INFO
    streamlit_logger.set_log_level(logging.ERROR)
    os.environ.update(env)
    try:
        yield AppTest.from_file(str(MAIN), default_timeout=timeout_s)
    finally:
        try:
            AppTest.from_function(_shutdown_runtime, default_timeout=60).run()
        finally:
            streamlit_logger.set_log_level(log_level)
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def page_result(bench: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A page benchmark's figures, or {"error": ...}: one failing page does not end the whole run."""
    try:
        return bench()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def bench_live_page(reruns: int = 40) -> dict[str, Any]:
    """Reruns of the Live page against a 20x demo simulator on a throwaway SQLite file, once it shows
    market data."""
    data_dir = scratch_dir("page")
    env = {
        "STRIKEIQ_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir}/page.db",
        "STRIKEIQ_FEED": "sim",
        "STRIKEIQ_SPEED": "20",
        "STRIKEIQ_SCENARIO": "demo",
    }
    with dashboard(env) as at:
        at.run()
        deadline = time.monotonic() + 60
        while not any(m.label == "Spot" for m in at.metric):
            if time.monotonic() > deadline:
                raise RuntimeError("the Live page never showed market data")
            time.sleep(0.2)
            at.run()
        samples = time_ms(at.run, reruns)
        return {"reruns": reruns, **percentiles(samples, digits=2), "exceptions": len(at.exception)}


def run(db: str | None) -> dict[str, Any]:
    return page_result(bench_live_page)
