"""App fixtures: an isolated data dir and database per test, the simulator fast enough to fill pages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parents[2] / "app"


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """Point the app's runtime at a fresh SQLite file and a 20x simulator with a one-minute
    warm-up (delivered unpaced, so pages fill at once); stop it afterwards."""
    from app.runtime import shutdown_runtime

    monkeypatch.setenv("STRIKEIQ_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{(tmp_path / 'app.db').as_posix()}")
    monkeypatch.setenv("STRIKEIQ_FEED", "sim")
    monkeypatch.setenv("STRIKEIQ_SPEED", "20")
    monkeypatch.setenv("STRIKEIQ_SIM_WARMUP_S", "60")
    for name in ("STRIKEIQ_LIVE_SOURCE", "STRIKEIQ_SCENARIO"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path
    shutdown_runtime()


def main_script() -> str:
    return os.fspath(APP_DIR / "main.py")


@pytest.fixture
def dashboard(tmp_path):
    """`streamlit run app/main.py` with its own SQLite file and a 20x simulator (browser tests)."""
    from tests.app.browser import streamlit_app

    env = {
        **os.environ,
        "STRIKEIQ_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{(tmp_path / 'browser.db').as_posix()}",
        "STRIKEIQ_FEED": "sim",
        "STRIKEIQ_SPEED": "20",
    }
    with streamlit_app(tmp_path, env) as url:
        yield url
