"""Migrations own the schema: one head, up and down cleanly, and no drift from the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import core.storage.alerts  # noqa: F401 - the alert tables live beside models.py
from core.storage import database
from core.storage.database import (
    SessionLocal,
    alembic_config,
    configure_database,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    upgrade,
)
from core.storage.models import Base

TABLES = {
    "market_snapshots",
    "option_chain_snapshots",
    "ai_signal_logs",
    "signal_outcomes",
    "formula_experience",
    "predictions",
    "smart_money_predictions",
    "live_chain_state",
    "signal_stats_hourly",
    "rollup_state",
    "alert_rules",
    "alert_events",
}


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_there_is_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [head_revision()]


def test_models_declare_the_eight_spec_tables() -> None:
    assert set(Base.metadata.tables) == TABLES


def test_upgrade_creates_every_table_and_downgrade_removes_them(db_url: str) -> None:
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()
    assert _tables(db_url) == TABLES | {"alembic_version"}
    downgrade(db_url, "base")
    assert current_revision(db_url) is None
    assert _tables(db_url) == {"alembic_version"}
    upgrade(db_url)  # a second cycle proves downgrade left nothing behind
    assert current_revision(db_url) == head_revision()


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    upgrade(db_url)
    assert _diff(db_url) == []


def test_schema_drift_is_detected(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_ai_signal_logs_symbol_timestamp"))
    engine.dispose()
    diff = _diff(db_url)
    assert [d[0] for d in diff] == ["add_index"]
    assert diff[0][1].name == "ix_ai_signal_logs_symbol_timestamp"


def test_migrations_run_from_any_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{(tmp_path / 'elsewhere' / 'x.db').as_posix()}"
    upgrade(url)
    assert current_revision(url) == head_revision()


def test_sqlite_engine_uses_wal_and_foreign_keys(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{(tmp_path / 'new' / 'dir' / 'x.db').as_posix()}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
    assert (tmp_path / "new" / "dir").is_dir()


def test_configure_database_binds_session_local(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = configure_database(sqlite_url)
    try:
        assert database.get_engine() is engine
        with SessionLocal() as session:
            assert session.get_bind() is engine
            assert session.execute(sa.text("SELECT count(*) FROM ai_signal_logs")).scalar() == 0
    finally:
        engine.dispose()


def _legacy_rows(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in (
                    "ai_signal_logs",
                    "signal_outcomes",
                    "market_snapshots",
                    "option_chain_snapshots",
                )
            }
    finally:
        engine.dispose()


def test_run_columns_come_and_go_without_losing_rows(db_url: str) -> None:
    """0004 adds run_id/source (NULL on legacy rows); its downgrade drops them in place, so the
    outcomes and chain rows of the parent tables are kept (a table rebuild would cascade-delete)."""
    upgrade(db_url, "0003")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO ai_signal_logs (id, signal_uid, timestamp, symbol, engine, signal, direction) "
            "VALUES (1, 'legacy', '2026-11-18 04:00:00+00:00', 'NIFTY', 'liquidity', 'SWEEP_UP', 'UP')"
        ))  # fmt: skip
        conn.execute(sa.text(
            "INSERT INTO signal_outcomes (signal_id, horizon_s, evaluated_at, outcome) "
            "VALUES (1, 300, '2026-11-18 04:05:00+00:00', 'CORRECT')"
        ))  # fmt: skip
        conn.execute(sa.text(
            "INSERT INTO market_snapshots (id, symbol, ts, spot) VALUES (1, 'NIFTY', '2026-11-18 04:00:00+00:00', 1)"
        ))  # fmt: skip
        conn.execute(sa.text(
            "INSERT INTO option_chain_snapshots (market_snapshot_id, symbol, ts, strike, \"right\") "
            "VALUES (1, 'NIFTY', '2026-11-18 04:00:00+00:00', 25000, 'CE')"
        ))  # fmt: skip
    engine.dispose()
    before = _legacy_rows(db_url)
    upgrade(db_url)
    assert _legacy_rows(db_url) == before
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT run_id, source FROM ai_signal_logs")).one() == (None, None)
    engine.dispose()
    downgrade(db_url, "0003")
    assert _legacy_rows(db_url) == before == dict.fromkeys(before, 1)
    engine = make_engine(db_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns("ai_signal_logs")}
    finally:
        engine.dispose()
    assert "run_id" not in columns and "source" not in columns
