"""AlertService: the feed thread never waits for a delivery; failures are kept and visible; rules
come from the database, the configuration and the rules file; alerts are stored with their state."""

from __future__ import annotations

import pytest

from core.alerts.config import AlertConfig
from core.alerts.rules import AlertRule
from core.alerts.service import AlertService
from core.storage.alerts import add_rule, recent_events
from core.storage.database import SessionLocal, configure_database, upgrade
from tests.core.alerts.builders import T0, metrics, signal
from tests.core.alerts.servers import Reply, closed_port_url, loopback


def test_observe_returns_while_the_webhook_is_still_answering() -> None:
    with loopback() as server:
        server.hold.clear()  # the receiver accepts the POST and does not answer until released
        svc = AlertService(AlertConfig(webhook_url=server.url, min_confidence=0.5)).start()
        try:
            fired = svc.observe(metrics(), [signal()])
            assert len(fired) == 1
            assert server.arrived.acquire(timeout=10)  # the POST is in flight...
            assert svc.recent()[0].status == "pending"  # ...and the feed thread already moved on
            assert svc.observe(metrics(T0 + 1), [signal(T0 + 1)])  # and can fire again meanwhile
            server.hold.set()
            assert svc.flush(10)
        finally:
            svc.stop()
    assert [r.status for r in svc.recent()] == ["sent", "sent"]
    assert svc.stats()["sent"] == 2 and svc.stats()["queued"] == 0


def test_min_confidence_filters_what_the_webhook_gets() -> None:
    with loopback() as server:
        svc = AlertService(AlertConfig(webhook_url=server.url, min_confidence=0.6)).start()
        try:
            svc.observe(metrics(), [signal(confidence=0.59), signal(confidence=0.6, signal="SWEEP_DOWN",
                                                                   direction="DOWN")])  # fmt: skip
            assert svc.flush(10)
        finally:
            svc.stop()
    assert [(b["signal"], b["confidence"]) for b in server.requests] == [("SWEEP_DOWN", 0.6)]


def test_a_failed_delivery_is_logged_visible_and_counted(caplog) -> None:
    cfg = AlertConfig(webhook_url=closed_port_url(), attempts=2, backoff_s=0.01)
    svc = AlertService(cfg).start()
    try:
        svc.observe(metrics(), [signal()])
        assert svc.flush(10)
    finally:
        svc.stop()
    [record] = svc.recent()
    assert record.status == "failed" and record.deliveries["webhook"].attempts == 2
    assert svc.stats()["failed"] == 1 and "connection failed" in svc.stats()["last_error"]
    assert any("delivery failed" in r.message for r in caplog.records)


def test_a_full_delivery_queue_drops_without_blocking() -> None:
    with loopback() as server:
        server.hold.clear()
        svc = AlertService(AlertConfig(webhook_url=server.url), workers=1, queue_max=1).start()
        try:
            rule = AlertRule(name="all", kind="signal", channels=("webhook",), cooldown_s=0)
            svc._static = (rule,)
            svc.observe(metrics(), [signal()])
            assert server.arrived.acquire(timeout=10)  # the one worker is busy with the first
            svc.observe(metrics(T0 + 1), [signal(T0 + 1)])  # queued
            svc.observe(metrics(T0 + 2), [signal(T0 + 2)])  # queue full: dropped
            assert svc.stats()["dropped"] == 1
            assert svc.recent()[0].deliveries["webhook"].error == "delivery queue full: alert dropped"
            server.hold.set()
            assert svc.flush(10)
        finally:
            svc.stop()
    assert [r.status for r in svc.recent()] == ["failed", "sent", "sent"]


def test_an_evaluation_error_costs_nothing_but_a_count(monkeypatch) -> None:
    svc = AlertService(AlertConfig())

    def boom(*_a, **_k):
        raise ZeroDivisionError("bad rule")

    monkeypatch.setattr(svc.evaluator, "evaluate", boom)
    assert svc.observe(metrics(), [signal()]) == []
    assert svc.stats()["evaluation_errors"] == 1 and "bad rule" in svc.stats()["last_error"]


def test_disabled_service_evaluates_nothing(tmp_path) -> None:
    svc = AlertService(AlertConfig(webhook_url="http://127.0.0.1:1/"), enabled=False).start()
    assert svc.rules == () and svc.observe(metrics(), [signal()]) == []
    assert svc.stop() is True


def test_rules_file_rules_are_in_force(tmp_path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\nname = "25k"\nkind = "spot_cross"\nprice = 25000\n')
    svc = AlertService(AlertConfig(rules_file=str(path)))
    svc.observe(metrics(spot=24_990), [])
    [event] = svc.observe(metrics(T0 + 1, spot=25_010), [])
    assert event.rule_name == "25k" and event.signal == "SPOT_CROSS_UP"


@pytest.fixture
def db(db_url):
    upgrade(db_url)
    engine = configure_database(db_url)
    yield db_url
    engine.dispose()


def test_database_rules_are_reloaded_and_alerts_stored_with_their_deliveries(db) -> None:
    with loopback([Reply(500), Reply(200)]) as server:
        cfg = AlertConfig(webhook_url=server.url, min_confidence=0.99, backoff_s=0.01, refresh_s=60)
        svc = AlertService(cfg, SessionLocal).start()
        try:
            assert [r.origin for r in svc.rules] == ["config"]
            with SessionLocal() as s:
                rule = add_rule(s, AlertRule(name="sweeps up", kind="signal", directions=("UP",),
                                             channels=("webhook",), cooldown_s=0))  # fmt: skip
            svc.reload_rules()  # the store thread does this every refresh_s
            assert svc.rules[-1] == rule
            svc.observe(metrics(), [signal(), signal(direction="DOWN", signal="SWEEP_DOWN")])
            assert svc.flush(10)
        finally:
            svc.stop()
    with SessionLocal() as s:
        [stored] = recent_events(s)
    assert stored.event.rule_id == rule.id and stored.event.signal == "SWEEP_UP"
    assert stored.status == "sent" and stored.deliveries["webhook"].attempts == 2
    assert svc.stats()["stored"] >= 1 and svc.stats()["store_errors"] == 0


def test_a_database_outage_keeps_alerts_for_the_next_try(tmp_path) -> None:
    url = f"sqlite:///{(tmp_path / 'late.db').as_posix()}"
    engine = configure_database(url)  # not migrated yet: no alert_events table
    try:
        svc = AlertService(AlertConfig(), SessionLocal)
        svc._static = (AlertRule(name="all", kind="signal", cooldown_s=0),)
        svc.observe(metrics(), [signal()])
        with pytest.raises(Exception, match="alert_events"):
            svc.store_pending()
        assert svc.stats()["unsaved"] == 1
        upgrade(url)
        assert svc.store_pending() == 1 and svc.stats()["unsaved"] == 0
        with SessionLocal() as s:
            assert len(recent_events(s)) == 1
    finally:
        engine.dispose()
