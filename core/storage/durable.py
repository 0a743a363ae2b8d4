"""Durable records: what the logger keeps until the database has it, and how each is inserted
idempotently, so a retried or replayed batch never stores a row twice.

A record is one row of a durable table (signals, market snapshots, predictions, smart-money
predictions); a market snapshot record carries its chain rows as children, inserted in the same
transaction once the parent's id is known. Each table's idempotency key is a unique index.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.domain import LiveMetrics, Signal
from core.storage.database import insert_ignoring_conflicts
from core.storage.model_base import run_values
from core.storage.models import (
    AiSignalLog,
    Base,
    MarketSnapshot,
    OptionChainSnapshot,
    Prediction,
    SmartMoneyPrediction,
)

SIGNALS = AiSignalLog.__table__.name
SNAPSHOTS = MarketSnapshot.__table__.name
CHAIN = OptionChainSnapshot.__table__
# table name -> (table, idempotency key)
TABLES: dict[str, tuple[sa.Table, list[str]]] = {
    model.__table__.name: (model.__table__, key)
    for model, key in (
        (AiSignalLog, ["signal_uid"]),
        (MarketSnapshot, ["row_uid"]),
        (Prediction, ["row_uid"]),
        (SmartMoneyPrediction, ["row_uid"]),
    )
}
CHAIN_KEY = ["market_snapshot_id", "strike", "right"]


@dataclass(slots=True)
class Record:
    """One row of `table` (column name -> value, run columns included) and, for a market
    snapshot, the chain rows that belong to it (without their `market_snapshot_id`)."""

    table: str
    row: dict[str, Any]
    children: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> Any:
        return self.row[TABLES[self.table][1][0]]


def signal_record(signal: Signal, run_id: str | None, source: str | None) -> Record:
    return Record(SIGNALS, AiSignalLog.values_from_signal(signal, run_id, source))


def snapshot_record(
    metrics: LiveMetrics, chain_strikes: int | None, run_id: str | None, source: str | None
) -> Record:
    """A MarketSnapshot record, with the chain window ATM +- `chain_strikes` unless None."""
    run = run_values(run_id, source)
    row = {**MarketSnapshot.values_from_metrics(metrics), **run}
    children = (
        [] if chain_strikes is None else OptionChainSnapshot.values_from_metrics(metrics, chain_strikes)
    )
    return Record(SNAPSHOTS, row, [{**child, **run} for child in children])


def row_record(obj: Base, run_id: str | None, source: str | None) -> Record:
    """A record of an ORM row of a durable table (Prediction, SmartMoneyPrediction...). The row's
    own run wins over the logger's; a row without a uid gets one. TypeError for other tables."""
    table = obj.__table__.name
    if table not in TABLES:
        raise TypeError(f"{type(obj).__name__} is not a durable table: log it with its own session")
    values = {
        attr.columns[0].name: getattr(obj, attr.key)
        for attr in sa.inspect(type(obj)).column_attrs
        if not attr.columns[0].primary_key
    }
    if values.get("run_id") is None:
        values.update(run_values(run_id, source))
    key = TABLES[table][1][0]
    if values.get(key) is None:
        values[key] = uuid.uuid4().hex
    return Record(table, values)


def insert_records(session: Session, records: Iterable[Record]) -> dict[str, int]:
    """INSERT every record, skipping rows whose key already exists; one multi-row statement per
    table (plus one for chain rows). Returns rows handed to the database per table."""
    by_table: dict[str, list[Record]] = {}
    for record in records:
        by_table.setdefault(record.table, []).append(record)
    counts: dict[str, int] = {}
    for name, group in by_table.items():
        table, key = TABLES[name]
        insert_ignoring_conflicts(session, table, [r.row for r in group], key)
        counts[name] = len(group)
        parents = [r for r in group if r.children]
        if parents:
            counts[CHAIN.name] = _insert_children(session, parents)
    return counts


def _insert_children(session: Session, parents: list[Record]) -> int:
    # The parents' ids by uid: a parent inserted by an earlier attempt is found the same way.
    snapshots = MarketSnapshot.__table__
    uids = [p.key for p in parents]
    ids = dict(
        session.execute(
            sa.select(snapshots.c.row_uid, snapshots.c.id).where(snapshots.c.row_uid.in_(uids))
        ).all()
    )
    rows = [{**child, "market_snapshot_id": ids[p.key]} for p in parents for child in p.children]
    insert_ignoring_conflicts(session, CHAIN, rows, CHAIN_KEY)
    return len(rows)
