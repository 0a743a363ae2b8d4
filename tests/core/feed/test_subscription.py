"""ATM window selection, re-centring diffs and request chunking within broker limits."""

from __future__ import annotations

import json
from datetime import date

import pytest

from core.config import FeedConfig
from core.errors import ConfigError
from core.feed.instruments import InstrumentMaster, load_kite_instruments, load_upstox_instruments
from core.feed.kite import KiteFeed
from core.feed.subscription import (
    KITE_TOKENS_PER_REQUEST,
    UPSTOX_KEYS_PER_REQUEST,
    AtmWindow,
    SubscriptionDiff,
    chunked,
)
from core.feed.upstox import UpstoxFeed
from tests.core.feed.broker_servers import KITE_FILE, UPSTOX_FILE

DAY = date(2026, 12, 1)
WEEK1, WEEK2, MONTH = date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 29)


@pytest.fixture(scope="module")
def master() -> InstrumentMaster:
    return load_upstox_instruments(UPSTOX_FILE)


def legs(master: InstrumentMaster, keys) -> set[tuple]:
    out = set()
    for k in keys:
        i = master.get(k)
        out.add((i.symbol, i.expiry, i.strike, i.right))
    return out


def grid(symbol, expiries, strikes) -> set[tuple]:
    return {(symbol, e, float(k), r) for e in expiries for k in strikes for r in ("CE", "PE")}


