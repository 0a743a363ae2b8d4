"""Alert tables (migration 0006): `alert_rules` the users define, `alert_events` the alerts that fired.

Rows convert at the boundary: `AlertRuleRow.to_rule()` / `from_rule()`, `AlertEventRow.to_record()`;
nothing above storage sees an ORM object. Events are upserted by `event_uid`, so the writer can
store a fired alert at once and again each time one of its deliveries ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.alerts.delivery import DeliveryResult
from core.alerts.evaluate import AlertEvent
from core.alerts.records import AlertRecord
from core.alerts.rules import AlertRule, RuleError, rule_from_mapping
from core.clock import to_datetime, to_epoch
from core.storage.database import rowcount, upsert
from core.storage.models import Base, BigId
from core.storage.types import JSONType, clean_text


class AlertRuleRow(Base):
    """One rule from the Alerts page. Kind-specific fields live in `params` (JSON)."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(32))
    symbol: Mapped[str | None] = mapped_column(sa.String(32))
    params: Mapped[dict[str, Any]]
    channels: Mapped[list[str]] = mapped_column(JSONType())
    cooldown_s: Mapped[float] = mapped_column(sa.Double())
    enabled: Mapped[bool] = mapped_column(sa.Boolean())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @classmethod
    def from_rule(cls, rule: AlertRule, now: datetime | None = None) -> AlertRuleRow:
        now = now or datetime.now(UTC)
        return cls(
            name=clean_text(rule.name)[:100], kind=rule.kind, symbol=rule.symbol, params=rule.params(),
            channels=list(rule.channels), cooldown_s=rule.cooldown_s, enabled=rule.enabled,
            created_at=now, updated_at=now,
        )  # fmt: skip

    def to_rule(self) -> AlertRule:
        data = {**(self.params or {}), "name": self.name, "kind": self.kind, "symbol": self.symbol,
                "channels": self.channels or [], "cooldown_s": self.cooldown_s, "enabled": self.enabled}  # fmt: skip
        return rule_from_mapping(data, origin="db", rule_id=self.id)


