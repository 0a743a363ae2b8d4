"""The token store and the expiry rule.

Expiry rule sources: Upstox get-token ("lasts until 3:30 AM the following day ... a token created at
2:30 AM on Wednesday will still expire at 3:30 AM on the same Wednesday",
https://upstox.com/developer/api-documentation/get-token); Kite session ("it'll expire at 6 AM on the
next day (regulatory requirement)", https://kite.trade/docs/connect/v3/user/).
"""

from __future__ import annotations

import json
import stat
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from core.broker.tokens import TOKEN_FILE, TokenRecord, TokenSource, TokenStore, expiry_for
from core.clock import IST
from core.errors import ConfigError


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.mark.parametrize(
    ("broker", "obtained", "expires"),
    [
        ("upstox", ist(2026, 11, 24, 20, 0), ist(2026, 11, 25, 3, 30)),  # Tuesday 8 PM -> Wednesday
        ("upstox", ist(2026, 11, 25, 2, 30), ist(2026, 11, 25, 3, 30)),  # Wednesday 2:30 AM -> same day
        ("upstox", ist(2026, 11, 25, 3, 30), ist(2026, 11, 26, 3, 30)),  # at the cut-off: the next one
        ("kite", ist(2026, 11, 25, 9, 15), ist(2026, 11, 26, 6, 0)),
        ("kite", ist(2026, 11, 25, 23, 59), ist(2026, 11, 26, 6, 0)),
    ],
)
def test_expiry_is_the_next_daily_cutoff_in_ist(broker, obtained, expires):
    assert expiry_for(broker, obtained) == expires
    utc = obtained.astimezone(datetime.now().astimezone().tzinfo)
    assert expiry_for(broker, utc) == expires  # the rule is in IST whatever the caller's zone


def test_store_round_trip_is_owner_only_and_atomic(tmp_path):
    store = TokenStore(tmp_path / "data")
    up = TokenRecord.obtained("upstox", "tok-up", ist(2026, 11, 26, 9, 0), user_id="AB1")
    kite = TokenRecord.obtained("kite", "tok-kite", ist(2026, 11, 26, 9, 5), api_key="key")
    store.save(up)
    store.save(kite)
    path = tmp_path / "data" / TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert TokenStore(tmp_path / "data").get("upstox") == up
    assert TokenStore(tmp_path / "data").get("kite") == kite
    assert [p.name for p in path.parent.iterdir()] == [TOKEN_FILE]  # no temp file left behind
    raw = json.loads(path.read_text())
    assert raw["upstox"]["expires_at"] == ist(2026, 11, 27, 3, 30).timestamp()
    store.delete("upstox")
    assert store.get("upstox") is None and store.get("kite") == kite


def test_a_loose_existing_file_is_tightened_on_save(tmp_path):
    path = tmp_path / TOKEN_FILE
    path.write_text("{}")
    path.chmod(0o644)
    TokenStore(tmp_path).save(TokenRecord.obtained("upstox", "t", ist(2026, 11, 26, 9, 0)))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_readers_see_a_new_login_without_reopening(tmp_path):
    reader, writer = TokenStore(tmp_path), TokenStore(tmp_path)
    assert reader.get("upstox") is None
    writer.save(TokenRecord.obtained("upstox", "first", ist(2026, 11, 26, 9, 0)))
    assert reader.get("upstox").access_token == "first"
    writer.save(TokenRecord.obtained("upstox", "second", ist(2026, 11, 26, 9, 1)))
    assert reader.get("upstox").access_token == "second"


def test_corrupt_file_says_how_to_fix_it(tmp_path):
    (tmp_path / TOKEN_FILE).write_text("not json")
    with pytest.raises(ConfigError, match="delete it and log in again"):
        TokenStore(tmp_path).get("upstox")
    assert TokenSource("upstox", TokenStore(tmp_path))() == ""


def test_source_prefers_the_environment_then_an_unexpired_stored_token(tmp_path):
    store = TokenStore(tmp_path)
    record = TokenRecord.obtained("upstox", "stored", ist(2026, 11, 26, 9, 0))
    store.save(record)
    before, after = record.expires_at - 1, record.expires_at
    assert TokenSource("upstox", store, clock=lambda: before)() == "stored"
    assert TokenSource("upstox", store, clock=lambda: after)() == ""  # expired: not even tried
    assert TokenSource("upstox", store, env_token="from-env", clock=lambda: after)() == "from-env"
    assert TokenSource("kite", store, clock=lambda: before)() == ""


def test_repr_never_shows_the_token():
    record = TokenRecord.obtained("kite", "very-secret-token", ist(2026, 11, 26, 9, 0))
    assert "very-secret-token" not in repr(record)


def test_the_token_file_is_git_ignored(tmp_path):
    root = Path(__file__).resolve().parents[3]
    for where in (f"data/{TOKEN_FILE}", f"elsewhere/{TOKEN_FILE}"):
        out = subprocess.run(["git", "check-ignore", "-q", where], cwd=root, check=False)
        assert out.returncode == 0, f"{where} is not ignored"
