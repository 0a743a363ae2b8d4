"""Instrument master download, filter and day cache against the loopback broker.

References: Upstox instruments (JSON, gzipped, per exchange)
https://upstox.com/developer/api-documentation/instruments ; Kite instruments CSV dump
https://kite.trade/docs/connect/v3/market-quotes/#instruments
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from core.broker.master import cache_path, cached_files, ensure_master, fetch_master, trading_day
from core.config import load_config
from core.errors import ConfigError
from core.feed.instruments import load_kite_instruments, load_upstox_instruments
from tests.core.broker.conftest import broker_env


def config_for(broker, tmp_path, **env):
    return load_config(env={**broker_env(broker, tmp_path), **env}, secrets_path=tmp_path / "none.toml")


def test_upstox_master_keeps_only_our_indices_and_index_options(broker, tmp_path):
    path, master = fetch_master(tmp_path, "upstox", broker.base_url)
    assert path == cache_path(tmp_path, "upstox", trading_day())
    rows = json.loads(gzip.decompress(path.read_bytes()))
    keys = {r["instrument_key"] for r in rows}
    assert "NSE_EQ|INE009A01021" not in keys and "NSE_INDEX|Nifty IT" not in keys
    assert "NSE_FO|99901" not in keys  # a NIFTY future
    assert not any(r.get("underlying_symbol") == "RELIANCE" for r in rows)
    assert {"NSE_INDEX|Nifty 50", "NSE_INDEX|Nifty Bank"} <= keys
    assert all(r["segment"] == "NSE_INDEX" or r["instrument_type"] in ("CE", "PE") for r in rows)
    # the cache reads back as the same master the feed would build from the full file
    full = load_upstox_instruments(_write(tmp_path / "full.json.gz", broker.upstox_instruments()))
    again = load_upstox_instruments(path)
    assert len(again) == len(master) == len(full)
    assert again.expiries("NIFTY") == full.expiries("NIFTY")


def _write(path, raw: bytes):
    path.write_bytes(raw)
    return path


def test_kite_master_keeps_only_our_indices_and_index_options(broker, tmp_path):
    path, master = fetch_master(tmp_path, "kite", broker.base_url)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert {r["segment"] for r in rows} == {"INDICES", "NFO-OPT"}
    assert {r["tradingsymbol"] for r in rows if r["segment"] == "INDICES"} == {"NIFTY 50", "NIFTY BANK"}
    assert {r["name"] for r in rows if r["segment"] == "NFO-OPT"} == {"NIFTY", "BANKNIFTY"}
    assert len(rows) == 2 + 2 * (123 + 21)  # both indices, every NIFTY and BANKNIFTY call and put
    assert len(load_kite_instruments(path)) == len(master)
    (get,) = broker.requests_to("/instruments")
    assert get.headers["x-kite-version"] == "3" and "authorization" not in get.headers


def test_kite_download_sends_the_session_and_falls_back_to_the_public_dump(broker, tmp_path):
    token = broker.new_access_token()
    fetch_master(tmp_path, "kite", broker.base_url, broker.kite_api_key, token)
    assert (
        broker.requests_to("/instruments")[-1].headers["authorization"]
        == f"token {broker.kite_api_key}:{token}"
    )
    _, master = fetch_master(
        tmp_path, "kite", broker.base_url, broker.kite_api_key, "dead-token-of-yesterday"
    )
    refused, anonymous = broker.requests_to("/instruments")[-2:]
    assert refused.headers["authorization"].endswith("dead-token-of-yesterday")
    assert "authorization" not in anonymous.headers
    assert master.expiries("NIFTY")


def test_error_messages_mask_the_secrets_they_carry():
    from core.broker.http import scrub

    text = scrub("GET /x?token=abcdefghijklmnop&k=abc%2Fdefghij", ["abcdefghijklmnop", "abc/defghij", "t"])
    assert text == "GET /x?token=abc***&k=***"


def test_runtime_uses_todays_cache_and_downloads_once(broker, tmp_path):
    config = config_for(broker, tmp_path)
    first = ensure_master(config, "upstox")
    second = ensure_master(config, "upstox")
    assert first == second == cache_path(tmp_path, "upstox", trading_day())
    assert broker.downloads["upstox"] == 1


def test_a_master_older_than_today_is_downloaded_again_and_replaced(broker, tmp_path):
    config = config_for(broker, tmp_path)
    yesterday = cache_path(tmp_path, "kite", trading_day() - timedelta(days=1))
    yesterday.parent.mkdir(parents=True)
    yesterday.write_text("instrument_token\n")
    path = ensure_master(config, "kite")
    assert path == cache_path(tmp_path, "kite", trading_day())
    assert broker.downloads["kite"] == 1
    assert cached_files(tmp_path, "kite") == [path]  # yesterday's is gone


def test_failed_download_falls_back_to_an_older_cache(broker, tmp_path):
    config = config_for(broker, tmp_path)
    older = cache_path(tmp_path, "upstox", trading_day() - timedelta(days=1))
    older.parent.mkdir(parents=True)
    fetch_master(tmp_path, "upstox", broker.base_url)[0].rename(older)
    broker.fail_downloads = True
    assert ensure_master(config, "upstox") == older


def test_failed_download_without_any_cache_says_how_to_fix_it(broker, tmp_path):
    broker.fail_downloads = True
    with pytest.raises(ConfigError, match="python -m core instruments upstox.*STRIKEIQ_INSTRUMENTS"):
        ensure_master(config_for(broker, tmp_path), "upstox")


def test_strikeiq_instruments_overrides_the_cache(broker, tmp_path):
    own = _write(tmp_path / "mine.json.gz", broker.upstox_instruments())
    config = config_for(broker, tmp_path, STRIKEIQ_INSTRUMENTS=str(own))
    assert ensure_master(config, "upstox") == own
    assert broker.downloads["upstox"] == 0
    missing = replace(config, feed=replace(config.feed, instruments_file=str(tmp_path / "nope.csv")))
    with pytest.raises(ConfigError, match="does not exist"):
        ensure_master(missing, "upstox")


def test_a_file_without_our_options_is_refused_and_not_cached(broker, tmp_path, monkeypatch):
    monkeypatch.setattr(type(broker), "upstox_instruments", lambda self: gzip.compress(b"[]"))
    from core.broker.http import BrokerError

    with pytest.raises(BrokerError, match="no index options"):
        fetch_master(tmp_path, "upstox", broker.base_url)
    assert cached_files(tmp_path, "upstox") == []
