"""The `alerts` benchmark: what alerts cost the feed thread and how fast they arrive.

- `observe`: AlertService.observe per metrics cycle with 50 rules of every kind (feed-thread time);
- `webhook`: one delivery to a loopback receiver, request to answer (Sender, urllib);
- `fire_to_receipt`: observe() on the feed thread until the loopback receiver has the JSON body,
  through the queue and a delivery thread;
- `page`: the Alerts page's server rerun time with 20 rules and 200 logged alerts (AppTest, in-process).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from core.alerts.config import AlertConfig
from core.alerts.delivery import DeliveryResult, Sender
from core.alerts.evaluate import AlertEvent
from core.alerts.records import AlertLog
from core.alerts.rules import AlertRule
from core.alerts.service import AlertService
from core.bench.common import percentiles, scratch_dir, time_ms
from core.bench.page import dashboard, page_result
from core.domain import Alert, LiveMetrics, Signal
from core.storage.alerts import add_rule, save_events
from core.storage.database import SessionLocal, configure_database, upgrade


class _Receiver:
    """A loopback webhook that notes when each body arrived (perf_counter)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.got = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                with outer.got:
                    outer.arrivals[body["id"]] = time.perf_counter()
                    outer.got.notify_all()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, event_id: str, timeout: float = 10.0) -> float:
        with self.got:
            self.got.wait_for(lambda: event_id in self.arrivals, timeout)
            return self.arrivals[event_id]


def _rules() -> tuple[AlertRule, ...]:
    kinds: list[dict[str, Any]] = [
        {"kind": "signal", "min_confidence": 0.5},
        {"kind": "spot_cross", "price": 25_000.0},
        {"kind": "near_level", "level": "gamma_flip", "within_pct": 0.2},
        {"kind": "pcr_cross", "value": 1.1},
        {"kind": "structural"},
    ]
    return tuple(AlertRule(name=f"r{i}", **kinds[i % len(kinds)], cooldown_s=60) for i in range(50))


def _cycle(i: int) -> tuple[LiveMetrics, list[Signal]]:
    ts = 1_796_000_000.0 + i
    spot = 25_000.0 + 40.0 * np.sin(i / 7.0)
    m = LiveMetrics(symbol="NIFTY", expiry=date(2026, 12, 1), ts=ts, spot=float(spot), gamma_flip=25_010.0,
                    pcr_oi=1.1 + 0.05 * np.sin(i / 5.0), alerts=(Alert("PIN_RISK", "high", "pin", ts),) if i % 9 == 0 else ())  # fmt: skip
    sigs = (
        [Signal(ts, "NIFTY", "LiquidityEngine", "SWEEP_UP", "UP", 0.7, 0.7, 0.5, float(spot))]
        if i % 30 == 0
        else []
    )
    return m, sigs


def bench_observe(cycles: int = 5000) -> dict[str, Any]:
    svc = AlertService(AlertConfig())  # in-app only: no delivery thread, no database
    svc._static = _rules()
    samples, fired = [], 0
    for i in range(cycles):
        m, sigs = _cycle(i)
        t0 = time.perf_counter()
        fired += len(svc.observe(m, sigs))
        samples.append((time.perf_counter() - t0) * 1e6)
    return {"rules": 50, "cycles": cycles, "alerts_fired": fired, **percentiles(samples, "us", digits=3)}


def bench_delivery(n: int = 200) -> dict[str, Any]:
    receiver = _Receiver()
    try:
        sender = Sender(AlertConfig(webhook_url=receiver.url))
        event = AlertEvent(
            "bench", None, "signal", "NIFTY", 1_796_000_000.0, "SWEEP_UP", "UP", "bench", 25_000.0
        )
        samples = []
        for _ in range(n):
            result = sender.deliver(event, "webhook")
            assert result.status == "sent", result.error
            samples.append(result.latency_ms or 0.0)
        svc = AlertService(AlertConfig(webhook_url=receiver.url, min_confidence=0.5)).start()
        e2e = []
        try:
            for i in range(n):
                m, _ = _cycle(i)
                sig = Signal(m.ts, "NIFTY", "LiquidityEngine", "SWEEP_UP", "UP", 0.7, 0.7, 0.5, m.spot)
                t0 = time.perf_counter()
                [ev] = svc.observe(m, [sig])
                e2e.append((receiver.wait_for(ev.id) - t0) * 1000.0)
        finally:
            svc.stop()
        return {
            "deliveries": n,
            "webhook": percentiles(samples, digits=3),
            "fire_to_receipt": percentiles(e2e, digits=3),
        }
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def _seed(url: str) -> None:
    """20 rules and 200 fired alerts with their deliveries, as a busy day leaves them."""
    upgrade(url)
    engine = configure_database(url)
    log = AlertLog(capacity=1000)
    records = []
    for i in range(200):
        event = AlertEvent(f"rule {i % 20}", None, "signal", "NIFTY", 1_796_000_000.0 + 60 * i, "SWEEP_UP", "UP",
                           "LiquidityEngine SWEEP_UP (UP) at 70%", 25_000.0, channels=("webhook",))  # fmt: skip
        log.add(event, time.time())
        record = log.update(event.id, "webhook", DeliveryResult("sent", 1, "", 3.0, time.time(), "x"))
        assert record is not None  # the event was added just above
        records.append(record)
    with SessionLocal() as session:
        for i in range(20):
            add_rule(
                session, AlertRule(name=f"rule {i}", kind="spot_cross", price=20_000.0 + i, cooldown_s=600)
            )
        save_events(session, records)
    engine.dispose()


def bench_alerts_page(reruns: int = 30) -> dict[str, Any]:
    """Reruns of the Alerts page with 20 rules and 200 logged alerts, beside a 20x simulator."""
    data_dir = scratch_dir("alerts")
    url = f"sqlite:///{data_dir}/alerts.db"
    _seed(url)
    env = {
        "STRIKEIQ_DATA_DIR": str(data_dir),
        "DATABASE_URL": url,
        "STRIKEIQ_FEED": "sim",
        "STRIKEIQ_SPEED": "20",
    }
    with dashboard(env) as at:
        at.run()
        at.switch_page("views/alerts.py")
        at.run()
        samples = time_ms(at.run, reruns)
        return {
            "rules": 20,
            "logged_alerts": 200,
            "reruns": reruns,
            **percentiles(samples, digits=2),
            "exceptions": len(at.exception),
        }


def bench_alerts() -> dict[str, Any]:
    return {"observe": bench_observe(), **bench_delivery(), "page": page_result(bench_alerts_page)}


def run(db: str | None) -> dict[str, Any]:
    return bench_alerts()
