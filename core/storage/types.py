"""Portable column types (JSON -> JSONB, UTC-aware timestamps) and the JSON sanitiser they share."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


def clean_text(value: str) -> str:
    """`value` without NUL characters and with lone surrogates replaced by U+FFFD.

    PostgreSQL rejects NUL in text and JSONB, and a lone surrogate cannot be encoded as UTF-8.
    """
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Round-trip through UTF-16 joins valid surrogate pairs and replaces the lone ones.
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _key(key: Any) -> str:
    """A JSON object key: strings as they are, other scalars the way json.dumps spells them."""
    if isinstance(key, str):
        return clean_text(key)
    if isinstance(key, np.generic):
        key = key.item()
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, float) and not math.isfinite(key):
        return str(key)
    if isinstance(key, date | time):
        return key.isoformat()
    return clean_text(str(key))


class CleanJSON(dict[str, Any]):
    """A dict that sanitize_json produced, so the column type need not sanitise it a second time.

    `text` is its JSON when sanitize_json had to write it anyway (data that was already strict JSON),
    for a writer that sends JSON as text (core.storage.bulk); None otherwise. Treat it as frozen.
    """

    __slots__ = ("text",)

    def __init__(self, data: Any = (), text: str | None = None) -> None:
        super().__init__(data)
        self.text = text


# JSON text of a string holding NUL or a surrogate (valid astral characters also show as surrogate
# pairs under ensure_ascii; they merely take the slow path).
_SUSPECT = re.compile(r"\\u0000|\\ud[89a-f]", re.IGNORECASE)


def sanitize_json(obj: Any) -> Any:
    """A structure PostgreSQL JSONB (and SQLite JSON) accepts, built from arbitrary Python data.

    NaN/inf become None, NUL characters are removed from strings and keys, lone surrogates are
    replaced, numpy scalars/arrays, dates, Decimals, UUIDs, enums, sets and bytes are converted, and
    a reference cycle is cut with None instead of recursing forever. Never raises for plain data.
    A dict comes back as CleanJSON. Data that is already strict JSON is only checked, not rebuilt.
    """
    if isinstance(obj, CleanJSON):
        return obj
    try:
        text: str | None = json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is None or _SUSPECT.search(text) is not None:
        out, text = _sanitize(obj, set()), None
    else:
        out = obj
    return CleanJSON(out, text) if isinstance(out, dict) else out


def _sanitize(obj: Any, path: set[int]) -> Any:
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return _float(obj)
    if isinstance(obj, np.generic):
        return _sanitize(obj.item(), path)
    if isinstance(obj, Mapping | list | tuple | set | frozenset | np.ndarray):
        if id(obj) in path:
            return None
        path.add(id(obj))
        try:
            if isinstance(obj, Mapping):
                return {_key(k): _sanitize(v, path) for k, v in obj.items()}
            items = obj.tolist() if isinstance(obj, np.ndarray) else obj
            if isinstance(obj, set | frozenset):
                items = sorted(items, key=repr)  # stable output for the same set
            return [_sanitize(v, path) for v in items]
        finally:
            path.discard(id(obj))
    return _sanitize_other(obj, path)


def _sanitize_other(obj: Any, path: set[int]) -> Any:
    if isinstance(obj, datetime):
        if obj.tzinfo is not None:
            obj = obj.astimezone(UTC)
        return obj.isoformat()
    if isinstance(obj, date | time):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return _float(float(obj))
    if isinstance(obj, Enum):
        return _sanitize(obj.value, path)
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return clean_text(bytes(obj).decode("utf-8", "replace"))
    return clean_text(str(obj))


class JSONType(TypeDecorator[Any]):
    """JSON everywhere, JSONB on PostgreSQL; values are sanitised on the way in so no row is refused."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(sa.JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else sanitize_json(value)  # a CleanJSON passes straight through


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned as an aware UTC datetime.

    A naive datetime given to the database is taken as UTC. PostgreSQL stores `timestamptz`; SQLite
    stores naive UTC text (it has no time zones), which is why results are re-labelled as UTC here.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}")
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


__all__ = ["CleanJSON", "JSONType", "UTCDateTime", "clean_text", "sanitize_json"]


# Dialect-specific SQL functions used in GROUP BYs, each compiled once per dialect here.


class utc_hour(FunctionElement[datetime]):
    """The start of the UTC hour of a timestamp column, in the column's own storage format."""

    type = UTCDateTime()
    inherit_cache = True
    name = "utc_hour"


@compiles(utc_hour, "postgresql")
def _utc_hour_pg(element: utc_hour, compiler: Any, **kw: Any) -> str:
    # date_trunc on a timestamptz truncates in the session time zone (IST hours start at :30 UTC).
    col = compiler.process(element.clauses, **kw)
    return f"(date_trunc('hour', {col} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


@compiles(utc_hour, "sqlite")
def _utc_hour_sqlite(element: utc_hour, compiler: Any, **kw: Any) -> str:
    # The text layout SQLAlchemy writes for DateTime on SQLite, so the values compare as stored.
    return f"strftime('%Y-%m-%d %H:00:00.000000', {compiler.process(element.clauses, **kw)})"


class ist_date(FunctionElement[date]):
    """The IST trading day of a UTC timestamp column (India has no DST, so a fixed +05:30 is exact)."""

    type = sa.Date()
    inherit_cache = True
    name = "ist_date"


@compiles(ist_date, "postgresql")
def _ist_date_pg(element: ist_date, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'Asia/Kolkata') AS DATE)"


@compiles(ist_date, "sqlite")
def _ist_date_sqlite(element: ist_date, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, '+330 minutes')"


class epoch_bucket(FunctionElement[datetime]):
    """A timestamp floored to a multiple of `seconds` since the epoch (UTC), as a timestamp."""

    type = UTCDateTime()
    inherit_cache = True
    name = "epoch_bucket"


@compiles(epoch_bucket, "postgresql")
def _bucket_pg(element: epoch_bucket, compiler: Any, **kw: Any) -> str:
    col, seconds = list(element.clauses)
    c, n = compiler.process(col, **kw), int(seconds.value)
    return f"to_timestamp(floor(extract(epoch from {c}) / {n}) * {n})"


@compiles(epoch_bucket, "sqlite")
def _bucket_sqlite(element: epoch_bucket, compiler: Any, **kw: Any) -> str:
    col, seconds = list(element.clauses)
    c, n = compiler.process(col, **kw), int(seconds.value)
    return f"datetime((CAST(strftime('%s', {c}) AS INTEGER) / {n}) * {n}, 'unixepoch')"
