"""The Alerts page through AppTest: rules are added, refused, toggled and deleted; a fired alert is in
the log with its delivery state and toasts on whatever page is open."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from core.alerts.rules import AlertRule
from core.storage.alerts import add_rule, load_rules
from core.storage.database import SessionLocal
from tests.app.conftest import main_script

pytestmark = pytest.mark.usefixtures("app_env")
PAGE = "views/alerts.py"


def alerts_page() -> AppTest:
    at = AppTest.from_file(main_script(), default_timeout=60)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def stored_rules() -> tuple[AlertRule, ...]:
    with SessionLocal() as session:
        return load_rules(session)


def test_empty_page_says_there_is_nothing_yet() -> None:
    at = alerts_page()
    assert at.title[0].value == "Alerts"
    infos = " ".join(i.value for i in at.info)
    assert "No alert rules yet" in infos and "No alert has fired yet" in infos
    assert any("evaluated by this dashboard's runtime" in c.value for c in at.caption)


def test_a_rule_is_added_disabled_and_deleted() -> None:
    at = alerts_page()
    at.selectbox(key="ar_kind").set_value("spot_cross").run()
    at.text_input(key="ar_name").set_value("NIFTY 25k")
    at.selectbox(key="ar_symbol").set_value("NIFTY")
    at.number_input(key="ar_price").set_value(25_000.0)
    at.multiselect(key="ar_channels").set_value(["webhook"])
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("NIFTY: spot crosses 25,000.00 either way" in s.value for s in at.success)
    [rule] = stored_rules()
    assert (rule.kind, rule.symbol, rule.price, rule.channels) == (
        "spot_cross",
        "NIFTY",
        25_000.0,
        ("webhook",),
    )
    at.run()
    table = next(df.value for df in at.dataframe if "rule" in df.value.columns)
    assert list(table["name"]) == ["NIFTY 25k"] and bool(table["enabled"].iloc[0]) is True
    at.selectbox(key="ar_manage").set_value(rule.id)
    at.button(key="ar_toggle").click().run()
    assert stored_rules()[0].enabled is False
    assert at.button(key="ar_toggle").label == "Enable"
    at.button(key="ar_delete").click().run()
    assert stored_rules() == ()
    assert any("No alert rules yet" in i.value for i in at.info)


def test_a_wrong_rule_is_refused_with_the_reason() -> None:
    at = alerts_page()
    at.selectbox(key="ar_kind").set_value("signal").run()
    at.button[0].click().run()  # no name
    assert any("Rule not saved: name is empty" in e.value for e in at.error)
    assert stored_rules() == ()


def test_a_fired_alert_is_logged_and_toasted() -> None:
    at = alerts_page()  # starts the runtime and sets this session's toast cursor
    with SessionLocal() as session:
        add_rule(session, AlertRule(name="near max pain", kind="near_level", level="max_pain", within_pct=20.0,
                                    symbol="NIFTY", channels=("webhook",)))  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        toasts = [t.value for t in at.toast]
        if toasts:
            break
        assert time.monotonic() < deadline, "no alert toast within 60 s"
        time.sleep(0.5)  # wall time for the runtime to reload the rule and run a metrics cycle
    assert any("NIFTY NEAR_MAX_PAIN" in t for t in toasts)
    at.run()
    frames = [df.value for df in at.dataframe]
    log = next(f for f in frames if "deliveries" in f.columns)
    row = log.iloc[0]
    assert row["rule"] == "near max pain" and row["alert"] == "NEAR_MAX_PAIN"
    # no webhook is configured in the test environment: the delivery is skipped and says why
    assert row["status"] == "skipped" and "STRIKEIQ_ALERT_WEBHOOK" in row["deliveries"]


def test_a_replica_shows_and_toasts_what_the_worker_stored(app_env, monkeypatch) -> None:
    """STRIKEIQ_LIVE_SOURCE=db: no runtime here; the worker's alert_events rows are the log and toasts."""
    from core.alerts.delivery import DeliveryResult
    from core.alerts.evaluate import AlertEvaluator
    from core.alerts.records import AlertLog
    from core.storage.alerts import save_events
    from core.storage.database import upgrade
    from tests.core.alerts.builders import metrics, signal

    monkeypatch.setenv("STRIKEIQ_LIVE_SOURCE", "db")
    upgrade(f"sqlite:///{(app_env / 'app.db').as_posix()}")  # a worker migrated the shared database
    at = alerts_page()
    assert any("Replica mode" in i.value for i in at.info)
    rule = AlertRule(name="worker rule", kind="signal", channels=("telegram",), cooldown_s=0)
    [event] = AlertEvaluator().evaluate([rule], metrics(), [signal()])
    log = AlertLog()
    log.add(event, 0.0)
    failed = DeliveryResult("failed", 3, "HTTP 401: Unauthorized", 15.0, 0.0, "telegram chat 1")
    with SessionLocal() as session:  # what the worker's store thread writes
        save_events(session, [log.update(event.id, "telegram", failed)])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("NIFTY SWEEP_UP 70%" in t.value for t in at.toast)
    log_frame = next(df.value for df in at.dataframe if "deliveries" in df.value.columns)
    assert log_frame.iloc[0]["status"] == "failed"
    assert "telegram: failed (3 attempts, 15 ms) — HTTP 401: Unauthorized" in log_frame.iloc[0]["deliveries"]


def test_system_page_shows_the_alert_service() -> None:
    at = AppTest.from_file(main_script(), default_timeout=60)
    at.run()
    at.switch_page("views/system.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Alerts" in {s.value for s in at.subheader}
    assert {"Rules", "Fired", "Sent", "Failed", "Dropped", "Queued"} <= {m.label for m in at.metric}
