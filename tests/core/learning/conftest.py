"""Learning fixtures: a migrated database of each dialect and a session factory bound to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from core.storage.database import make_engine, upgrade


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: sa.Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def sqlite_session_factory(sqlite_url: str) -> Iterator[sessionmaker]:
    """SQLite only, for tests about arithmetic rather than storage behaviour."""
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    yield sessionmaker(eng, expire_on_commit=False)
    eng.dispose()