def test_chunked_keeps_order_and_limits():
    assert chunked(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunked([], 3) == []
    with pytest.raises(ValueError):
        chunked([1], 0)


def test_first_window_is_atm_plus_minus_n_both_rights_nearest_two_expiries(master):
    window = AtmWindow(master, ["NIFTY"], strikes_each_side=15)
    diff = window.update("NIFTY", 26012.0, DAY)
    assert diff.remove == ()
    assert legs(master, diff.add) == grid("NIFTY", (WEEK1, WEEK2), range(25250, 26751, 50))
    assert len(diff.add) == 31 * 2 * 2
    assert window.keys() == frozenset(diff.add)
    assert window.expiries("NIFTY") == (WEEK1, WEEK2)
    assert window.index_keys() == ("NSE_INDEX|Nifty 50",)


def test_atm_is_the_nearest_listed_strike(master):
    window = AtmWindow(master, ["NIFTY"], strikes_each_side=1, expiries_count=1)
    diff = window.update("NIFTY", 26026.0, DAY)  # nearer 26050 than 26000
    assert legs(master, diff.add) == grid("NIFTY", (WEEK1,), (26000, 26050, 26100))


def test_small_moves_do_not_churn(master):
    window = AtmWindow(master, ["NIFTY"], strikes_each_side=15)
    window.update("NIFTY", 26000.0, DAY)
    for spot in (26030.0, 26074.0, 25926.0, 25960.0):  # ATM moves by at most one strike
        assert not window.update("NIFTY", spot, DAY)


def test_moving_two_strikes_recentres_and_returns_the_exact_diff(master):
    window = AtmWindow(master, ["NIFTY"], strikes_each_side=15)
    window.update("NIFTY", 26000.0, DAY)
    diff = window.update("NIFTY", 26100.0, DAY)  # ATM 26000 -> 26100: two strikes
    assert legs(master, diff.add) == grid("NIFTY", (WEEK1, WEEK2), (26800, 26850))
    assert legs(master, diff.remove) == grid("NIFTY", (WEEK1, WEEK2), (25250, 25300))
    assert not set(diff.add) & set(diff.remove)
    assert legs(master, window.keys()) == grid("NIFTY", (WEEK1, WEEK2), range(25350, 26851, 50))
    # the centre moved too: one more strike up is again no change
    assert not window.update("NIFTY", 26150.0, DAY)


def test_window_clips_at_the_edge_of_listed_strikes(master):
    window = AtmWindow(master, ["BANKNIFTY"], strikes_each_side=15)
    diff = window.update("BANKNIFTY", 58020.0, DAY)
    assert legs(master, diff.add) == grid("BANKNIFTY", (MONTH,), range(58000, 59501, 100))


def test_expiry_roll_replaces_the_expired_series(master):
    window = AtmWindow(master, ["NIFTY"], strikes_each_side=2)
    window.update("NIFTY", 26000.0, DAY)
    diff = window.update("NIFTY", 26000.0, date(2026, 12, 2))
    assert {e for (_, e, _, _) in legs(master, diff.add)} == {MONTH}
    assert {e for (_, e, _, _) in legs(master, diff.remove)} == {WEEK1}
    assert window.expiries("NIFTY") == (WEEK2, MONTH)


def test_no_listed_expiry_or_bad_spot_means_no_subscription(master):
    window = AtmWindow(master, ["NIFTY", "FINNIFTY"])
    assert window.update("FINNIFTY", 24000.0, DAY) == SubscriptionDiff()
    assert window.update("NIFTY", float("nan"), DAY) == SubscriptionDiff()
    assert window.update("NIFTY", 26000.0, date(2027, 1, 1)) == SubscriptionDiff()


def test_window_larger_than_the_broker_allows_is_a_config_error(master):
    with pytest.raises(ConfigError, match="broker allows 1500"):
        AtmWindow(
            master, ["NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY"], strikes_each_side=100, max_keys=1500
        )


class CapturingSocket:
    def __init__(self) -> None:
        self.binary: list[dict] = []
        self.text: list[dict] = []

    def send_binary(self, payload: bytes) -> None:
        self.binary.append(json.loads(payload))

    def send(self, payload: str) -> None:
        self.text.append(json.loads(payload))


def test_upstox_requests_are_chunked_and_moded(master):
    feed = UpstoxFeed(FeedConfig(kind="upstox", symbols=("NIFTY",)), "t", master)
    options = sorted(k for k in (i.key for s in ("NIFTY",) for i in _all(master, s)))[:230]
    ws = CapturingSocket()
    feed._subscribe(ws, ["NSE_INDEX|Nifty 50", *options])
    sizes = [len(r["data"]["instrumentKeys"]) for r in ws.binary]
    assert sizes == [1, UPSTOX_KEYS_PER_REQUEST, UPSTOX_KEYS_PER_REQUEST, 30]
    assert [r["data"]["mode"] for r in ws.binary] == ["ltpc"] + ["option_greeks"] * 3
    assert all(r["method"] == "sub" and r["guid"] for r in ws.binary)
    assert [k for r in ws.binary[1:] for k in r["data"]["instrumentKeys"]] == options
    feed._unsubscribe(ws, options)
    assert [r["method"] for r in ws.binary[4:]] == ["unsub"] * 3


def test_kite_requests_are_chunked_subscribe_then_full_mode(monkeypatch):
    assert KITE_TOKENS_PER_REQUEST <= 3000  # within Kite's per-connection limit
    monkeypatch.setattr("core.feed.kite.KITE_TOKENS_PER_REQUEST", 100)  # the fixture chain is small
    kite = load_kite_instruments(KITE_FILE)
    feed = KiteFeed(FeedConfig(kind="kite", symbols=("NIFTY",)), "k", "t", kite)
    tokens = sorted(i.key for i in _all(kite, "NIFTY"))[:110]
    ws = CapturingSocket()
    feed._subscribe(ws, tokens)
    assert [m["a"] for m in ws.text] == ["subscribe", "mode", "subscribe", "mode"]
    assert ws.text[0]["v"] == [int(t) for t in tokens[:100]]
    assert ws.text[1]["v"] == ["full", ws.text[0]["v"]]
    assert len(ws.text[2]["v"]) == 10


def _all(master: InstrumentMaster, symbol: str):
    for e in master.expiries(symbol):
        for k in master.strikes(symbol, e):
            for r in ("CE", "PE"):
                yield master.find(symbol, e, k, r)
