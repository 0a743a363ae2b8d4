"""Broker login settings: a half-configured app or a wrong base URL fails at start, secrets masked."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.errors import ConfigError


def load(tmp_path, **env):
    return load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path), **env}, secrets_path=tmp_path / "none.toml")


def test_login_settings_are_read_from_environment_and_secrets_file(tmp_path):
    (tmp_path / "s.toml").write_text('UPSTOX_API_SECRET = "file-secret"\nKITE_API_SECRET = "kite-file"\n')
    env = {"STRIKEIQ_DATA_DIR": str(tmp_path), "UPSTOX_API_KEY": "key", "KITE_API_KEY": "kk",
           "UPSTOX_REDIRECT_URI": "http://localhost:8501/", "STRIKEIQ_UPSTOX_BASE_URL": "http://127.0.0.1:9/"}  # fmt: skip
    s = load_config(env=env, secrets_path=tmp_path / "s.toml").secrets
    assert (s.upstox_api_key, s.upstox_api_secret, s.kite_api_secret) == ("key", "file-secret", "kite-file")
    assert s.upstox_base_url == "http://127.0.0.1:9"  # a trailing slash is not part of the host
    assert s.kite_base_url == ""


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"UPSTOX_API_KEY": "k"}, "set UPSTOX_API_SECRET, UPSTOX_REDIRECT_URI"),
        ({"UPSTOX_API_KEY": "k", "UPSTOX_API_SECRET": "s", "UPSTOX_REDIRECT_URI": "localhost:8501"},
         "UPSTOX_REDIRECT_URI='localhost:8501': use the http"),
        ({"KITE_API_SECRET": "s"}, "KITE_API_SECRET is set without KITE_API_KEY"),
        ({"STRIKEIQ_KITE_BASE_URL": "http://127.0.0.1:9/session"}, "STRIKEIQ_KITE_BASE_URL=.*scheme and host only"),
        ({"STRIKEIQ_UPSTOX_BASE_URL": "ftp://host"}, "scheme and host only"),
    ],
)  # fmt: skip
def test_wrong_login_settings_fail_at_start_with_the_fix(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, **env)


def test_repr_masks_every_secret(tmp_path):
    s = load(tmp_path, UPSTOX_API_KEY="up-key-value", UPSTOX_API_SECRET="up-secret-value",
             UPSTOX_REDIRECT_URI="http://localhost:8501/", KITE_API_KEY="kite-key-value",
             KITE_API_SECRET="kite-secret-value", UPSTOX_ACCESS_TOKEN="access-value").secrets  # fmt: skip
    text = repr(s)
    for value in ("up-key-value", "up-secret-value", "kite-key-value", "kite-secret-value", "access-value"):
        assert value not in text
    assert "upstox_api_secret=set" in text and "kite_access_token=unset" in text
