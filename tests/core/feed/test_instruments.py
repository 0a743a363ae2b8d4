"""Instrument masters: Upstox NSE JSON and Kite CSV parse into the same Instrument lookups."""

from __future__ import annotations

import gzip
import json
from datetime import date

import pytest

from core.errors import ConfigError
from core.feed.instruments import InstrumentMaster, load_kite_instruments, load_upstox_instruments
from tests.core.feed.broker_servers import KITE_FILE, UPSTOX_FILE

EXPIRIES = (date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 29))


@pytest.fixture(scope="module")
def upstox() -> InstrumentMaster:
    return load_upstox_instruments(UPSTOX_FILE)


@pytest.fixture(scope="module")
def kite() -> InstrumentMaster:
    return load_kite_instruments(KITE_FILE)


def test_upstox_index_keys_map_to_our_symbols(upstox):
    assert upstox.get("NSE_INDEX|Nifty 50").symbol == "NIFTY"
    assert upstox.get("NSE_INDEX|Nifty Bank").symbol == "BANKNIFTY"
    assert upstox.index("NIFTY").key == "NSE_INDEX|Nifty 50"
    assert upstox.index("NIFTY").is_index
    # absent from the file, still resolvable: index keys are fixed identifiers
    assert upstox.index("FINNIFTY").key == "NSE_INDEX|Nifty Fin Service"
    assert upstox.index("MIDCPNIFTY").key == "NSE_INDEX|NIFTY MID SELECT"


def test_upstox_option_row_fields(upstox):
    leg = upstox.find("NIFTY", date(2026, 12, 1), 26000, "CE")
    assert leg is not None
    assert leg.key.startswith("NSE_FO|")
    assert (leg.symbol, leg.expiry, leg.strike, leg.right) == ("NIFTY", date(2026, 12, 1), 26000.0, "CE")
    assert leg.lot_size == 65
    assert leg.segment == "NSE_FO"
    assert leg.tradingsymbol == "NIFTY 26000 CE 01 DEC 26"
    assert upstox.get(leg.key) is leg


def test_upstox_expiry_epoch_ms_is_read_as_the_ist_date(tmp_path):
    # 23:59:59 IST on 1 Dec is the last ms of the day; one ms later is 2 Dec in IST but 1 Dec in UTC.
    row = {
        "segment": "NSE_FO",
        "instrument_key": "NSE_FO|1",
        "underlying_symbol": "NIFTY",
        "expiry": 1796149799000,
        "strike_price": 26000.0,
        "instrument_type": "PE",
        "lot_size": 65,
    }
    later = dict(row, instrument_key="NSE_FO|2", expiry=1796149800000)
    path = tmp_path / "NSE.json"
    path.write_text(json.dumps([row, later]))
    master = load_upstox_instruments(path)
    assert master.get("NSE_FO|1").expiry == date(2026, 12, 1)
    assert master.get("NSE_FO|2").expiry == date(2026, 12, 2)


def test_upstox_filters_everything_but_index_options(upstox):
    keys = {k for s in upstox.symbols() for e in upstox.expiries(s) for k in upstox.strikes(s, e)}
    assert keys  # sanity
    assert upstox.symbols() == ("BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTY")
    legs = [
        upstox.find(s, e, k, r)
        for s in ("NIFTY", "BANKNIFTY")
        for e in upstox.expiries(s)
        for k in upstox.strikes(s, e)
        for r in ("CE", "PE")
    ]
    assert len(legs) == 41 * 2 * 3 + 21 * 2
    assert all(leg is not None and leg.segment == "NSE_FO" for leg in legs)
    assert len(upstox) == len(legs) + 4  # + four indices; no FUT, equity or stock option rows


def test_upstox_chain_shape(upstox):
    assert upstox.expiries("NIFTY") == EXPIRIES
    assert upstox.expiries("BANKNIFTY") == (date(2026, 12, 29),)
    assert upstox.strikes("NIFTY", EXPIRIES[0])[:3] == (25000.0, 25050.0, 25100.0)
    assert upstox.strike_step("NIFTY", EXPIRIES[0]) == 50.0
    assert upstox.strike_step("BANKNIFTY", date(2026, 12, 29)) == 100.0
    assert upstox.lot_size("NIFTY") == 65 and upstox.lot_size("BANKNIFTY") == 30
    assert upstox.lot_size("FINNIFTY") is None


def test_upstox_plain_and_gzipped_json_agree(tmp_path, upstox):
    plain = tmp_path / "NSE.json"
    plain.write_bytes(gzip.decompress(UPSTOX_FILE.read_bytes()))
    master = load_upstox_instruments(plain)
    assert len(master) == len(upstox)
    leg = upstox.find("BANKNIFTY", date(2026, 12, 29), 59000, "PE")
    assert master.get(leg.key) == leg


@pytest.mark.parametrize("content", [b"{not json", b'{"instrument_key": "x"}'])
def test_upstox_bad_file_is_a_config_error(tmp_path, content):
    path = tmp_path / "NSE.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="Upstox instrument file"):
        load_upstox_instruments(path)


def test_kite_indices_by_token(kite):
    assert kite.by_token(256265).symbol == "NIFTY"
    assert kite.by_token(260105).symbol == "BANKNIFTY"
    assert kite.by_token(257801).symbol == "FINNIFTY"  # not in the file, a fixed token
    assert kite.by_token(288009).symbol == "MIDCPNIFTY"
    assert kite.index("NIFTY").tradingsymbol == "NIFTY 50"


def test_kite_option_row_fields(kite):
    leg = kite.find("NIFTY", date(2026, 12, 8), 25500, "PE")
    assert leg is not None
    assert (leg.expiry, leg.strike, leg.right, leg.lot_size) == (date(2026, 12, 8), 25500.0, "PE", 65)
    assert leg.tradingsymbol == "NIFTY26D0825500PE"
    assert leg.segment == "NFO-OPT"
    token = int(leg.key)
    assert token & 0xFF == 2  # NFO segment byte of a Kite instrument token
    assert kite.by_token(token) is leg
    monthly = kite.find("BANKNIFTY", date(2026, 12, 29), 58000, "CE")
    assert monthly.tradingsymbol == "BANKNIFTY26DEC58000CE" and monthly.lot_size == 30


def test_kite_and_upstox_describe_the_same_chain(kite, upstox):
    for symbol in ("NIFTY", "BANKNIFTY"):
        assert kite.expiries(symbol) == upstox.expiries(symbol)
        for expiry in kite.expiries(symbol):
            assert kite.strikes(symbol, expiry) == upstox.strikes(symbol, expiry)
    assert len(kite) == len(upstox)
    assert kite.find("RELIANCE", date(2026, 12, 29), 1500, "CE") is None


def test_kite_gzipped_csv(tmp_path, kite):
    path = tmp_path / "instruments.csv.gz"
    path.write_bytes(gzip.compress(KITE_FILE.read_bytes()))
    assert len(load_kite_instruments(path)) == len(kite)


def test_kite_csv_without_token_column_is_a_config_error(tmp_path):
    path = tmp_path / "instruments.csv"
    path.write_text("tradingsymbol,name\nNIFTY 50,NIFTY 50\n")
    with pytest.raises(ConfigError, match="instrument_token"):
        load_kite_instruments(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_kite_instruments(tmp_path / "absent.csv")
