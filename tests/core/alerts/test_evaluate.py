"""AlertEvaluator: each kind of rule fires when it should, once per episode, and waits its cooldown."""

from __future__ import annotations

from datetime import datetime

from core.alerts.evaluate import AlertEvaluator
from core.alerts.rules import AlertRule
from tests.core.alerts.builders import T0, metrics, signal


def run(rule: AlertRule, cycles: list, evaluator: AlertEvaluator | None = None) -> list[list]:
    ev = evaluator or AlertEvaluator()
    return [ev.evaluate([rule], m, sigs) for m, sigs in cycles]


def test_signal_rule_filters_engine_direction_and_confidence() -> None:
    rule = AlertRule(name="r", kind="signal", engines=("LiquidityEngine",), directions=("UP",),
                     min_confidence=0.6, cooldown_s=0)  # fmt: skip
    sigs = [
        signal(confidence=0.59),
        signal(engine="GammaSqueezeEngine", signal="SQUEEZE_UP"),
        signal(direction="DOWN", signal="SWEEP_DOWN"),
        signal(confidence=0.6),
    ]
    [fired] = run(rule, [(metrics(), sigs)])
    assert len(fired) == 1
    e = fired[0]
    assert (e.engine, e.signal, e.direction, e.confidence) == ("LiquidityEngine", "SWEEP_UP", "UP", 0.6)
    assert e.signal_id == sigs[3].id and e.reasons == ("pierce_reclaim",)


def test_signal_payload_carries_the_webhook_fields_with_an_offset_timestamp() -> None:
    rule = AlertRule(name="r", kind="signal")
    [[event]] = run(rule, [(metrics(), [signal()])])
    body = event.payload()
    assert {"symbol", "ts", "engine", "signal", "direction", "confidence", "spot_price", "reasons"} <= set(
        body
    )
    ts = datetime.fromisoformat(body["ts"])
    assert ts.utcoffset() is not None and ts.utcoffset().total_seconds() == 5.5 * 3600
    assert ts.timestamp() == T0
    assert body["reasons"] == ["pierce_reclaim"] and body["spot_price"] == 25_000.0


def test_spot_cross_fires_on_the_crossing_only_in_the_chosen_direction() -> None:
    up = AlertRule(name="up", kind="spot_cross", price=25_050, cross="above", cooldown_s=0)
    path = [24_990, 25_040, 25_050, 25_060, 25_030, 25_070]
    fired = run(up, [(metrics(T0 + i, spot=s), []) for i, s in enumerate(path)])
    # touches 25,050 from below at index 2, then crosses up again at index 5 (down-cross ignored)
    assert [bool(f) for f in fired] == [False, False, True, False, False, True]
    assert fired[2][0].signal == "SPOT_CROSS_UP"
    either = AlertRule(name="both", kind="spot_cross", price=25_050, cross="either", cooldown_s=0)
    fired = run(either, [(metrics(T0 + i, spot=s), []) for i, s in enumerate(path)])
    assert [f[0].direction if f else None for f in fired] == [None, None, "UP", None, "DOWN", "UP"]


def test_cooldown_is_per_rule_and_symbol_in_event_time() -> None:
    rule = AlertRule(name="r", kind="spot_cross", price=100, cooldown_s=60)
    ev = AlertEvaluator()
    seq = [(0, "NIFTY", 99), (1, "NIFTY", 101), (2, "BANKNIFTY", 99), (3, "BANKNIFTY", 101),
           (10, "NIFTY", 99), (20, "NIFTY", 101), (61, "NIFTY", 99), (62, "NIFTY", 101)]  # fmt: skip
    fired = [bool(ev.evaluate([rule], metrics(T0 + t, symbol=s, spot=p), [])) for t, s, p in seq]
    # NIFTY up at 1; BANKNIFTY's own crossing at 3 is not muted; NIFTY down at 10 and up at 20 are
    # within 60 s of 1 (suppressed); down at 61 is 60 s on (fires), so up at 62 waits again.
    assert fired == [False, True, False, True, False, False, True, False]
    assert ev.suppressed == 3


def test_near_level_fires_on_entering_the_zone_not_while_inside() -> None:
    rule = AlertRule(name="flip", kind="near_level", level="gamma_flip", within_pct=0.2, cooldown_s=0)
    spots = [25_200, 25_060, 25_040, 25_010, 25_200, 25_045]  # flip 25,000: 0.2 % = 50 points
    fired = run(rule, [(metrics(T0 + i, spot=s, gamma_flip=25_000.0), []) for i, s in enumerate(spots)])
    assert [bool(f) for f in fired] == [False, False, True, False, False, True]
    assert fired[2][0].signal == "NEAR_GAMMA_FLIP" and "0.16 %" in fired[2][0].message


def test_near_level_without_the_level_never_fires() -> None:
    rule = AlertRule(name="wall", kind="near_level", level="call_wall", within_pct=1.0, cooldown_s=0)
    assert run(rule, [(metrics(T0, call_wall=None), [])]) == [[]]


def test_pcr_cross_reads_the_chosen_pcr() -> None:
    rule = AlertRule(
        name="pcr", kind="pcr_cross", metric="pcr_volume", value=1.2, cross="below", cooldown_s=0
    )
    vals = [(1.0, 1.3), (1.5, 1.25), (1.5, 1.1)]  # (pcr_oi, pcr_volume)
    fired = run(rule, [(metrics(T0 + i, pcr_oi=a, pcr_volume=b), []) for i, (a, b) in enumerate(vals)])
    assert [bool(f) for f in fired] == [False, False, True]
    assert fired[2][0].signal == "PCR_VOLUME_CROSS_DOWN"


def test_structural_rule_fires_when_the_alert_appears() -> None:
    rule = AlertRule(name="pin", kind="structural", structural=("PIN_RISK",), cooldown_s=0)
    kinds = [(), ("PIN_RISK",), ("PIN_RISK",), ("GAMMA_FLIP_BREAK",), ("PIN_RISK",)]
    fired = run(rule, [(metrics(T0 + i, alerts=k), []) for i, k in enumerate(kinds)])
    assert [bool(f) for f in fired] == [False, True, False, False, True]
    assert fired[1][0].signal == "PIN_RISK" and fired[1][0].message == "PIN_RISK test"


def test_symbol_and_disabled_rules_are_respected() -> None:
    only_bank = AlertRule(name="b", kind="signal", symbol="BANKNIFTY", cooldown_s=0)
    off = AlertRule(name="off", kind="signal", enabled=False, cooldown_s=0)
    ev = AlertEvaluator()
    assert ev.evaluate([only_bank, off], metrics(), [signal()]) == []
    assert len(ev.evaluate([only_bank, off], metrics(symbol="BANKNIFTY"), [signal(symbol="BANKNIFTY")])) == 1


def test_a_signal_stamped_before_the_last_alert_is_not_lost() -> None:
    """Debounced states carry the time they qualified, which can precede the previous alert."""
    rule = AlertRule(name="all", kind="signal", cooldown_s=0)
    ev = AlertEvaluator()
    assert ev.evaluate([rule], metrics(T0 + 10), [signal(T0 + 10)])
    late = signal(T0 - 170, engine="SmartMoneyEngine", signal="BEARISH", direction="DOWN")
    [event] = ev.evaluate([rule], metrics(T0 + 11), [late])
    assert event.ts == T0 - 170 and event.signal == "BEARISH"
