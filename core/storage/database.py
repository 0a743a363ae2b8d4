"""Engines, the process-wide `SessionLocal`, and Alembic migrations driven from code."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from core.config import mask_url, validate_database_url
from core.errors import ConfigError
from core.storage.bulk import COPY_MIN_ROWS, Unsupported, copy_ignoring_conflicts

# The repository root holds alembic.ini and migrations/; found from this file, so any cwd works.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"

# expire_on_commit=False: rows read in a session stay usable after it closes (the UI reads them).
SessionLocal = sessionmaker(expire_on_commit=False)

_configured: Engine | None = None


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    try:
        # WAL lets the UI read while the writer thread commits; NORMAL is durable under WAL except
        # for the last commits on power loss, which the spill journal does not cover either.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


# The longest one statement may run on PostgreSQL before the server cancels it. A writer stuck
# behind a lock or a stalled server gets an error it treats as an outage (retry, journal) instead
# of waiting forever. Migrations run without it: rebuilding an index on a big table may take longer.
STATEMENT_TIMEOUT_S = 30.0
PG_BATCH_ROWS = 500  # rows of an executemany sent per round trip
# libpq settings that let the client notice a dead network path (no RST ever comes) in about 30 s.
_PG_LIVENESS = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # ms unacknowledged before the connection counts as dead
}


def make_engine(
    url: str, *, statement_timeout_s: float | None = STATEMENT_TIMEOUT_S, **kwargs: Any
) -> Engine:
    """An Engine for a SQLite file (WAL, foreign keys, parent directory created) or PostgreSQL.

    `url` is checked by `validate_database_url` (an unsupported driver is a ConfigError).
    PostgreSQL always goes through psycopg2: `postgresql://` and `postgres://` name the server, not
    a driver, and SQLAlchemy 2.1 would pick psycopg 3 for them, which StrikeIQ does not ship.
    `statement_timeout_s` None lifts the PostgreSQL statement timeout (migrations).
    """
    parsed = make_url(validate_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    _adapt_numpy_scalars()
    connect_args: dict[str, Any] = dict(_PG_LIVENESS)
    if statement_timeout_s is not None:
        connect_args["options"] = f"-c statement_timeout={round(statement_timeout_s * 1000)}"
    connect_args.update(kwargs.pop("connect_args", {}))
    kwargs.setdefault("pool_pre_ping", True)
    # Batches of COPY_MIN_ROWS and more go through COPY (core.storage.bulk); smaller executemanys
    # through psycopg2's execute_batch, a page of statements per round trip (its own executemany
    # sends one per row). SQLAlchemy's multi-row VALUES ("values_only", insertmanyvalues) also
    # takes ON CONFLICT DO NOTHING, but wrote the logger's signals slower here (3.5-4.2k/s against
    # 5.6-5.7k/s, `bench --only logger` on PostgreSQL 15, 2026-11).
    kwargs.setdefault("executemany_mode", "values_plus_batch")
    kwargs.setdefault("executemany_batch_page_size", PG_BATCH_ROWS)
    return sa.create_engine(parsed.set(drivername="postgresql+psycopg2"), connect_args=connect_args, **kwargs)


def _adapt_numpy_scalars() -> None:
    """Teach psycopg2 numpy's scalars. It writes a float subclass with repr(), and numpy 2's repr is
    `np.float64(25000.0)`, which PostgreSQL reads as a function in schema "np"; numpy integers it
    cannot adapt at all. Analytics hand the storage layer numpy scalars all the time."""
    import numpy as np
    from psycopg2.extensions import AsIs, register_adapter

    # psycopg2 calls an adapter with instances of the type it is registered for (a numpy scalar);
    # its stubs type the argument as object, hence Any.
    def _float(value: Any) -> AsIs:
        x = float(value)
        return AsIs(repr(x) if math.isfinite(x) else f"'{x}'::float8")

    def _int(value: Any) -> AsIs:
        return AsIs(int(value))

    for float_kind in (np.float64, np.float32, np.float16):
        register_adapter(float_kind, _float)
    for int_kind in (np.int64, np.int32, np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8):
        register_adapter(int_kind, _int)
    register_adapter(np.bool_, lambda value: AsIs("true" if value else "false"))


def _dialect_insert(session: Session) -> Callable[..., Any]:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def insert_ignoring_conflicts(
    session: Session, table: sa.Table, rows: list[dict[str, Any]], key: list[str]
) -> None:
    """INSERT `rows` skipping rows whose `key` already exists: on PostgreSQL, from COPY (see
    core.storage.bulk) when there are many; otherwise as one executemany (on PostgreSQL one round
    trip per `PG_BATCH_ROWS` rows, see `make_engine`)."""
    if len(rows) >= COPY_MIN_ROWS and session.get_bind().dialect.name == "postgresql":
        try:
            copy_ignoring_conflicts(session, table, rows, key)
            return
        except Unsupported:
            pass  # a value COPY's text cannot spell: the INSERT below adapts it
    session.execute(_dialect_insert(session)(table).on_conflict_do_nothing(index_elements=key), rows)


def upsert(session: Session, table: sa.Table, values: dict[str, Any], key: list[str]) -> None:
    """INSERT `values`, or UPDATE the other columns of the row whose `key` already exists."""
    stmt = _dialect_insert(session)(table).values(**values)
    changed = {name: stmt.excluded[name] for name in values if name not in key}
    session.execute(stmt.on_conflict_do_update(index_elements=key, set_=changed))


def rowcount(result: sa.Result[*tuple[Any, ...]]) -> int:
    """Rows an INSERT, UPDATE or DELETE touched. Session.execute types every result as Result; a
    DML statement's is a CursorResult, the kind that counts rows."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"a {type(result).__name__} counts no rows")
    return result.rowcount


