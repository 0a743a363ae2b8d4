"""Configuration is loaded once, typed, and fails at start with a message that says what to fix."""

from pathlib import Path

import pytest

from core.config import load_config, mask_url, parse_feed
from core.errors import ConfigError


def load(env: dict, tmp_path: Path, secrets: str | None = None):
    path = tmp_path / "secrets.toml"
    if secrets is not None:
        path.write_text(secrets)
    return load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path), **env}, secrets_path=path)


def test_defaults_run_the_embedded_demo(tmp_path):
    config = load({}, tmp_path)
    assert config.database_url == f"sqlite:///{tmp_path.as_posix()}/strikeiq.db"
    assert config.feed.kind == "sim"
    assert config.feed.symbols == ("NIFTY", "BANKNIFTY")
    assert config.feed.warmup_s == 900.0  # a scripted scenario starts after 15 minutes of market
    assert config.spill_path == tmp_path / "signal_spill.jsonl"
    assert load({"STRIKEIQ_SIM_WARMUP_S": "0"}, tmp_path, 'STRIKEIQ_SIM_WARMUP_S = "60"').feed.warmup_s == 0
    assert load({}, tmp_path, 'STRIKEIQ_SIM_WARMUP_S = "60"').feed.warmup_s == 60


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sim", ("sim", "")),
        ("ws://127.0.0.1:8765", ("ws", "ws://127.0.0.1:8765")),
        ("replay:rec.jsonl.gz", ("replay", "rec.jsonl.gz")),
        ("upstox", ("upstox", "")),
        ("kite", ("kite", "")),
    ],
)
def test_feed_choices(value, expected):
    assert parse_feed(value) == expected


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"STRIKEIQ_FEED": "telnet://x"}, "use sim, ws://HOST:PORT"),
        ({"STRIKEIQ_SYMBOLS": "NIFTY,SENSEX"}, "unknown symbol(s) SENSEX"),
        ({"STRIKEIQ_SYMBOLS": " , "}, "is empty"),
        ({"STRIKEIQ_SPEED": "fast"}, "STRIKEIQ_SPEED='fast' is not a valid float"),
        ({"STRIKEIQ_SPEED": "-1"}, "must be >= 0"),
        ({"STRIKEIQ_SIM_WARMUP_S": "15m"}, "STRIKEIQ_SIM_WARMUP_S='15m' is not a valid float"),
        ({"STRIKEIQ_SIM_WARMUP_S": "-60"}, "STRIKEIQ_SIM_WARMUP_S='-60' must be >= 0"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "use sqlite:///PATH or postgresql"),
        ({"STRIKEIQ_LIVE_SOURCE": "redis"}, "use process or db"),
    ],
)
def test_wrong_values_fail_with_a_fix(env, fragment, tmp_path):
    with pytest.raises(ConfigError, match=None) as err:
        load(env, tmp_path)
    assert fragment in str(err.value)


def test_every_wrong_value_is_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as err:
        load({"STRIKEIQ_SEED": "1.5", "STRIKEIQ_GAMMA_BAND": "-1"}, tmp_path, 'STRIKEIQ_LIVE_SOURCE = "x"')
    for fragment in ("STRIKEIQ_SEED='1.5' is not a valid int", "STRIKEIQ_GAMMA_BAND='-1' must be >= 0",
                     "STRIKEIQ_LIVE_SOURCE='x': use process or db"):  # fmt: skip
        assert fragment in str(err.value)


def test_environment_wins_over_secrets_file(tmp_path):
    config = load(
        {"UPSTOX_ACCESS_TOKEN": "from-env"},
        tmp_path,
        secrets='UPSTOX_ACCESS_TOKEN = "from-file"\nKITE_API_KEY = "k"\n',
    )
    assert config.secrets.upstox_access_token == "from-env"
    assert config.secrets.kite_api_key == "k"
    assert "from-env" not in repr(config)


def test_broken_secrets_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load({}, tmp_path, secrets="this is = = not toml")
    with pytest.raises(
        ConfigError, match=r"\[engines\] in secrets.toml must hold \[engines.<EngineName>\] tables"
    ):
        load({}, tmp_path, secrets="[engines]\nthreshold = 0.5\n")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:secret@db:5432/x",
        "postgresql+psycopg2://u:secret@db:5432/x",
        "postgres://u:secret@db:5432/x",
    ],
)
def test_postgres_urls_are_kept_as_written_and_open_with_psycopg2(tmp_path, url):
    from core.storage.database import make_engine

    config = load({"DATABASE_URL": url}, tmp_path)
    assert config.database_url == url  # no rewriting: the engine names the driver
    assert mask_url(config.database_url) == url.replace("secret", "***")
    engine = make_engine(config.database_url)  # no connection is made until first use
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg2")


