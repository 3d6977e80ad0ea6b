"""Pure pipeline logic: producer-duplicate detection, routing rules, alert rules and the EWMA detector,
bounded in-flight writes."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from squall.errors import ConfigError
from squall.pipeline.alerting import AlertEngine, Ewma, parse_alert_rules
from squall.pipeline.dedup import Deduplicator, Seen
from squall.pipeline.model import Event
from squall.pipeline.persisting import WriteWindow
from squall.pipeline.routing import parse_rules, route

T0 = 1_767_225_600_000


def ev(
    i: int = 1, type: str = "telemetry", tenant: str = "acme", device: str = "d1", **metrics: float
) -> Event:
    return Event(tenant, device, f"e{i}", T0 + i, type, metrics or {"temperature": 20.0})


def test_dedup_tells_producer_duplicates_from_storm_replays_with_bounded_memory() -> None:
    d = Deduplicator(horizon=3)
    assert d.check("a", "e1", ("t", 0, 1)) is Seen.NEW
    assert d.check("a", "e1", ("t", 0, 1)) is Seen.REPLAY
    assert d.check("a", "e1", ("t", 0, 9)) is Seen.DUPLICATE
    assert d.check("b", "e1", ("t", 0, 9)) is Seen.NEW  # an event id is per tenant
    d.check("a", "e2", ("t", 0, 2))
    d.check("b", "e3", ("t", 0, 3))  # evicts a/e1 (least recently seen, whatever the tenant)
    assert d.size() == 3
    assert d.check("a", "e1", ("t", 0, 9)) is Seen.NEW


def test_routing_rules_by_type_tenant_metric_and_predicate() -> None:
    rules = parse_rules(
        {
            "rules": [
                {"stream": "telemetry", "type": ["telemetry", "status"]},
                {"stream": "alarms", "type": "alarm"},
                {"stream": "alarms", "metric": "temperature", "op": ">", "value": 90},
                {"stream": "archive", "tenant": "acme"},
            ]
        }
    )
    assert route(ev(), rules) == ["telemetry", "archive"]
    assert route(ev(temperature=95.0), rules) == ["telemetry", "alarms", "archive"]
    assert route(ev(type="alarm", tenant="other"), rules) == ["alarms"]
    assert route(ev(type="weird", tenant="other"), rules) == []
    assert route(ev(), parse_rules(None)) == ["telemetry"]  # defaults: no raw-event archive


@pytest.mark.parametrize(
    ("rules", "key"),
    [
        ([{"stream": "nowhere"}], "rules[0].stream"),
        ([{"stream": "alarms", "op": ">", "value": 1}], "rules[0]"),
        ([{"stream": "alarms", "metric": "t", "op": "~", "value": 1}], "rules[0]"),
        ([{"stream": "alarms", "typo": 1}], "rules[0].typo"),
        ([{"stream": "alarms", "type": 5}], "rules[0].type"),
    ],
)
def test_bad_routing_rules_are_config_errors_naming_the_rule(rules: list[dict[str, Any]], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_rules({"rules": rules})
    assert err.value.key == f"pipeline.routing.{key}"


def test_threshold_consecutive_and_alarm_alerts_with_deterministic_ids() -> None:
    engine = AlertEngine(
        parse_alert_rules(
            {
                "thresholds": [{"metric": "temperature", "op": ">", "value": 45}],
                "consecutive": [{"metric": "battery", "op": "<", "value": 15, "count": 3}],
                "anomaly": {"enabled": False},
            }
        )
    )
    assert [a.kind for a in engine.evaluate(ev(1, temperature=50.0))] == ["threshold"]
    assert engine.evaluate(ev(1, temperature=50.0))[0].alert_id == "threshold:0:e1:temperature"
    kinds = [
        [a.kind for a in engine.evaluate(ev(i, battery=b))]
        for i, b in enumerate([10, 10, 20, 10, 10, 10, 10], 2)
    ]
    assert kinds == [[], [], [], [], [], ["consecutive"], []]  # fires on the 3rd of a run, once per run
    alarm = engine.evaluate(ev(20, type="alarm", code=7.0))
    assert [(a.kind, a.metric, a.value) for a in alarm] == [("alarm", "code", 7.0)]


def test_replayed_event_returns_the_same_alerts_without_updating_state_twice() -> None:
    engine = AlertEngine(
        parse_alert_rules(
            {
                "consecutive": [{"metric": "battery", "op": "<", "value": 15, "count": 2}],
                "anomaly": {"enabled": False},
            }
        )
    )
    engine.evaluate(ev(1, battery=10))
    first = engine.evaluate(ev(2, battery=10))
    assert [a.kind for a in first] == ["consecutive"]
    assert engine.evaluate(ev(2, battery=10)) == first  # replay
    assert engine.evaluate(ev(3, battery=10)) == []  # the run continues; not re-fired by the replay


def test_ewma_anomaly_detector_flags_a_spike_after_warmup() -> None:
    engine = AlertEngine(parse_alert_rules({"anomaly": {"alpha": 0.1, "z": 4, "min_samples": 20}}))
    alerts = []
    for i in range(200):
        value = 20.0 + (0.5 if i % 2 else -0.5)
        alerts += engine.evaluate(ev(i, temperature=value))
    assert alerts == []
    spike = engine.evaluate(ev(500, temperature=35.0))
    assert [(a.kind, a.metric) for a in spike] == [("anomaly", "temperature")]


def test_ewma_matches_the_closed_form_for_constant_input() -> None:
    e = Ewma(alpha=0.5)
    for _ in range(10):
        e.update(3.0)
    assert (e.mean, e.var, e.score(3.0)) == (3.0, 0.0, None)


def test_alert_rule_errors() -> None:
    with pytest.raises(ConfigError, match=r"consecutive\[0\]\.count"):
        parse_alert_rules({"consecutive": [{"metric": "b", "op": "<", "value": 1, "count": 1}]})
    with pytest.raises(ConfigError, match="anomaly.alpha"):
        parse_alert_rules({"anomaly": {"alpha": 2}})


def test_write_window_acks_after_success_fails_on_error_and_bounds_in_flight() -> None:
    acked: list[Any] = []
    failed: list[Any] = []
    w = WriteWindow(2, acked.append, lambda t, e: failed.append((t, str(e))), timeout_s=1)
    f1: Future[None] = Future()
    f2: Future[None] = Future()
    w.add([f1], "a")
    assert len(w) == 1 and acked == []
    f1.set_result(None)
    f2.set_exception(RuntimeError("disk full"))
    w.add([f2], "b")  # the window is full: the oldest is settled first
    assert acked == ["a"] and failed == [("b", "disk full")] and len(w) == 0
    slow: Future[None] = Future()
    w.add([slow], "c")
    w.settle()
    assert len(w) == 1
    w.drain()  # a write that never completes fails after the timeout instead of hanging
    assert failed[-1][0] == "c" and "not confirmed" in failed[-1][1]


def test_write_window_add_settles_only_the_confirmed_head_and_ticks_settle_the_rest() -> None:
    """`add` costs O(confirmed) (persist adds one entry per buffered tuple per flush): a confirmed entry behind
    an unconfirmed one waits for the next `settle` (every tick) or for the head."""
    acked: list[Any] = []
    w = WriteWindow(10, acked.append, lambda t, e: None, timeout_s=1)
    head: Future[None] = Future()
    done: Future[None] = Future()
    done.set_result(None)
    w.add([head], "head")
    w.add([done], "behind")
    assert acked == [] and len(w) == 2
    w.settle()  # a tick
    assert acked == ["behind"] and len(w) == 1
    head.set_result(None)
    w.add([done], "next")
    assert acked == ["behind", "head", "next"] and len(w) == 0
