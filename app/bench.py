"""Server time of a Live page rerun (SPEC §11: fragment rerun <= 100 ms), printed as JSON.

Runs the real page through Streamlit's AppTest against a 20x simulator on a throwaway SQLite file.
A full script rerun includes the fragment, so its time is an upper bound on the fragment's.
Invoked by `python -m core bench --only page` in a subprocess (core never imports Streamlit).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

MAIN = Path(__file__).resolve().parent / "main.py"


def bench_live_page(reruns: int = 40) -> dict:
    from streamlit.testing.v1 import AppTest

    from app.runtime import shutdown_runtime

    data_dir = tempfile.mkdtemp(prefix="strikeiq-page-bench-")
    os.environ.update(
        STRIKEIQ_DATA_DIR=data_dir,
        DATABASE_URL=f"sqlite:///{data_dir}/page.db",
        STRIKEIQ_FEED="sim",
        STRIKEIQ_SPEED="20",
        STRIKEIQ_SCENARIO="demo",
    )
    try:
        at = AppTest.from_file(str(MAIN), default_timeout=60)
        at.run()
        deadline = time.monotonic() + 60
        while not any(m.label == "Spot" for m in at.metric):
            if time.monotonic() > deadline:
                raise RuntimeError("the Live page never showed market data")
            time.sleep(0.2)
            at.run()
        samples = []
        for _ in range(reruns):
            start = time.perf_counter()
            at.run()
            samples.append((time.perf_counter() - start) * 1000.0)
        ms = np.asarray(samples)
        return {
            "reruns": reruns,
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "exceptions": len(at.exception),
        }
    finally:
        shutdown_runtime()


if __name__ == "__main__":
    print(json.dumps(bench_live_page()))
