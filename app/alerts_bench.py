"""Server time of an Alerts page rerun with 20 rules and 200 logged alerts, printed as JSON.

Runs the real page through AppTest against a 20x simulator on a throwaway SQLite file; invoked by
`python -m core bench --only alerts` in a subprocess (core never imports Streamlit).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

MAIN = Path(__file__).resolve().parent / "main.py"


def _seed(url: str) -> None:
    """20 rules and 200 fired alerts with their deliveries, as a busy day leaves them."""
    from core.alerts.delivery import DeliveryResult
    from core.alerts.evaluate import AlertEvent
    from core.alerts.records import AlertLog
    from core.alerts.rules import AlertRule
    from core.storage.alerts import add_rule, save_events
    from core.storage.database import SessionLocal, configure_database, upgrade

    upgrade(url)
    engine = configure_database(url)
    log = AlertLog(capacity=1000)
    records = []
    for i in range(200):
        event = AlertEvent(f"rule {i % 20}", None, "signal", "NIFTY", 1_796_000_000.0 + 60 * i, "SWEEP_UP", "UP",
                           "LiquidityEngine SWEEP_UP (UP) at 70%", 25_000.0, channels=("webhook",))  # fmt: skip
        log.add(event, time.time())
        records.append(log.update(event.id, "webhook", DeliveryResult("sent", 1, "", 3.0, time.time(), "x")))
    with SessionLocal() as session:
        for i in range(20):
            add_rule(
                session, AlertRule(name=f"rule {i}", kind="spot_cross", price=20_000.0 + i, cooldown_s=600)
            )
        save_events(session, records)
    engine.dispose()


def bench_alerts_page(reruns: int = 30) -> dict:
    from streamlit.testing.v1 import AppTest

    from app.runtime import shutdown_runtime

    data_dir = tempfile.mkdtemp(prefix="strikeiq-alerts-bench-")
    url = f"sqlite:///{data_dir}/alerts.db"
    os.environ.update(STRIKEIQ_DATA_DIR=data_dir, DATABASE_URL=url, STRIKEIQ_FEED="sim", STRIKEIQ_SPEED="20")
    _seed(url)
    try:
        at = AppTest.from_file(str(MAIN), default_timeout=60)
        at.run()
        at.switch_page("views/alerts.py")
        at.run()
        samples = []
        for _ in range(reruns):
            start = time.perf_counter()
            at.run()
            samples.append((time.perf_counter() - start) * 1000.0)
        ms = np.asarray(samples)
        return {
            "rules": 20,
            "logged_alerts": 200,
            "reruns": reruns,
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "exceptions": len(at.exception),
        }
    finally:
        shutdown_runtime()


if __name__ == "__main__":
    print(json.dumps(bench_alerts_page()))
