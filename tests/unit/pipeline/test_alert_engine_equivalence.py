"""AlertEngine against its reference (reference_alerting: the engine before the per-event speed-ups) on random
event streams and rules: `evaluate_dict(data)` and `evaluate(Event)` give the alerts the reference gives for
`evaluate(event_from_dict(data))`, field for field (values' types and reprs included), replays included."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from squall.pipeline.alerting import AlertEngine, parse_alert_rules
from squall.pipeline.events import event_from_dict
from tests.unit.pipeline import reference_alerting as ref

METRICS = ("temperature", "battery", "humidity", "code")
numbers = st.one_of(
    st.integers(-5, 60),
    st.floats(-100, 100, allow_nan=False),
    st.sampled_from([45.0, 15.0, 0.0, -0.0, 1e9]),
)
events = st.lists(
    st.fixed_dictionaries(
        {
            "tenant": st.sampled_from(["acme", "beta"]),
            "device_id": st.sampled_from(["d1", "d2"]),
            "event_id": st.integers(0, 300).map(lambda i: f"e{i}"),
            "ts": st.integers(1_767_225_600_000, 1_767_225_700_000),
            "type": st.sampled_from(["telemetry", "telemetry", "telemetry", "alarm", "status"]),
            "metrics": st.dictionaries(st.sampled_from(METRICS), numbers, min_size=1, max_size=4),
            "attrs": st.just({}),
        }
    ),
    max_size=120,
)
rule = st.fixed_dictionaries(
    {
        "metric": st.sampled_from(METRICS),
        "op": st.sampled_from([">", "<", ">=", "<=", "==", "!="]),
        "value": numbers,
    },
    optional={"tenant": st.sampled_from(["acme", ["acme", "beta"], "zzz"])},
)
sections = st.fixed_dictionaries(
    {
        "thresholds": st.lists(rule, max_size=3),
        "consecutive": st.lists(rule.map(lambda r: {**r, "count": 2}), max_size=2),
        "anomaly": st.fixed_dictionaries(
            {
                "enabled": st.booleans(),
                "alpha": st.sampled_from([0.05, 0.3]),
                "z": st.sampled_from([0.5, 2.0, 6.0]),
                "min_samples": st.sampled_from([2, 5]),
            },
            optional={"metrics": st.sampled_from([["temperature"], ["humidity", "temperature"], ["code"]])},
        ),
        "alarm_events": st.booleans(),
    }
)


def view(alerts: list[Any]) -> list[Any]:
    return [[(k, type(v).__name__, repr(v)) for k, v in vars(a).items()] for a in alerts]


@settings(max_examples=300, deadline=None)
@given(events, sections, st.sampled_from([2, 8, 1024]))
def test_evaluate_dict_and_evaluate_match_the_reference(
    stream: list[dict[str, Any]], section: dict[str, Any], memory: int
) -> None:
    reference = ref.AlertEngine(ref.parse_alert_rules(section), replay_memory=memory)
    by_dict = AlertEngine(parse_alert_rules(section), replay_memory=memory)
    by_event = AlertEngine(parse_alert_rules(section), replay_memory=memory)
    for data in stream:
        want = view(reference.evaluate(event_from_dict(data)))
        assert view(by_dict.evaluate_dict(data)) == want
        assert view(by_event.evaluate(event_from_dict(data))) == want


@settings(max_examples=200, deadline=None)
@given(events, sections, st.sampled_from([2, 8, 1024]))
def test_bounds_that_are_never_reached_change_nothing(
    stream: list[dict[str, Any]], section: dict[str, Any], memory: int
) -> None:
    """The tightest bounds that never evict: the streams' 4 devices, and every id they can remember."""
    reference = ref.AlertEngine(ref.parse_alert_rules(section), replay_memory=memory)
    bounded = AlertEngine(
        parse_alert_rules(section), replay_memory=memory, max_keys=4, max_replays=4 * memory
    )
    for data in stream:
        assert view(bounded.evaluate_dict(data)) == view(reference.evaluate(event_from_dict(data)))
    assert bounded.stats()["evicted_keys"] == 0


@settings(max_examples=200, deadline=None)
@given(events, sections)
def test_with_one_device_of_state_each_device_is_evaluated_as_if_it_were_new_after_an_eviction(
    stream: list[dict[str, Any]], section: dict[str, Any]
) -> None:
    """max_keys=1: whenever the device changes, the previous one is forgotten, so each run of events of one
    device gives exactly what a fresh reference engine gives for that run."""
    bounded = AlertEngine(parse_alert_rules(section), max_keys=1)
    fresh: Any = None
    last: Any = None
    for data in stream:
        device = (data["tenant"], data["device_id"])
        if device != last:
            fresh, last = ref.AlertEngine(ref.parse_alert_rules(section)), device
        assert view(bounded.evaluate_dict(data)) == view(fresh.evaluate(event_from_dict(data)))
