"""Shared fixtures: database URLs (SQLite always, PostgreSQL when STRIKEIQ_TEST_PG_URL is set)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.storage.database import make_engine

PG_ENV = "STRIKEIQ_TEST_PG_URL"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "prefix_of(test): this test's run is the first part of `test`'s run with the same parameters "
        "(same seed, same market); it is deselected when that test is selected too",
    )


@pytest.hookimpl(trylast=True)  # after -m / -k have deselected what they deselect
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A quick test whose whole run is a prefix of a selected slow test's run checks nothing the
    slow one does not: the quick loop keeps it, the full suite does not run it twice."""
    selected = {(item.originalname, _param_id(item)) for item in items if isinstance(item, pytest.Function)}
    covered = [
        item
        for item in items
        if (mark := item.get_closest_marker("prefix_of")) and (mark.args[0], _param_id(item)) in selected
    ]
    if covered:
        config.hook.pytest_deselected(items=covered)
        items[:] = [item for item in items if item not in covered]


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Streamlit's AppTest leaves its page script in sys.modules["__main__"]; a process pool started
    later in the same worker (spawn) would run that page in every child. Put the real one back."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def _param_id(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    return callspec.id if callspec else ""


def _pg_admin_url() -> str | None:
    """STRIKEIQ_TEST_PG_URL in any form StrikeIQ accepts (postgresql://, postgresql+psycopg2://,
    postgres://), kept as given so the tests exercise that form."""
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    if url.startswith("postgresql+psycopg://"):
        # Legacy form from before psycopg2 became the driver, still exported by running sessions:
        # mapped here only, the application itself refuses it.
        url = "postgresql://" + url.split("://", 1)[1]
    return url


def pg_required() -> bool:
    """In CI the PostgreSQL tests are mandatory: a missing URL fails instead of skipping."""
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    admin = _pg_admin_url()
    if admin is None:
        if pg_required():
            pytest.fail(f"{PG_ENV} is not set; CI must run the PostgreSQL tests")
        pytest.skip(f"{PG_ENV} not set: PostgreSQL tests skipped (export it to run them)")
    name = f"strikeiq_test_{uuid.uuid4().hex[:12]}"
    engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{(tmp_path / 'strikeiq.db').as_posix()}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    """Run a storage test on both databases."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")
