"""The schema's foundation: one declarative Base, the naming convention, the run stamp and the
value cleaners every table's conversions share."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.storage.types import JSONType, UTCDateTime, clean_text

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY, so the 64-bit key is INTEGER there.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

OUTCOMES = ("CORRECT", "WRONG", "NEUTRAL")
DIRECTIONS = ("UP", "DOWN", "NONE")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType()}

    if TYPE_CHECKING:
        # DeclarativeBase types it as any FromClause; every model here declares __tablename__,
        # so SQLAlchemy generates a Table for it.
        __table__: ClassVar[sa.Table]


def finite_or_none(value: Any) -> float | None:
    """A finite float or None: SQLite stores NaN as NULL and analysts read NaN as data, so neither."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def clip_text(value: Any, size: int) -> str:
    return clean_text(str(value))[:size]


def run_values(run_id: str | None, source: str | None) -> dict[str, str | None]:
    return {
        "run_id": None if run_id is None else clip_text(run_id, 36),
        "source": None if source is None else clip_text(source, 200),
    }


class RunStamped:
    """Mixin: the run that wrote the row and where its data came from (core.storage.runs). NULL on
    legacy rows, stored before migration 0004."""

    run_id: Mapped[str | None] = mapped_column(sa.String(36))
    source: Mapped[str | None] = mapped_column(sa.String(200))

    def stamp(self, run_id: str | None, source: str | None) -> None:
        """Set the run unless the row already names one (a caller that knows better wins)."""
        if self.run_id is None and run_id is not None:
            values = run_values(run_id, source)
            self.run_id, self.source = values["run_id"], values["source"]


class DurableRow:
    """Mixin: `row_uid` is the row's idempotency key (a unique index per table), so the logger can
    retry or replay an insert of it without ever storing it twice. NULL on rows stored before
    migration 0007."""

    row_uid: Mapped[str | None] = mapped_column(sa.String(36))
