"""Storage fixtures: a migrated database of each dialect, its engine and a session factory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from core.storage.database import make_engine, upgrade


@pytest.fixture
def dialect(db_url: str) -> str:
    return "sqlite" if db_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def migrated_url(db_url: str) -> str:
    upgrade(db_url)
    return db_url


@pytest.fixture
def engine(migrated_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(migrated_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: sa.Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
