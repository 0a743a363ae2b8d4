"""Alert rules validate at the door and load from a TOML file for headless workers."""

from __future__ import annotations

import pytest

from core.alerts.rules import AlertRule, RuleError, load_rules_file, rule_from_mapping
from core.errors import ConfigError


def test_a_rule_round_trips_through_its_stored_params() -> None:
    rule = AlertRule(name="sweeps", kind="signal", symbol="NIFTY", engines=("LiquidityEngine",),
                     directions=("UP",), min_confidence=0.65, channels=("webhook",), cooldown_s=60)  # fmt: skip
    data = {**rule.params(), "name": rule.name, "kind": rule.kind, "symbol": rule.symbol,
            "channels": list(rule.channels), "cooldown_s": rule.cooldown_s, "enabled": True}  # fmt: skip
    assert rule_from_mapping(data, rule_id=3) == rule.with_id(3)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"kind": "moon_phase"}, "kind 'moon_phase'"),
        ({"kind": "spot_cross"}, "needs price > 0"),
        ({"kind": "near_level", "level": "gamma_flip"}, "within_pct"),
        ({"kind": "near_level", "level": "vwap", "within_pct": 0.2}, "level 'vwap'"),
        ({"kind": "pcr_cross", "value": -1}, "value > 0"),
        ({"kind": "signal", "engines": ("MagicEngine",)}, "engines MagicEngine"),
        ({"kind": "signal", "min_confidence": 1.5}, "min_confidence"),
        ({"kind": "signal", "channels": ("pager",)}, "channels pager"),
        ({"kind": "signal", "symbol": "SENSEX"}, "symbol 'SENSEX'"),
        ({"kind": "structural", "structural": ("ECLIPSE",)}, "structural ECLIPSE"),
        ({"kind": "signal", "cooldown_s": -5}, "cooldown_s"),
    ],
)
def test_a_wrong_rule_is_refused_with_the_field_named(fields, words) -> None:
    with pytest.raises(RuleError, match=words):
        AlertRule(name="x", **fields)


def test_describe_says_what_the_rule_watches() -> None:
    assert AlertRule(name="a", kind="spot_cross", symbol="NIFTY", price=25000, cross="above").describe() == (
        "NIFTY: spot crosses 25,000.00 above"
    )
    assert "within 0.3 % of gamma flip" in AlertRule(name="b", kind="near_level", within_pct=0.3).describe()
    assert "GAMMA_FLIP_BREAK or PIN_RISK" in AlertRule(name="c", kind="structural").describe()


def test_rules_file_loads_every_kind(tmp_path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        """
[[rule]]
name = "strong signals"
kind = "signal"
min_confidence = 0.7
directions = ["UP", "DOWN"]
channels = ["webhook", "telegram"]

[[rule]]
name = "NIFTY 25k"
kind = "spot_cross"
symbol = "nifty"
price = 25000
cooldown_s = 600

[[rule]]
name = "flip"
kind = "near_level"
level = "gamma_flip"
within_pct = 0.25

[[rule]]
name = "pcr"
kind = "pcr_cross"
metric = "pcr_oi"
value = 1.2
cross = "above"

[[rule]]
name = "pin"
kind = "structural"
structural = "PIN_RISK"
"""
    )
    rules = load_rules_file(path)
    assert [r.kind for r in rules] == ["signal", "spot_cross", "near_level", "pcr_cross", "structural"]
    assert {r.origin for r in rules} == {"file"}
    assert rules[1].symbol == "NIFTY" and rules[1].price == 25000.0 and rules[1].cooldown_s == 600
    assert rules[4].structural == ("PIN_RISK",)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[rule]]\nname = 'x'\nkind = 'spot_cross'\n", r"rule 1: spot_cross needs price"),
        ("[[rule]]\nname = 'x'\nkind = 'signal'\ncolour = 'red'\n", "unknown field"),
        ("[[rule]\n", "not valid TOML"),
        ("[settings]\nx = 1\n", r"\[\[rule\]\] table"),
    ],
)
def test_a_wrong_rules_file_is_a_config_error(tmp_path, text, words) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_rules_file(path)


def test_a_missing_rules_file_says_which(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_rules_file(tmp_path / "nope.toml")
