"""alert_rules and alert_events on SQLite and PostgreSQL: rules CRUD, events upserted by id."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.alerts.delivery import DeliveryResult
from core.alerts.evaluate import AlertEvaluator
from core.alerts.records import AlertLog
from core.alerts.rules import AlertRule
from core.storage.alerts import (
    add_rule,
    delete_rule,
    events_after,
    last_event_id,
    load_rules,
    recent_events,
    save_events,
    set_rule_enabled,
)
from core.storage.database import SessionLocal, configure_database, upgrade
from tests.core.alerts.builders import T0, metrics, signal


@pytest.fixture
def db(db_url):
    upgrade(db_url)
    engine = configure_database(db_url)
    yield db_url
    engine.dispose()


def test_rules_are_added_listed_toggled_and_deleted(db) -> None:
    first = AlertRule(
        name="NIFTY 25k", kind="spot_cross", symbol="NIFTY", price=25_000, channels=("webhook",)
    )
    second = AlertRule(name="pins", kind="structural", structural=("PIN_RISK",), cooldown_s=900)
    with SessionLocal() as s:
        a, b = add_rule(s, first), add_rule(s, second)
    assert a.id is not None and b.id is not None and a.id != b.id
    with SessionLocal() as s:
        assert load_rules(s) == (a, b)
        assert set_rule_enabled(s, a.id, False) is True
        assert set_rule_enabled(s, 9999, False) is False
    with SessionLocal() as s:
        assert [r.enabled for r in load_rules(s)] == [False, True]
        assert delete_rule(s, b.id) is True and delete_rule(s, b.id) is False
    with SessionLocal() as s:
        assert load_rules(s) == (replace(a, enabled=False),)


def test_events_are_upserted_and_read_back_whole(db) -> None:
    rule = AlertRule(name="all", kind="signal", channels=("webhook", "telegram"), cooldown_s=0)
    events = [
        e for i in range(3) for e in AlertEvaluator().evaluate([rule], metrics(T0 + i), [signal(T0 + i)])
    ]
    log = AlertLog()
    records = [log.add(e, T0 + 100) for e in events]
    with SessionLocal() as s:
        assert save_events(s, records) == 3
    sent = DeliveryResult("sent", 1, "", 4.2, T0 + 101, "http://127.0.0.1:1/***")
    failed = DeliveryResult("failed", 3, "HTTP 502: bad gateway", 20.0, T0 + 102, "telegram chat 1")
    log.update(events[0].id, "webhook", sent)
    updated = log.update(events[0].id, "telegram", failed)
    with SessionLocal() as s:
        save_events(s, [updated])
    with SessionLocal() as s:
        stored = recent_events(s, 10)
        last = last_event_id(s)
    assert [r.event.ts for r in stored] == [T0 + 2, T0 + 1, T0]
    oldest = stored[-1]
    assert oldest.event == replace(events[0], webhook_url="")  # the rule's URL is not stored with it
    assert dict(oldest.deliveries) == {"webhook": sent, "telegram": failed} and oldest.status == "failed"
    assert stored[0].status == "pending"
    with SessionLocal() as s:
        assert events_after(s, 0, 2) == [stored[1], stored[0]]  # the newest two, oldest first
        assert events_after(s, last) == []
