"""Portable types: sanitised JSON that PostgreSQL JSONB accepts and UTC-aware timestamps."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings

from core.storage.models import LiveChainState
from core.storage.types import clean_text, sanitize_json
from tests.core.storage.helpers import json_like, same_json

IST = timezone(timedelta(hours=5, minutes=30))


def test_non_finite_floats_become_null() -> None:
    assert sanitize_json({"a": math.nan, "b": [math.inf, -math.inf, 1.5]}) == {
        "a": None,
        "b": [None, None, 1.5],
    }


def test_nul_characters_are_removed_from_strings_and_keys() -> None:
    assert sanitize_json({"k\x00ey": "va\x00lue"}) == {"key": "value"}


def test_lone_surrogates_are_replaced() -> None:
    cleaned = clean_text("a\ud800b")
    assert cleaned == "a\ufffdb"
    cleaned.encode("utf-8")


def test_numpy_dates_and_other_python_values_are_converted() -> None:
    out = sanitize_json(
        {
            "i": np.int64(3),
            "f": np.float32(0.5),
            "nan": np.float64("nan"),
            "arr": np.array([1.0, np.nan]),
            "flag": np.bool_(True),
            "when": datetime(2026, 11, 24, 9, 15, tzinfo=IST),
            "day": date(2026, 11, 24),
            "dec": Decimal("1.25"),
            "set": {2, 1},
            "raw": b"bytes\xff",
            7: "int key",
        }
    )
    assert out == {
        "i": 3,
        "f": 0.5,
        "nan": None,
        "arr": [1.0, None],
        "flag": True,
        "when": "2026-11-24T03:45:00+00:00",
        "day": "2026-11-24",
        "dec": 1.25,
        "set": [1, 2],
        "raw": "bytes\ufffd",
        "7": "int key",
    }
    assert type(out["i"]) is int and type(out["flag"]) is bool


def test_a_reference_cycle_is_cut() -> None:
    loop: dict = {"x": 1}
    loop["self"] = loop
    assert sanitize_json(loop) == {"x": 1, "self": None}


@given(json_like)
def test_sanitised_data_is_strict_json_and_stable(value) -> None:
    out = sanitize_json(value)
    text = json.dumps(out, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")
    assert "\x00" not in text
    assert sanitize_json(out) == out
    if isinstance(out, dict) and out.text is not None:  # kept for COPY: what the column would write
        assert out.text == json.dumps(out)


def test_the_json_text_is_kept_only_for_data_that_was_already_strict() -> None:
    strict = sanitize_json({"a": [1, 2.5, None], "b": "x"})
    assert strict.text == json.dumps({"a": [1, 2.5, None], "b": "x"})
    assert sanitize_json({"a": math.nan}).text is None
    assert (
        sanitize_json({"k": "nul\x00"}).text is None and sanitize_json({"d": date(2026, 1, 2)}).text is None
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_like)
def test_json_column_accepts_anything_sanitised(engine, value) -> None:
    # The table is emptied per example because the fixture's database is shared across examples.
    with engine.begin() as conn:
        conn.execute(sa.delete(LiveChainState.__table__))
        conn.execute(
            sa.insert(LiveChainState.__table__),
            {"symbol": "NIFTY", "updated_at": datetime(2026, 1, 1, tzinfo=UTC), "snapshot": {"v": value}},
        )
        stored = conn.execute(sa.select(LiveChainState.__table__.c.snapshot)).scalar_one()
    assert same_json(stored, {"v": sanitize_json(value)})


def test_timestamps_come_back_aware_utc(engine) -> None:
    table = LiveChainState.__table__
    ist_time = datetime(2026, 11, 24, 15, 30, tzinfo=IST)
    naive_utc = datetime(2026, 11, 24, 10, 0)
    with engine.begin() as conn:
        conn.execute(sa.insert(table), {"symbol": "A", "updated_at": ist_time, "snapshot": {}})
        conn.execute(sa.insert(table), {"symbol": "B", "updated_at": naive_utc, "snapshot": {}})
        rows = dict(conn.execute(sa.select(table.c.symbol, table.c.updated_at)).all())
    assert rows["A"] == ist_time and rows["A"].utcoffset() == timedelta(0)
    assert rows["B"] == naive_utc.replace(tzinfo=UTC) and rows["B"].tzinfo is not None
    with engine.connect() as conn:
        later = conn.execute(
            sa.select(table.c.symbol).where(table.c.updated_at > datetime(2026, 11, 24, 9, 59, tzinfo=UTC))
        ).scalars()
        assert sorted(later) == ["A", "B"]


def test_numpy_scalars_are_stored_as_numbers(engine: sa.Engine) -> None:
    """Analytics hand storage numpy scalars; psycopg2 wrote np.float64 as `np.float64(25000.0)`
    (numpy 2's repr), which PostgreSQL read as a function call in schema "np"."""
    from core.storage.models import MarketSnapshot

    ts = datetime(2026, 11, 18, 3, 45, tzinfo=UTC)
    with sa.orm.Session(engine) as session:
        session.add(MarketSnapshot(symbol="NIFTY", ts=ts, spot=np.float64(25001.25), atm_strike=np.float64(25000.0),
                                   total_call_oi=np.int64(1_234_567), atm_iv=np.float32(0.125)))  # fmt: skip
        session.commit()
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(MarketSnapshot.spot, MarketSnapshot.total_call_oi, MarketSnapshot.atm_iv)
        ).one()
    assert (row.spot, row.total_call_oi, row.atm_iv) == (25001.25, 1_234_567, 0.125)