@pytest.mark.parametrize(
    ("url", "instead"),
    [
        ("postgresql+psycopg://u:secret@db/x", "'postgresql://u:***@db/x'"),
        ("postgresql+asyncpg://u@db/x", "'postgresql://u@db/x'"),
        ("mysql://u:secret@db/x", "postgresql://USER:PASSWORD@HOST:PORT/DB"),
        ("db.sqlite", "sqlite:///PATH"),
    ],
)
def test_an_unsupported_driver_is_a_config_error_that_says_what_to_write(tmp_path, url, instead):
    from core.storage.database import make_engine

    with pytest.raises(ConfigError) as err:
        load({"DATABASE_URL": url}, tmp_path)
    assert instead in str(err.value) and "secret" not in str(err.value)
    with pytest.raises(ConfigError):  # the --db paths reach make_engine without load_config
        make_engine(url)


def test_config_is_frozen(tmp_path):
    config = load({}, tmp_path)
    with pytest.raises(AttributeError):
        config.database_url = "sqlite://"  # type: ignore[misc]


def test_engine_parameters_come_from_the_secrets_file_and_the_environment(tmp_path):
    from core.engines.pipeline import EnginePipeline

    config = load(
        {"STRIKEIQ_ENGINE__SmartMoneyEngine__flow_min_rel": "0.05", "STRIKEIQ_STATE_HOLD_S": "240"},
        tmp_path,
        secrets="[engines.SmartMoneyEngine]\nflow_min_rel = 0.04\npcr_strong_high = 1.4\n"
        "[engines.LiquidityEngine]\nthreshold = 0.55\n",
    )
    assert config.engines.state_hold_s == 240.0
    pipe = EnginePipeline(config.engines)
    smart = pipe.params["SmartMoneyEngine"]
    assert smart.flow_min_rel == 0.05 and smart.pcr_strong_high == 1.4  # the environment wins
    assert pipe.params["LiquidityEngine"].threshold == 0.55
    # OptionsTrap's "weak smart-money bias" reads SmartMoney with the same configured params.
    assert pipe.params["OptionsTrapEngine"].smart_money == smart


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"STRIKEIQ_ENGINE__SmartMoneyEngine": "1"}, "STRIKEIQ_ENGINE__<EngineName>__<parameter>"),
        ({"STRIKEIQ_ENGINE": "SmartMoneyEngine"}, "STRIKEIQ_ENGINE__<EngineName>__<parameter>"),
        ({"STRIKEIQ_ENGINE__SmartMoneyEngine__flow__min": "1"}, "STRIKEIQ_ENGINE__<EngineName>__<parameter>"),
        ({"STRIKEIQ_ENGINE__NoSuchEngine__threshold": "0.5"}, "unknown engine"),
        ({"STRIKEIQ_ENGINE__SmartMoneyEngine__nope": "1"}, "unknown parameter 'nope'"),
        ({"STRIKEIQ_ENGINE__SmartMoneyEngine__w_writing": "2"}, "lie in 0..1"),
        ({"STRIKEIQ_STATE_HOLD_S": "soon"}, "STRIKEIQ_STATE_HOLD_S"),
    ],
)
def test_a_wrong_engine_setting_fails_at_start_with_the_fix(env, fragment, tmp_path):
    from core.engines.pipeline import EnginePipeline

    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        EnginePipeline(load(env, tmp_path).engines)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:secret@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("postgresql://u:s%3Acr%40t@db/x", "postgresql://u:***@db/x"),  # encoded ':' and '@'
        # An '@' after the host: a split on the last '@' showed "postgresql://u:***@b".
        ("postgresql://u:secret@db/x?application_name=a@b", "postgresql://u:***@db/x?application_name=a%40b"),
        ("sqlite:///data/strikeiq.db", "sqlite:///data/strikeiq.db"),
        ("u:secret@db", "***@db"),  # not a URL SQLAlchemy parses: only the host part is shown
    ],
)
def test_mask_url_hides_the_password_as_sqlalchemy_renders_it(url, shown):
    assert mask_url(url) == shown
    assert "secret" not in mask_url(url) and "cr@t" not in mask_url(url)
