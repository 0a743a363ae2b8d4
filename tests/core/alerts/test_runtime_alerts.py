"""The runtime evaluates alert rules on its metrics cycles, live and in replays, never in backtests."""

from __future__ import annotations

from dataclasses import replace

from core.alerts.config import AlertConfig
from core.config import FeedConfig, load_config
from core.feed.simulator import Simulator
from core.runtime import Runtime


class _IdleFeed:
    mode = "SIMULATED"


def _config(tmp_path, rules_file=""):
    base = load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path)})
    feed = FeedConfig(symbols=("NIFTY",), scenario="calm", seed=3, speed=0.0,
                      start="2026-11-25T09:15:00+05:30", warmup_s=120.0)  # fmt: skip
    return replace(base, feed=feed, database_url=f"sqlite:///{tmp_path / 'rt.db'}",
                   alerts=AlertConfig(rules_file=rules_file))  # fmt: skip


def test_backtests_evaluate_no_alerts(tmp_path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\nname = "pin"\nkind = "structural"\n')
    config = _config(tmp_path, str(path))
    assert Runtime(config, _IdleFeed()).alerts.rules  # a live run has the file's rule
    backtest = Runtime(config, _IdleFeed(), source="backtest:june")
    assert backtest.alerts.enabled is False and backtest.alerts.rules == ()
    assert backtest.alerts.stats()["rules"] == 0


def test_metrics_cycles_feed_the_rules(tmp_path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\nname = "near max pain"\nkind = "near_level"\nlevel = "max_pain"\n'
                    'within_pct = 20\ncooldown_s = 60\n')  # fmt: skip
    config = _config(tmp_path, str(path))
    sim = Simulator(config.feed)
    runtime = Runtime(config, feed=sim)  # driven by hand: no threads
    for batch in sim.batches(until_ts=sim.script_start_ts + 150):
        runtime.on_items(batch)
    fired = runtime.alerts.recent()
    # spot stays within 20 % of max pain all session: one alert when the level first exists
    assert [r.event.signal for r in fired] == ["NEAR_MAX_PAIN"]
    assert fired[0].event.symbol == "NIFTY" and fired[0].status == "in-app"
    assert runtime.health()["alerts"]["fired"] == 1
