"""PostgreSQL bulk insert that skips existing keys: COPY into a transaction-scoped staging table,
then one INSERT ... SELECT ... ON CONFLICT DO NOTHING.

A page of INSERT statements costs the client a `mogrify` per row and the server a parse and plan per
row; COPY sends the rows as text the server reads in one pass. Values go through each column's
SQLAlchemy bind processor first (JSON sanitised and serialised, timestamps made UTC-aware), so a row
is stored exactly as the executemany path would store it.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg2
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.storage.types import CleanJSON

COPY_MIN_ROWS = 32  # fewer rows go through the plain INSERT: a staging table costs a few statements

log = logging.getLogger(__name__)
# Per database URL: may this role create a temporary table? (PUBLIC may, unless an operator revoked
# TEMP.) Found out once, in a savepoint, so a role without it costs nothing but the plain INSERT.
_STAGING: dict[str, bool] = {}
_NAMES = itertools.count()  # a staging table per call: no name clash within one transaction

# COPY's text format: backslash escapes for the characters that delimit fields and rows.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


class Unsupported(TypeError):
    """A value this module does not spell as COPY text; the caller uses the plain INSERT instead."""


def copy_ignoring_conflicts(
    session: Session, table: sa.Table, rows: Sequence[dict[str, Any]], key: list[str]
) -> None:
    """INSERT `rows` into `table` skipping rows whose `key` exists (also within `rows`: the first
    wins), in the session's transaction. Every row must have the first row's columns. Raises
    Unsupported, before anything is sent, for a value it cannot spell."""
    columns = list(rows[0])
    if any(row.keys() != rows[0].keys() for row in rows):
        raise Unsupported("rows with different columns")
    bind = session.get_bind()
    where = bind.engine.url.render_as_string(hide_password=True)
    if _STAGING.get(where) is False:
        raise Unsupported("this role cannot create a temporary table")
    dialect = bind.dialect
    procs = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    buffer = io.StringIO()
    for row in rows:
        fields = []
        for column, proc in zip(columns, procs, strict=True):
            value = row[column]
            if type(value) is CleanJSON and value.text is not None:
                fields.append(_str(value.text))  # what the column's processor would write again
            else:
                fields.append(_text(proc(value) if proc is not None else value))
        buffer.write("\t".join(fields))
        buffer.write("\n")
    buffer.seek(0)
    preparer = dialect.identifier_preparer
    target = preparer.format_table(table)
    stage = preparer.quote(f"strikeiq_stage_{next(_NAMES)}")
    names = ", ".join(preparer.quote(c) for c in columns)
    conflict = ", ".join(preparer.quote(c) for c in key)
    connection = session.connection()
    # Dropped at commit. CREATE ... AS keeps the columns' types, not the NOT NULL of an id.
    create = f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {names} FROM {target} WITH NO DATA"
    if where in _STAGING:
        connection.exec_driver_sql(create)
    else:
        try:
            with session.begin_nested():  # the SAVEPOINT goes out with the session's next statement
                session.connection().exec_driver_sql(create)
        except sa.exc.ProgrammingError as exc:  # InsufficientPrivilege; an outage stays an outage
            _STAGING[where] = False
            log.warning("no COPY staging on %s (%s); writing with INSERT statements", where, exc.orig)
            raise Unsupported("this role cannot create a temporary table") from exc
        _STAGING[where] = True
    copy = f"COPY {stage} ({names}) FROM STDIN"
    cursor = connection.connection.cursor()
    try:
        cursor.copy_expert(copy, buffer)
    except psycopg2.Error as exc:  # wrapped as SQLAlchemy wraps the statements it runs itself
        raise sa.exc.DBAPIError.instance(copy, None, exc, psycopg2.Error) from exc
    finally:
        cursor.close()
    # ORDER BY ctid: ids are given in the order of `rows`, as the INSERT path gives them.
    connection.exec_driver_sql(
        f"INSERT INTO {target} ({names}) SELECT {names} FROM {stage} ORDER BY ctid "
        f"ON CONFLICT ({conflict}) DO NOTHING"
    )


def _text(value: Any) -> str:
    """A DBAPI value as a field of COPY's text format."""
    spell = _SPELL.get(type(value))
    if spell is not None:
        return spell(value)
    if isinstance(value, str):
        return _str(value)
    if isinstance(value, bool | np.bool_):
        return _bool(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return _float(float(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise Unsupported(f"no COPY text for {type(value).__name__}")


def _str(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _bool(value: Any) -> str:
    return "t" if value else "f"


def _float(x: float) -> str:
    if math.isfinite(x):
        return repr(x)
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


# The exact types rows hold, spelled without walking the isinstance chain (bool before int there).
_SPELL: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: _NULL,
    str: _str,
    float: _float,
    int: str,
    bool: _bool,
    datetime: datetime.isoformat,
    date: date.isoformat,
}
