"""`python -m core login upstox|kite` and `python -m core instruments upstox|kite` on loopback."""

from __future__ import annotations

import json
import stat

import pytest

from core.__main__ import main
from core.broker.tokens import TOKEN_FILE, TokenStore
from tests.core.broker.conftest import broker_env


@pytest.fixture
def env(broker, tmp_path, monkeypatch):
    """The login settings in the environment, but no base URL: --base-url must carry it."""
    for name, value in broker_env(broker, tmp_path).items():
        if "BASE_URL" not in name:
            monkeypatch.setenv(name, value)
    for name in ("UPSTOX_ACCESS_TOKEN", "KITE_ACCESS_TOKEN", "STRIKEIQ_INSTRUMENTS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_login_upstox_stores_the_token_and_prints_no_secret(broker, env, capsys):
    code = broker.issue_upstox_code()
    assert main(["login", "upstox", "--code", code, "--base-url", broker.base_url]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    record = TokenStore(env).get("upstox")
    assert report["broker"] == "upstox" and report["user_id"] == "AB1234"
    assert report["expires_at"].endswith("T03:30:00+05:30")
    assert report["token_file"] == str(env / TOKEN_FILE)
    assert record.access_token in broker.access_tokens
    assert record.access_token not in out.out + out.err
    assert broker.upstox_client_secret not in out.out + out.err
    assert stat.S_IMODE((env / TOKEN_FILE).stat().st_mode) == 0o600


def test_login_upstox_with_a_wrong_code_fails_with_the_brokers_words(broker, env, capsys):
    assert main(["login", "upstox", "--code", "wrong", "--base-url", broker.base_url]) == 1
    err = capsys.readouterr().err
    assert "UDAPI100057" in err and "Invalid Auth code" in err
    assert not (env / TOKEN_FILE).exists()


def test_login_kite_stores_the_token(broker, env, capsys):
    request_token = broker.issue_kite_request_token()
    assert main(["login", "kite", "--request-token", request_token, "--base-url", broker.base_url]) == 0
    assert json.loads(capsys.readouterr().out)["expires_at"].endswith("T06:00:00+05:30")
    assert TokenStore(env).get("kite").access_token in broker.access_tokens


def test_login_kite_wrong_checksum_fails(broker, env, capsys, monkeypatch):
    monkeypatch.setenv("KITE_API_SECRET", "some-other-secret")
    token = broker.issue_kite_request_token()
    assert main(["login", "kite", "--request-token", token, "--base-url", broker.base_url]) == 1
    err = capsys.readouterr().err
    assert "TokenException" in err and "Invalid `checksum`" in err
    assert "some-other-secret" not in err and token not in err


def test_login_without_the_app_configured_is_a_configuration_error(broker, env, capsys, monkeypatch):
    monkeypatch.delenv("UPSTOX_API_SECRET")
    assert main(["login", "upstox", "--code", "x", "--base-url", broker.base_url]) == 2
    assert "UPSTOX_API_SECRET" in capsys.readouterr().err


def test_bad_base_url_is_a_configuration_error(env, capsys):
    assert main(["login", "upstox", "--code", "x", "--base-url", "127.0.0.1:9000/v2"]) == 2
    assert "scheme and host only" in capsys.readouterr().err


@pytest.mark.parametrize("broker_name", ["upstox", "kite"])
def test_instruments_downloads_todays_master(broker, env, capsys, broker_name):
    assert main(["instruments", broker_name, "--base-url", broker.base_url]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["symbols"]["NIFTY"]["options"] == 246
    assert report["symbols"]["BANKNIFTY"]["options"] == 42
    assert report["file"].startswith(str(env / "instruments" / broker_name))
    assert broker.downloads[broker_name] == 1


def test_instruments_download_failure_exits_1(broker, env, capsys):
    broker.fail_downloads = True
    assert main(["instruments", "kite", "--base-url", broker.base_url]) == 1
    assert "HTTP 503" in capsys.readouterr().err
