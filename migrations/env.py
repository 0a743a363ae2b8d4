"""Alembic environment: the target URL comes from the Alembic config (set by core.storage.database),
else from StrikeIQ's configuration (DATABASE_URL or the embedded SQLite file); SQLite migrations run
in batch mode so ALTER TABLE works there."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

import core.storage.alerts  # noqa: F401 - registers alert_rules and alert_events on Base.metadata
from core.config import load_config
from core.storage.database import make_engine
from core.storage.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or load_config().database_url


def _configure(**kwargs: object) -> None:
    url = kwargs.get("url")
    conn = kwargs.get("connection")
    dialect = conn.dialect.name if isinstance(conn, Connection) else str(url).split(":", 1)[0]
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=dialect.startswith("sqlite"),
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url(), statement_timeout_s=None)
    try:
        with engine.connect() as conn:
            _configure(connection=conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
