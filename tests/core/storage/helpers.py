"""Builders shared by the storage tests: signals, metrics and a switchable session factory."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import sqlalchemy as sa
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from core.domain import LiveMetrics, Signal, frozen_array
from core.storage.database import make_engine

T0 = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC (a Wednesday), in epoch seconds
_seq = itertools.count()


def make_signal(**overrides: Any) -> Signal:
    n = next(_seq)
    base = Signal(
        ts=T0 + n,
        symbol="NIFTY",
        engine="liquidity",
        signal="SWEEP_UP",
        direction="UP",
        confidence=0.62,
        raw_score=0.6,
        strength=0.55,
        spot_price=25012.5,
        expiry=date(2026, 11, 24),
        reasons=("pierce_reclaim", "volume_spike"),
        features={"pierce_pct": 0.12, "level": 24950.0},
    )
    return replace(base, **overrides)


def make_metrics(n_strikes: int = 81, **overrides: Any) -> LiveMetrics:
    strikes = 23000.0 + 50.0 * np.arange(n_strikes)
    i = np.arange(n_strikes, dtype=float)
    base = LiveMetrics(
        symbol="NIFTY",
        expiry=date(2026, 11, 24),
        ts=T0,
        spot=25012.5,
        forward=25030.0,
        atm_strike=25000.0,
        atm_iv=0.125,
        volatility_regime="normal",
        pcr_oi=1.1,
        pcr_volume=0.9,
        total_call_oi=1.0e7,
        total_put_oi=1.1e7,
        max_pain=25000.0,
        support=24800.0,
        resistance=25300.0,
        net_gex=-1.5e9,
        call_wall=25300.0,
        put_wall=24800.0,
        gamma_flip=25100.0,
        expected_move=310.0,
        flow_imbalance=0.25,
        regime="range",
        strikes=frozen_array(strikes),
        call_oi=frozen_array(1000.0 + i),
        put_oi=frozen_array(2000.0 + i),
        call_oi_change=frozen_array(i - 40),
        put_oi_change=frozen_array(40 - i),
        call_volume=frozen_array(10.0 * i),
        put_volume=frozen_array(20.0 * i),
        call_ltp=frozen_array(500.0 - i),
        put_ltp=frozen_array(1.0 + i),
        call_iv=frozen_array(0.12 + i / 1000),
        put_iv=frozen_array(0.13 + i / 1000),
        call_delta=frozen_array(np.linspace(0.99, 0.01, n_strikes)),
        put_delta=frozen_array(np.linspace(-0.01, -0.99, n_strikes)),
    )
    return replace(base, **overrides)


def unreachable_url(kind: str, tmp_path: Any) -> str:
    """A URL of the same dialect whose every connection attempt fails at once."""
    if kind == "postgresql":
        return "postgresql://postgres@127.0.0.1:1/nowhere"
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where a directory should be")
    return f"sqlite:///{(blocker / 'db.sqlite').as_posix()}"


class SwitchableFactory:
    """A session factory that can be pointed at a broken database and back, to script outages."""

    def __init__(self, good: sa.Engine, bad: sa.Engine) -> None:
        self._good = sessionmaker(good, expire_on_commit=False)
        self._bad = sessionmaker(bad, expire_on_commit=False)
        self.broken = False

    def __call__(self) -> Session:
        return (self._bad if self.broken else self._good)()


def bad_engine(url: str) -> sa.Engine:
    # make_engine would try to create the parent directory of a broken SQLite path.
    return sa.create_engine(url) if url.startswith("sqlite") else make_engine(url)


def count(session_factory: Any, table: sa.Table) -> int:
    with session_factory() as session:
        return session.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def same_json(got, want) -> bool:
    """Equal as JSON values: JSONB prints 7.66e16 as 76600000000000000, which reads back as an int."""
    if isinstance(want, float) and isinstance(got, int | float) and not isinstance(got, bool):
        return float(got) == want
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(same_json(got[k], want[k]) for k in want)
        )
    if isinstance(want, list | tuple):
        return isinstance(got, list) and len(got) == len(want) and all(map(same_json, got, want))
    return type(got) is type(want) and got == want


# Arbitrary JSON-ish data, including NaN/inf, NUL characters, lone surrogates, tuples and big ints.
any_text = st.text(st.characters(exclude_categories=()), max_size=12)
json_like = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(-(2**70), 2**70) | any_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(any_text, children, max_size=4)
        | st.tuples(children, children)
    ),
    max_leaves=20,
)