class AlertEventRow(Base):
    """One fired alert and the state of each of its deliveries (`deliveries`: channel -> result)."""

    __tablename__ = "alert_events"
    __table_args__ = (sa.Index(None, "ts"), sa.Index(None, "symbol", "ts"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_uid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    ts: Mapped[datetime]  # event time
    fired_at: Mapped[datetime]  # wall time
    rule_id: Mapped[int | None]  # no foreign key: deleting a rule keeps its alerts in the log
    rule_name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(32))
    symbol: Mapped[str] = mapped_column(sa.String(32))
    signal: Mapped[str] = mapped_column(sa.String(64))
    message: Mapped[str] = mapped_column(sa.String(500))
    payload: Mapped[dict[str, Any]]
    deliveries: Mapped[dict[str, Any]]

    def to_record(self) -> AlertRecord:
        return _record(self)


# Readers select these columns, not ORM entities: the log reads 200 rows every refresh.
_EVENT_COLUMNS = tuple(
    getattr(AlertEventRow, c)
    for c in ("id", "event_uid", "ts", "fired_at", "rule_id", "rule_name", "kind", "symbol", "signal",
              "message", "payload", "deliveries")
)  # fmt: skip


def _record(row: Any) -> AlertRecord:
    """An AlertRecord from an AlertEventRow or a row of `_EVENT_COLUMNS`."""
    p = row.payload or {}
    event = AlertEvent(
        rule_name=row.rule_name, rule_id=row.rule_id, kind=row.kind, symbol=row.symbol,
        ts=to_epoch(row.ts), signal=row.signal, direction=p.get("direction") or "NONE",
        message=row.message, spot_price=p.get("spot_price"), engine=p.get("engine"),
        confidence=p.get("confidence"), reasons=tuple(p.get("reasons") or ()),
        expiry=date.fromisoformat(p["expiry"]) if p.get("expiry") else None,
        signal_id=p.get("signal_id"), channels=tuple(row.deliveries or {}), id=row.event_uid,
    )  # fmt: skip
    deliveries = {ch: DeliveryResult(**d) for ch, d in (row.deliveries or {}).items()}
    return AlertRecord(row.id, event, MappingProxyType(deliveries), to_epoch(row.fired_at))


def _event_values(record: AlertRecord) -> dict[str, Any]:
    e = record.event
    return {
        "event_uid": e.id, "ts": to_datetime(e.ts), "fired_at": to_datetime(record.fired_at),
        "rule_id": e.rule_id, "rule_name": clean_text(e.rule_name)[:100], "kind": e.kind, "symbol": e.symbol,
        "signal": e.signal[:64], "message": clean_text(e.message)[:500], "payload": e.payload(),
        "deliveries": {ch: _result_dict(r) for ch, r in record.deliveries.items()},
    }  # fmt: skip


def _result_dict(r: DeliveryResult) -> dict[str, Any]:
    return {"status": r.status, "attempts": r.attempts, "error": r.error[:500], "latency_ms": r.latency_ms,
            "at": r.at, "target": r.target}  # fmt: skip


# rules ---------------------------------------------------------------------------------------------
def load_rules(session: Session) -> tuple[AlertRule, ...]:
    """Every stored rule, oldest first. A row that no longer validates is skipped, not fatal."""
    out = []
    for row in session.scalars(sa.select(AlertRuleRow).order_by(AlertRuleRow.id)):
        try:
            out.append(row.to_rule())
        except RuleError:
            continue
    return tuple(out)


def add_rule(session: Session, rule: AlertRule) -> AlertRule:
    """Store a new rule (committed); the rule with its id."""
    row = AlertRuleRow.from_rule(rule)
    session.add(row)
    session.commit()
    return rule.with_id(row.id)


def set_rule_enabled(session: Session, rule_id: int, enabled: bool) -> bool:
    """Enable or disable a rule; False if there is no such rule."""
    values = {"enabled": enabled, "updated_at": datetime.now(UTC)}
    result = session.execute(sa.update(AlertRuleRow).where(AlertRuleRow.id == rule_id).values(**values))
    session.commit()
    return rowcount(result) > 0


def delete_rule(session: Session, rule_id: int) -> bool:
    """Delete a rule (its fired alerts stay in the log); False if there was none."""
    result = session.execute(sa.delete(AlertRuleRow).where(AlertRuleRow.id == rule_id))
    session.commit()
    return rowcount(result) > 0


# events --------------------------------------------------------------------------------------------
def save_events(session: Session, records: Iterable[AlertRecord]) -> int:
    """Insert or update (by event_uid) each record's event and deliveries; committed. Returns rows."""
    n = 0
    table = AlertEventRow.__table__
    for record in records:
        upsert(session, table, _event_values(record), ["event_uid"])
        n += 1
    session.commit()
    return n


def recent_events(session: Session, limit: int = 100, symbol: str | None = None) -> list[AlertRecord]:
    """The newest fired alerts, newest first (by event time)."""
    q = sa.select(*_EVENT_COLUMNS).order_by(AlertEventRow.ts.desc(), AlertEventRow.id.desc()).limit(limit)
    if symbol:
        q = q.where(AlertEventRow.symbol == symbol)
    return [_record(row) for row in session.execute(q)]


def events_after(session: Session, last_id: int, limit: int = 20) -> list[AlertRecord]:
    """Alerts stored after row `last_id`, oldest first (the newest `limit`): the toast's poll."""
    q = (
        sa.select(*_EVENT_COLUMNS)
        .where(AlertEventRow.id > last_id)
        .order_by(AlertEventRow.id.desc())
        .limit(limit)
    )
    return [_record(row) for row in session.execute(q)][::-1]


def last_event_id(session: Session) -> int:
    return session.execute(sa.select(sa.func.max(AlertEventRow.id))).scalar() or 0
