"""PostgreSQL's COPY path of insert_ignoring_conflicts stores what its INSERT path stores, skips the
same keys and fails a bad row the same way (the writer then retries the batch row by row)."""

from __future__ import annotations

import logging
import math
import uuid
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core.domain import Signal
from core.storage import bulk, database
from core.storage.database import insert_ignoring_conflicts, make_engine
from core.storage.models import AiSignalLog

TABLE = AiSignalLog.__table__
KEY = ["signal_uid"]
N = 2 * bulk.COPY_MIN_ROWS
# Every stored column but the two that differ between the copies by design.
COMPARED = [c for c in TABLE.c if c.name not in ("id", "signal_uid")]
ODD_TEXT = ["tab\there", "line\nbreak", "cr\rlf", "back\\slash \\N", "nul\x00gone", "é 🚀 \ud800", ""]


@pytest.fixture
def db_url(pg_url):
    """PostgreSQL only: COPY is its path (SQLite always takes the INSERT)."""
    return pg_url


def rows(prefix: str, n: int = N) -> list[dict]:
    out = []
    for i in range(n):
        text = ODD_TEXT[i % len(ODD_TEXT)]
        signal = Signal(
            ts=1.77e9 + i + 0.125,
            symbol="NIFTY",
            engine="bulk",
            signal=text[:60] or "SWEEP_UP",
            direction="UP",
            confidence=[0.5, math.nan, math.inf, 1e-300][i % 4],
            raw_score=float(np.float64(0.1 * i)),
            strength=None,
            spot_price=25000.0 + i,
            expiry=date(2026, 12, 29) if i % 2 else None,
            reasons=(text, "second"),
            features={"x": i, text: [1.5, None, math.nan], "nested": {"k": text}},
            id=f"{prefix}{i:04d}",
        )
        out.append(AiSignalLog.values_from_signal(signal, run_id=f"run-{text}"[:64], source="test"))
    return out


def stored(session_factory, prefix: str) -> list[tuple]:
    with session_factory() as session:
        found = session.execute(
            sa.select(*COMPARED).where(TABLE.c.signal_uid.like(f"{prefix}%")).order_by(TABLE.c.signal_uid)
        )
        return [tuple(row) for row in found]


def ids(session_factory, prefix: str) -> list[str]:
    with session_factory() as session:
        return list(
            session.scalars(
                sa.select(TABLE.c.signal_uid)
                .where(TABLE.c.signal_uid.like(f"{prefix}%"))
                .order_by(TABLE.c.id)
            )
        )


def test_copy_stores_exactly_what_the_insert_path_stores(session_factory, monkeypatch):
    calls = []
    copy = bulk.copy_ignoring_conflicts
    monkeypatch.setattr(database, "copy_ignoring_conflicts", lambda *a: calls.append(1) or copy(*a))
    with session_factory() as session, session.begin():
        insert_ignoring_conflicts(session, TABLE, rows("c"), KEY)
    assert calls == [1]
    monkeypatch.setattr(database, "COPY_MIN_ROWS", 10**9)  # the INSERT path
    with session_factory() as session, session.begin():
        insert_ignoring_conflicts(session, TABLE, rows("i"), KEY)
    assert calls == [1]
    by_copy, by_insert = stored(session_factory, "c"), stored(session_factory, "i")
    assert len(by_copy) == N and by_copy == by_insert
    # What went in is what the tricky values should become, not merely the same mistake twice.
    signal = [c.name for c in COMPARED].index("signal")
    assert {r[signal] for r in by_copy} >= {
        "tab\there", "line\nbreak", "back\\slash \\N", "nulgone", "é 🚀 \ufffd"
    }  # fmt: skip


def test_existing_keys_and_repeats_within_a_batch_are_skipped_and_ids_follow_the_given_order(session_factory):
    with session_factory() as session, session.begin():
        insert_ignoring_conflicts(session, TABLE, rows("k")[: N // 2], KEY)
    again = rows("k")
    again = again[::-1] + again[:5]  # every earlier key again, the rest new and in reverse, repeats
    again[-5:] = [{**row, "symbol": "BANKNIFTY"} for row in again[-5:]]
    with session_factory() as session, session.begin():
        insert_ignoring_conflicts(session, TABLE, again, KEY)
    order = ids(session_factory, "k")
    first = [f"k{i:04d}" for i in range(N // 2)]
    assert order == first + [f"k{i:04d}" for i in range(N - 1, N // 2 - 1, -1)]
    with session_factory() as session:
        symbols = set(session.scalars(sa.select(TABLE.c.symbol).where(TABLE.c.signal_uid.like("k%"))))
    assert symbols == {"NIFTY"}  # the first of each key stays


def test_two_tables_and_two_calls_in_one_transaction(session_factory):
    with session_factory() as session, session.begin():
        insert_ignoring_conflicts(session, TABLE, rows("a"), KEY)
        narrow = [{k: v for k, v in row.items() if k not in ("metadata", "expiry")} for row in rows("b")]
        insert_ignoring_conflicts(session, TABLE, narrow, KEY)  # other columns, a second staging table
    assert len(ids(session_factory, "a")) == len(ids(session_factory, "b")) == N


def test_a_bad_row_fails_the_batch_as_a_data_error_and_leaves_nothing(session_factory):
    batch = rows("d")
    batch[7] = {**batch[7], "symbol": "X" * 40}  # over String(32); the logger clips, a bug would not
    with pytest.raises(sa.exc.DataError), session_factory() as session, session.begin():
        insert_ignoring_conflicts(session, TABLE, batch, KEY)
    assert ids(session_factory, "d") == []


def test_a_value_copy_cannot_spell_takes_the_insert_path(session_factory):
    batch = rows("u")
    batch[3] = {**batch[3], "spot_price": Decimal("25000.5")}
    batch[4] = {**batch[4], "spot_price": np.float32(0.5), "confidence": np.int64(1)}
    with session_factory() as session, session.begin():
        insert_ignoring_conflicts(session, TABLE, batch, KEY)
    assert len(ids(session_factory, "u")) == N
    with pytest.raises(bulk.Unsupported):
        bulk._text(object())
    mixed = rows("m")
    del mixed[5]["run_id"]
    with pytest.raises(bulk.Unsupported), session_factory() as session:
        bulk.copy_ignoring_conflicts(session, TABLE, mixed, KEY)


def test_a_role_that_may_not_create_temporary_tables_writes_with_insert_statements(migrated_url, caplog):
    """An operator may revoke TEMP from PUBLIC: the writer must keep writing, not take the refusal
    for an outage and journal every batch forever."""
    role, url = f"strikeiq_notemp_{uuid.uuid4().hex[:8]}", make_url(migrated_url)
    admin = make_engine(migrated_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'REVOKE TEMPORARY ON DATABASE "{url.database}" FROM PUBLIC')
        conn.exec_driver_sql(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        conn.exec_driver_sql(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    engine = make_engine(url.set(username=role).render_as_string(hide_password=False))
    try:
        caplog.set_level(logging.WARNING, logger=bulk.__name__)
        for prefix in ("p", "q"):  # found out once; the second batch goes straight to the INSERT
            with Session(engine) as session, session.begin():
                insert_ignoring_conflicts(session, TABLE, rows(prefix), KEY)
        assert len([r for r in caplog.records if "no COPY staging" in r.getMessage()]) == 1
        with Session(admin) as session:
            count = session.scalar(sa.select(sa.func.count()).select_from(TABLE))
        assert count == 2 * N
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
            conn.exec_driver_sql(f'DROP ROLE "{role}"')
        admin.dispose()