def is_outage(exc: BaseException) -> bool:
    """True when the database (not the row) is the problem, so a writer keeps the batch and retries.

    Data and integrity errors are the row's fault and retrying cannot help; anything else (lost
    connection, locked SQLite file, missing table before migration, pool timeout) can heal.
    """
    if isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError):
        return False
    return isinstance(exc, sa.exc.DBAPIError | sa.exc.TimeoutError | OSError)


def configure_database(url: str) -> Engine:
    """Bind `SessionLocal` to a new engine for `url` (disposing the previous one) and return it."""
    global _configured
    engine = make_engine(url)
    SessionLocal.configure(bind=engine)
    if _configured is not None:
        _configured.dispose()
    _configured = engine
    return engine


def get_engine() -> Engine | None:
    """The engine `configure_database` bound, or None before it was called."""
    return _configured


def alembic_config(url: str | None = None) -> AlembicConfig:
    """The Alembic config for this repository, with absolute paths and `url` as the target."""
    cfg = AlembicConfig(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # configparser interpolates %, so a password containing % must be doubled.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False  # the app owns logging, not alembic.ini
    return cfg


def _run(url: str, action: Any, revision: str) -> None:
    engine = make_engine(url, statement_timeout_s=None)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            action(cfg, revision)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    _run(url, command.upgrade, revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" removes every table)."""
    _run(url, command.downgrade, revision)


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at, or None if it was never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision in migrations/ (there is exactly one head)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration revisions found in {MIGRATIONS_DIR}")
    return head


__all__ = [
    "SessionLocal",
    "configure_database",
    "current_revision",
    "downgrade",
    "get_engine",
    "head_revision",
    "insert_ignoring_conflicts",
    "is_outage",
    "make_engine",
    "upgrade",
    "upsert",
]


def prepare_database(url: str) -> None:
    """For a headless job (evaluate, backtest): SQLite is migrated here, as on start; PostgreSQL
    must already be at the head revision (`python -m core db upgrade`), else a ConfigError."""
    if url.startswith("sqlite"):
        upgrade(url)
    elif current_revision(url) != head_revision():
        raise ConfigError(
            f"database {mask_url(url)} is not at migration {head_revision()}: "
            "run `python -m core db upgrade --db URL` first"
        )
