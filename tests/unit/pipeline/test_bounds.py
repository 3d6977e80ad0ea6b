"""Memory of the pipeline's engines is bounded globally, whatever the number of tenants and devices: parse's
de-duplication (`pipeline.parse.dedup_horizon` ids over all tenants) and the alert engine's per-device state
(`pipeline.windows.max_keys` devices, `max_replays` remembered ids); the bolts report evictions in their counts."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from bolts.aggregate import AggregateBolt
from bolts.alerts import AlertsBolt
from squall.clock import ManualClock
from squall.errors import ConfigError
from squall.pipeline.alerting import AlertEngine, parse_alert_rules
from squall.pipeline.dedup import Deduplicator, Seen
from squall.pipeline.model import event_fields
from squall.pipeline.parse import Parser
from squall.pipeline.tuples import BATCH_FIELDS, pack_batch
from squall.testing import BoltHarness
from squall.windowing.definitions import parse_window_settings

T0 = 1_767_225_600_000


def test_dedup_memory_is_bounded_over_200k_tenants() -> None:
    d = Deduplicator(horizon=10_000)
    tracemalloc.start()
    try:
        for i in range(200_000):
            assert d.check(f"tenant-{i}", "e1", ("iot.events", 0, i)) is Seen.NEW
            if i == 20_000 - 1:
                at_20k = tracemalloc.get_traced_memory()[0]
        at_200k = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert d.size() == 10_000
    assert at_200k < at_20k * 1.1, (at_20k, at_200k)  # ten times the tenants, the same memory
    assert at_200k < 8 * 2**20  # 10k ids: a few MiB (per tenant, 200k tenants held ~112 MiB)
    # the most recent ids are still known: a replay passes, a producer duplicate is dropped
    assert d.check("tenant-199999", "e1", ("iot.events", 0, 199_999)) is Seen.REPLAY
    assert d.check("tenant-199999", "e1", ("iot.events", 0, 5)) is Seen.DUPLICATE
    assert d.check("tenant-0", "e1", ("iot.events", 0, 5)) is Seen.NEW  # forgotten (aggregate dedups it)


@pytest.mark.parametrize("bad", [0, -1, "10000", 2.5, True])
def test_a_bad_dedup_horizon_is_a_config_error_naming_the_key(bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"pipeline\.parse\.dedup_horizon: .* \(fix: "):
        Parser({"parse": {"dedup_horizon": bad}})


@pytest.mark.parametrize("key", ["max_keys", "max_closed_windows"])
@pytest.mark.parametrize("bad", [0, "100", 1.5, False])
def test_bad_window_limits_are_config_errors_naming_the_key(key: str, bad: Any) -> None:
    with pytest.raises(ConfigError, match=rf"pipeline\.windows\.{key}: .* \(fix: "):
        parse_window_settings({key: bad})


def test_window_limits_default_and_read_from_settings() -> None:
    assert (parse_window_settings({}).max_keys, parse_window_settings({}).max_closed_windows) == (
        100_000,
        200_000,
    )
    limits = parse_window_settings({"max_keys": 5, "max_closed_windows": 7})
    assert (limits.max_keys, limits.max_closed_windows) == (5, 7)


def alarm(tenant: str, device: str, event_id: str, value: float) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "device_id": device,
        "event_id": event_id,
        "ts": T0,
        "type": "telemetry",
        "metrics": {"temperature": value},
        "attrs": {},
    }


RULES = {"anomaly": {"alpha": 0.3, "z": 3.0, "min_samples": 5}}


def test_alert_state_is_bounded_over_200k_devices() -> None:
    engine = AlertEngine(parse_alert_rules(RULES), max_keys=1_000, max_replays=5_000)
    tracemalloc.start()
    try:
        for i in range(200_000):
            engine.evaluate_dict(alarm(f"tenant-{i % 7}", f"dev-{i}", "e1", 20.0))
            if i == 20_000 - 1:
                at_20k = tracemalloc.get_traced_memory()[0]
        at_200k = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert engine.stats() == {"devices": 1_000, "replays": 1_000, "evicted_keys": 199_000}
    assert at_200k < at_20k * 1.1, (at_20k, at_200k)


def test_replays_are_bounded_over_all_devices_and_the_least_recently_active_forget_first() -> None:
    engine = AlertEngine(parse_alert_rules(RULES), max_keys=100, max_replays=50)
    for i in range(40):
        engine.evaluate_dict(alarm("acme", "old", f"o{i}", 20.0))
    for i in range(40):
        engine.evaluate_dict(alarm("acme", "new", f"n{i}", 20.0))
    assert engine.stats()["replays"] <= 50
    assert engine.stats()["devices"] == 2  # the state stays; only remembered ids go
    # the recent device still recognises its re-deliveries: the detector is not updated twice
    spike = alarm("acme", "new", "n39", 1000.0)  # a re-delivery of n39 (its value is ignored)
    assert engine.evaluate_dict(spike) == []


def test_an_evicted_device_starts_its_detector_again() -> None:
    engine = AlertEngine(parse_alert_rules(RULES), max_keys=1)
    readings = [20.0, 21.0, 20.0, 21.0, 20.0, 21.0]
    for i, v in enumerate(readings):
        engine.evaluate_dict(alarm("acme", "a", f"a{i}", v))
    assert [a.kind for a in engine.evaluate_dict(alarm("acme", "a", "spike1", 90.0))] == ["anomaly"]
    engine.evaluate_dict(alarm("acme", "b", "b1", 20.0))  # evicts a
    assert engine.stats()["evicted_keys"] == 1
    # a's EWMA restarted: fewer than min_samples readings, no anomaly alert for the same spike
    assert engine.evaluate_dict(alarm("acme", "a", "spike2", 90.0)) == []


def pipeline_conf(tmp_path: Path, **windows: Any) -> dict[str, Any]:
    return {
        "squall.pipeline": {
            "source": "simulator",
            "sink": "sqlite",
            "sqlite": {"path": str(tmp_path / "s.db")},
            "publisher": "embedded",
            "windows": {
                "definitions": [{"type": "tumbling", "length_s": 10}],
                "allowed_lateness_s": 2,
                "idle_timeout_s": 5,
                **windows,
            },
            "alerts": RULES,
        },
        "topology.message.timeout.secs": 60,
        "topology.tick.tuple.freq.secs": 1,
    }


def batch(*devices: str, ts: int = T0 + 1_000) -> list[Any]:
    entries = [
        [event_fields(alarm("acme", d, f"{d}-1", 20.0) | {"ts": ts}), ["iot.events", 0, i]]
        for i, d in enumerate(devices)
    ]
    return [3, pack_batch(entries, binary=True)]


class ManualAggregate(AggregateBolt):
    clock = ManualClock()


def test_aggregate_evicts_past_max_keys_acks_the_evicted_windows_tuples_and_counts_it(tmp_path: Path) -> None:
    ManualAggregate.clock = ManualClock()
    h = BoltHarness(ManualAggregate, pipeline_conf(tmp_path, max_keys=2), inputs={"route": BATCH_FIELDS})
    t1 = h.process(batch("d1", "d2"), component="route")
    assert h.acked == [] and h.emits == []  # both devices' windows are open
    t2 = h.process(batch("d3"), component="route")  # d1, least recently active, is evicted
    [rows] = [e for e in h.emits if e.stream == "default"]
    assert [r["device_id"] for r in rows.values[1]] == ["d1"] and rows.anchors == [t1]
    assert h.acked == []  # t1 is still held by d2's window
    t3 = h.process(batch("d4"), component="route")  # d2 is evicted: t1 is acked
    assert h.acked == [t1]
    assert h.instance.counts["evicted_keys"] == 2
    assert h.instance.windows.stats()["keys"] == 2
    assert t2 not in h.acked and t3 not in h.acked


def test_the_alerts_bolt_bounds_device_state_by_max_keys(tmp_path: Path) -> None:
    h = BoltHarness(AlertsBolt, pipeline_conf(tmp_path, max_keys=3), inputs={"route": BATCH_FIELDS})
    h.process(batch(*(f"d{i}" for i in range(10))), component="route")
    assert h.instance.engine.stats()["devices"] == 3 and h.instance.engine.stats()["evicted_keys"] == 7
