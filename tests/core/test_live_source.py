"""Scale-out: a worker publishes live_chain_state; a replica renders it without a feed of its own."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from core.analytics.structural import LiveStructuralEngine
from core.config import load_config
from core.live import LiveSource
from core.live_state import ARRAY_FIELDS, SCALAR_FIELDS, metrics_from_dict, metrics_to_dict
from tests.factories import make_chain


def test_metrics_survive_the_json_round_trip():
    m = LiveStructuralEngine().compute(make_chain(strikes_each_side=20))
    back = metrics_from_dict(json.loads(json.dumps(metrics_to_dict(m))))
    for name in SCALAR_FIELDS:
        a, b = getattr(m, name), getattr(back, name)
        assert a == b or (isinstance(a, float) and math.isnan(a)), name
    for name in ARRAY_FIELDS:
        np.testing.assert_allclose(getattr(m, name), getattr(back, name), err_msg=name)
    assert back.expiry == m.expiry and back.em_bands == m.em_bands


@pytest.fixture
def published(db_url, tmp_path):
    """A worker that ran for a few seconds with --live-state into `db_url`."""
    cmd = [sys.executable, "-m", "core"]
    if not db_url.startswith("sqlite"):
        subprocess.run([*cmd, "db", "upgrade", "--db", db_url], check=True, capture_output=True)
    run = subprocess.run(
        [*cmd, "worker", "--speed", "20", "--duration", "6", "--live-state", "--db", db_url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return db_url


def test_replica_reads_what_the_worker_published(published, tmp_path, monkeypatch):
    from core.live_source import DbLiveSource

    config = replace(load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path)}), database_url=published)
    source = DbLiveSource(config)
    view = source.view("NIFTY")
    assert view.feed_mode == "SIMULATED"
    m = view.metrics[view.default_expiry]
    assert m.spot > 1000 and len(m.strikes) > 20 and m.net_gex is not None
    assert set(view.engine_states) >= {"SmartMoneyEngine", "DealerGammaEngine"}
    assert len(source.bus.spot_series("NIFTY")) > 3
    # the worker has stopped: its last row ages into STALE
    stale = DbLiveSource(config, stale_after_s=0.0).view("NIFTY")
    assert stale.feed_state == "stale" and "no update from the worker" in stale.feed_reason


def test_replica_without_a_worker_says_so(sqlite_url, tmp_path):
    from core.live_source import DbLiveSource
    from core.storage.database import upgrade

    upgrade(sqlite_url)
    config = replace(load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path)}), database_url=sqlite_url)
    source = DbLiveSource(config)
    assert isinstance(source, LiveSource) and source.run_id is None
    view = source.view("BANKNIFTY")
    assert view.metrics == {} and view.feed_state == "disconnected"
    assert "no worker has published BANKNIFTY" in view.feed_reason


@pytest.mark.parametrize("silent_s,state", [(60.0, "stale"), (0.0, "connected")])
def test_staleness_is_the_workers_silence_in_wall_time_not_the_rows_event_time(
    sqlite_url, tmp_path, silent_s, state
):
    """A simulated session may run ahead of the wall clock (it starts at the next open): the row's
    event-time stamp is an hour ahead, yet a worker silent for a minute is STALE."""
    import time

    import sqlalchemy as sa

    from core.clock import to_datetime
    from core.live_source import DbLiveSource
    from core.live_state import live_state_payload
    from core.storage.database import make_engine, upgrade
    from core.storage.models import LiveChainState

    upgrade(sqlite_url)
    now = time.time()
    feed = {"mode": "SIMULATED", "state": "connected", "reason": "", "published_at": now - silent_s}
    payload = live_state_payload({}, None, {}, [], feed)
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(LiveChainState.__table__),
            {"symbol": "NIFTY", "updated_at": to_datetime(now + 3600.0), "snapshot": payload},
        )
    engine.dispose()
    config = replace(load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path)}), database_url=sqlite_url)
    view = DbLiveSource(config).view("NIFTY")
    assert view.feed_state == state
    assert ("no update from the worker for 60 s" in view.feed_reason) == (state == "stale")
