"""Alerts page for traders: define, enable and delete alert rules; the alert log with each delivery.

Rules are rows of `alert_rules`; the process that runs the feed (this dashboard's runtime, or the
worker behind a STRIKEIQ_LIVE_SOURCE=db replica) reloads them every few seconds and evaluates them on
every metrics cycle. The log reads `alert_events`, so it shows every run's alerts, across restarts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.alerts_ui import db_alert_feed, toast_new_alerts
from app.components import engine_label, fmt_ist, from_database
from app.runtime import get_runtime
from core.alerts.config import mask_webhook
from core.alerts.records import AlertRecord
from core.alerts.rules import (
    CHANNELS,
    CROSSINGS,
    DIRECTIONS,
    ENGINES,
    LEVELS,
    PCR_METRICS,
    STRUCTURAL_KINDS,
    AlertRule,
    RuleError,
)
from core.config import KNOWN_SYMBOLS
from core.storage.alerts import add_rule, delete_rule, load_rules, set_rule_enabled
from core.storage.database import SessionLocal

runtime = get_runtime()
KIND_LABELS = {
    "signal": "Engine signal",
    "spot_cross": "Spot crosses a price",
    "near_level": "Spot near a level",
    "pcr_cross": "PCR crosses a value",
    "structural": "Structural alert",
}
LOG_SIZE = 200

st.title("Alerts")


def _where_evaluated() -> None:
    service = getattr(runtime, "alerts", None)
    if service is None:
        st.info(
            "Replica mode: the worker process (`python -m core worker --live-state`) evaluates these rules "
            "and delivers the alerts; this dashboard stores rules and shows what the worker fired.",
            icon=":material/dns:",
        )
        return
    cfg = service.config
    webhook = mask_webhook(cfg.webhook_url) if cfg.webhook_url else "not set (STRIKEIQ_ALERT_WEBHOOK)"
    telegram = "configured" if cfg.telegram_ready else "not configured (TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID)"
    st.caption(
        f"Rules are evaluated by this dashboard's runtime on every metrics cycle. Webhook: {webhook} · "
        f"Telegram: {telegram} · the in-app log and toast always get an alert."
    )


def _rule_form_fields(kind: str) -> dict[str, Any]:
    """The fields of one kind of rule (inside the form, so nothing reruns while typing)."""
    f: dict[str, Any] = {}
    if kind == "signal":
        f["engines"] = tuple(st.multiselect("Engines (none = all)", ENGINES, format_func=engine_label,
                                            key="ar_engines"))  # fmt: skip
        f["directions"] = tuple(st.multiselect("Directions (none = all)", DIRECTIONS, key="ar_dirs"))
        f["min_confidence"] = st.slider("Minimum confidence", 0.0, 1.0, 0.6, 0.05, key="ar_conf")
    elif kind == "spot_cross":
        f["price"] = st.number_input("Price (₹)", min_value=0.0, value=25_000.0, step=50.0, key="ar_price")
        f["cross"] = st.selectbox("Direction", CROSSINGS, index=2, key="ar_cross")
    elif kind == "near_level":
        f["level"] = st.selectbox("Level", LEVELS, format_func=lambda v: v.replace("_", " "), key="ar_level")
        f["within_pct"] = st.number_input("Within (% of the level)", 0.01, 20.0, 0.2, 0.05, key="ar_pct")
    elif kind == "pcr_cross":
        f["metric"] = st.selectbox("PCR", PCR_METRICS, format_func=lambda v: v.upper().replace("_", " "),
                                   key="ar_metric")  # fmt: skip
        f["value"] = st.number_input("Value", min_value=0.01, value=1.0, step=0.05, key="ar_value")
        f["cross"] = st.selectbox("Direction", CROSSINGS, index=2, key="ar_pcross")
    else:
        f["structural"] = tuple(st.multiselect("Structural alerts", STRUCTURAL_KINDS,
                                               default=["GAMMA_FLIP_BREAK", "PIN_RISK"], key="ar_struct"))  # fmt: skip
    return f


def new_rule_form() -> None:
    st.subheader("New rule")
    kind = st.selectbox("Kind", list(KIND_LABELS), format_func=KIND_LABELS.get, key="ar_kind")
    with st.form("new_alert_rule", clear_on_submit=True):
        name = st.text_input("Name", max_chars=100, key="ar_name")
        symbol = st.selectbox("Symbol", ("Any", *KNOWN_SYMBOLS), key="ar_symbol")
        fields = _rule_form_fields(kind)
        cols = st.columns(2)
        channels = cols[0].multiselect("Also deliver to", CHANNELS, key="ar_channels",
                                       help="The in-app log and toast always get the alert")  # fmt: skip
        cooldown = cols[1].number_input("Cooldown (s, event time)", 0, 86_400, 300, 30, key="ar_cooldown")
        webhook = st.text_input("Webhook URL (empty = STRIKEIQ_ALERT_WEBHOOK)", key="ar_webhook")
        if not st.form_submit_button("Add rule", type="primary"):
            return
    try:
        rule = AlertRule(name=name.strip(), kind=kind, symbol=None if symbol == "Any" else symbol,
                         channels=tuple(channels), cooldown_s=float(cooldown), webhook_url=webhook.strip(),
                         **fields)  # fmt: skip
    except RuleError as exc:
        st.error(f"Rule not saved: {exc}")
        return
    saved = _write(add_rule, rule)
    if saved is not None:
        st.success(f"Rule “{saved.name}” saved: {saved.describe()}. It is in force within a few seconds.")


def _write(fn: Any, *args: Any) -> Any:
    """A rule change, or the reason it failed (a database outage is said, not raised)."""
    try:
        with SessionLocal() as session:
            return fn(session, *args)
    except Exception as exc:  # the page must stay usable while the database is away
        st.error(f"Could not save the change: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return None


def _load_rules() -> tuple[AlertRule, ...]:
    with SessionLocal() as session:
        return load_rules(session)


def rules_list() -> None:
    """All rules in one table (one element, however many rules), then one rule managed at a time."""
    st.subheader("Rules")
    rules = from_database(runtime, _load_rules)
    service = getattr(runtime, "alerts", None)
    fixed = list(service.static_rules()) if service is not None else []
    if not rules and not fixed:
        st.info("No alert rules yet: add one above.")
        return
    origin = {"db": "this page", "file": "rules file", "config": "--alert-webhook"}
    st.dataframe(pd.DataFrame([{
        "id": r.id, "name": r.name, "rule": r.describe(), "delivers to": ", ".join(("in-app", *r.channels)),
        "cooldown (s)": r.cooldown_s, "enabled": r.enabled, "from": origin.get(r.origin, r.origin),
    } for r in (*rules, *fixed)]), hide_index=True, width="stretch", key="alert_rules_table")  # fmt: skip
    if not rules:
        return
    by_id = {r.id: r for r in rules}
    cols = st.columns([4, 1.2, 1], vertical_alignment="bottom")
    chosen = cols[0].selectbox("Manage rule", list(by_id), key="ar_manage",
                               format_func=lambda i: f"#{i} {by_id[i].name}")  # fmt: skip
    rule = by_id[chosen]
    if cols[1].button("Disable" if rule.enabled else "Enable", key="ar_toggle"):
        _write(set_rule_enabled, rule.id, not rule.enabled)
        st.rerun()
    if cols[2].button("Delete", key="ar_delete"):
        _write(delete_rule, rule.id)
        st.rerun()


def _delivery_text(record: AlertRecord) -> str:
    parts = []
    for channel, r in record.deliveries.items():
        text = f"{channel}: {r.status}"
        if r.attempts:
            text += f" ({r.attempts} attempt{'s' if r.attempts > 1 else ''}"
            text += f", {r.latency_ms:,.0f} ms)" if r.latency_ms is not None else ")"
        if r.error:
            text += f" — {r.error}"
        parts.append(text)
    return "; ".join(parts) or "in-app only"


def _log_frame(records: list[AlertRecord]) -> pd.DataFrame:
    return pd.DataFrame([{
        "time": fmt_ist(r.event.ts, with_date=True), "symbol": r.event.symbol, "rule": r.event.rule_name,
        "alert": r.event.signal, "direction": r.event.direction, "message": r.event.message,
        "status": r.status, "deliveries": _delivery_text(r),
    } for r in records])  # fmt: skip


@st.fragment(run_every=2.0)
def alert_log() -> None:
    toast_new_alerts()
    st.subheader("Alert log")
    service = getattr(runtime, "alerts", None)
    if service is not None:
        s = service.stats()
        cols = st.columns(6)
        for col, (label, key) in zip(cols, [("Fired", "fired"), ("Sent", "sent"), ("Failed", "failed"),
                                            ("Skipped", "skipped"), ("Dropped", "dropped"),
                                            ("Queued", "queued")], strict=True):  # fmt: skip
            col.metric(label, f"{s[key]:,}")
        if s["last_error"]:
            st.warning(f"Last delivery problem: {s['last_error'][:300]}", icon=":material/error:")
    records = from_database(runtime, db_alert_feed().recent, LOG_SIZE)
    if not records:
        st.info("No alert has fired yet. Fired alerts appear here and as a toast on every page.")
        return
    failed = sum(r.status == "failed" for r in records)
    st.caption(
        f"The newest {len(records)} alerts (IST){f' · {failed} with a failed delivery' if failed else ''}."
    )
    st.dataframe(_log_frame(records), hide_index=True, width="stretch", key="alert_log_table")


_where_evaluated()
new_rule_form()
rules_list()
alert_log()
