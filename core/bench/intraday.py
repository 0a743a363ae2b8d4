"""The `intraday` benchmark: server time of the Intraday page on a filled database.

Fills a throwaway SQLite file with one full NIFTY session (09:15-15:30 IST: market snapshots every
5 s, chain snapshots of ATM +- 15 every 60 s, as the runtime stores them) and a year of earlier
daily closes, then runs the page through Streamlit's AppTest as a database replica
(STRIKEIQ_LIVE_SOURCE=db, so no simulator competes for the CPU): the first run (cold caches) and
warm reruns.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from core.bench.common import percentiles, scratch_dir, time_ms
from core.bench.page import dashboard, page_result
from core.clock import IST
from core.storage.database import make_engine, upgrade
from core.storage.models import MarketSnapshot, OptionChainSnapshot

DAY = date(2026, 11, 25)
EXPIRY = date(2026, 12, 1)
SNAPSHOT_S, CHAIN_S, SESSION_S = 5, 60, 22_500


def fill(url: str, seed: int = 7) -> dict[str, Any]:
    """One synthetic session of `DAY` and 250 earlier daily closes; returns the row counts."""
    upgrade(url)
    rng = np.random.default_rng(seed)
    open_at = datetime(DAY.year, DAY.month, DAY.day, 9, 15, tzinfo=IST)
    n = SESSION_S // SNAPSHOT_S
    spot = 25000.0 + np.cumsum(rng.normal(0, 3.0, n))
    rows = []
    for i in range(n):
        atm = round(spot[i] / 50) * 50
        rows.append({
            "symbol": "NIFTY", "expiry": EXPIRY, "ts": open_at + timedelta(seconds=SNAPSHOT_S * i),
            "spot": spot[i], "atm_strike": atm, "atm_iv": 0.12 + 0.01 * np.sin(i / 500), "pcr_oi": 0.9 + i / n / 5,
            "pcr_volume": 1.0 + rng.normal(0, 0.05), "max_pain": 25000.0, "support": atm - 200,
            "resistance": atm + 200, "call_wall": atm + 300, "put_wall": atm - 300, "gamma_flip": atm - 100,
            "net_gex": 2e10 - i * 1e6, "total_call_oi": 9e7 + i * 1e3, "total_put_oi": 8.5e7 + i * 2e3,
            "run_id": "bench", "source": "sim:bench",
        })  # fmt: skip
    closes = []  # one row per earlier day: executemany needs the same columns in every row
    for back in range(1, 251):
        at = open_at - timedelta(days=back) + timedelta(hours=6)
        closes.append({"symbol": "NIFTY", "expiry": EXPIRY, "ts": at, "spot": 25000.0,
                     "atm_iv": 0.10 + 0.08 * rng.random(), "run_id": "bench", "source": "sim:bench"})  # fmt: skip
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(MarketSnapshot), rows)
        conn.execute(sa.insert(MarketSnapshot), closes)
        snaps = conn.execute(
            sa.select(MarketSnapshot.id, MarketSnapshot.ts, MarketSnapshot.atm_strike)
            .where(MarketSnapshot.ts >= open_at)
            .order_by(MarketSnapshot.ts)
        ).all()
        chain = []
        for j, (snap_id, ts, atm) in enumerate(snaps[:: CHAIN_S // SNAPSHOT_S]):
            assert atm is not None  # every snapshot above was written with its ATM strike
            for k in atm + 50 * np.arange(-15, 16):
                for right in ("CE", "PE"):
                    chain.append({
                        "market_snapshot_id": snap_id, "symbol": "NIFTY", "expiry": EXPIRY, "ts": ts,
                        "strike": float(k), "right": right, "ltp": 120.0, "bid": 119.0, "ask": 121.0,
                        "oi": 1e6 + j * 100, "oi_change": j * 100.0, "volume": 1e4 * (j + 1),
                        "run_id": "bench", "source": "sim:bench",
                    })  # fmt: skip
        conn.execute(sa.insert(OptionChainSnapshot), chain)
    engine.dispose()
    return {"market_snapshots": len(rows) + len(closes), "chain_rows": len(chain)}


def bench_intraday_page(reruns: int = 20) -> dict[str, Any]:
    """The Intraday page's first run (cold caches) and `reruns` warm reruns, as a database replica."""
    data_dir = scratch_dir("intraday")
    url = f"sqlite:///{data_dir}/intraday.db"
    counts = fill(url)
    env = {"STRIKEIQ_DATA_DIR": str(data_dir), "DATABASE_URL": url, "STRIKEIQ_LIVE_SOURCE": "db"}
    with dashboard(env, timeout_s=120) as at:
        at.run()
        at.switch_page("views/intraday.py")
        start = time.perf_counter()
        at.run()
        cold = (time.perf_counter() - start) * 1000.0
        if at.exception:
            raise RuntimeError([e.value for e in at.exception])
        samples = time_ms(at.run, reruns)
        return {
            **counts,
            "first_run_ms": round(cold, 1),
            "reruns": reruns,
            **percentiles(samples, pcts=(50, 90), digits=1, maximum=True),
            "captions": [c.value for c in at.caption][:2],
        }


def run(db: str | None) -> dict[str, Any]:
    return page_result(bench_intraday_page)
