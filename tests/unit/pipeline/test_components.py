"""Each spout/bolt of the reference pipeline driven through squall.testing (the multilang messages Storm sends):
emits, anchors, acks and fails; the aggregate's clock is a ManualClock, nothing sleeps."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import msgpack
import pytest

from bolts.aggregate import AggregateBolt
from bolts.alerts import AlertsBolt
from bolts.dlq import DeadLetterBolt
from bolts.parse import ParseBolt
from bolts.persist import PersistBolt
from bolts.route import RouteBolt
from spouts.events import EventSpout
from squall.clock import ManualClock
from squall.errors import ConfigError
from squall.kafka.dead_letters import decode_dead_letter
from squall.pipeline.tuples import EVENT_FIELDS, INVALID_FIELDS, LATE_FIELDS, RECORD_FIELDS, SPOUT_FIELDS
from squall.testing import BoltHarness, SpoutHarness

T0 = 1_767_225_600_000
EVENT = {
    "tenant": "acme",
    "device_id": "d1",
    "event_id": "e1",
    "ts": T0 + 1000,
    "type": "telemetry",
    "metrics": {"temperature": 21.0},
}


def conf(tmp_path: Path, **pipeline: Any) -> dict[str, Any]:
    base = {
        "source": "simulator",
        "sink": "sqlite",
        "sqlite": {"path": str(tmp_path / "s.db")},
        "windows": {
            "definitions": [{"type": "tumbling", "length_s": 10}],
            "allowed_lateness_s": 2,
            "idle_timeout_s": 5,
        },
        "simulator": {"devices": 2, "rate": 10, "duration_s": 2, "partitions": 2, "bad_ratio": 0.2},
    }
    base.update(pipeline)
    return {"squall.pipeline": base, "topology.message.timeout.secs": 60, "topology.tick.tuple.freq.secs": 1}


def event_tuple(**change: Any) -> list[Any]:
    event = {**EVENT, "attrs": {}, **change}
    return [event["tenant"], event["device_id"], event, ["iot.events", 0, int(event["ts"]) % 1000]]


def test_parse_emits_valid_events_anchored_and_invalid_ones_with_original_bytes(tmp_path: Path) -> None:
    h = BoltHarness(ParseBolt, conf(tmp_path), inputs={"events": SPOUT_FIELDS})
    good = h.process([msgpack.packb(EVENT).decode("latin-1"), "iot.events", 3, 42], component="events")
    raw = b'{"tenant": "acme", \xff'
    bad = h.process([raw.decode("latin-1"), "iot.events", 3, 43], component="events")
    dup = h.process([json.dumps(EVENT).encode().decode("latin-1"), "iot.events", 1, 7], component="events")
    replay = h.process([msgpack.packb(EVENT).decode("latin-1"), "iot.events", 3, 42], component="events")
    assert h.acked == [good, bad, dup, replay] and h.failed == []
    valid = [e for e in h.emits if e.stream == "default"]
    assert [e.anchors for e in valid] == [
        [good],
        [replay],
    ]  # the producer duplicate (other offset) is dropped
    assert valid[0].values[:2] == ["acme", "d1"] and valid[0].values[3] == ["iot.events", 3, 42]
    invalid = h.emitted("invalid")
    assert invalid[0][0] == "invalid_json" and invalid[0][2].encode("latin-1") == raw
    assert invalid[0][3] == ["iot.events", 3, 43]


def test_route_sends_each_event_to_its_streams(tmp_path: Path) -> None:
    h = BoltHarness(RouteBolt, conf(tmp_path), inputs={"parse": EVENT_FIELDS})
    t = h.process(event_tuple(), component="parse")
    a = h.process(event_tuple(type="alarm", metrics={"code": 7}), component="parse")
    assert [(e.stream, e.anchors) for e in h.emits] == [
        ("telemetry", [t]),
        ("archive", [t]),
        ("alarms", [a]),
        ("archive", [a]),
    ]
    assert h.acked == [t, a]


def test_route_rejects_bad_rules_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="routing"):
        BoltHarness(RouteBolt, conf(tmp_path, routing={"rules": [{"stream": "nope"}]}))


class ManualAggregate(AggregateBolt):
    clock = ManualClock()


def test_aggregate_acks_inputs_when_their_window_is_emitted_anchored_to_all_of_them(tmp_path: Path) -> None:
    ManualAggregate.clock = ManualClock()
    h = BoltHarness(ManualAggregate, conf(tmp_path), inputs={("route", "telemetry"): EVENT_FIELDS})
    t1 = h.process(event_tuple(), component="route", stream="telemetry")
    t2 = h.process(
        event_tuple(event_id="e2", ts=T0 + 2000, metrics={"temperature": 23.0}),
        component="route",
        stream="telemetry",
    )
    again = h.process(event_tuple(), component="route", stream="telemetry")  # re-delivery: counted once, held
    assert h.acked == [] and h.emits == []
    t3 = h.process(event_tuple(event_id="e3", ts=T0 + 12_500), component="route", stream="telemetry")
    [window] = h.emits
    assert window.stream == "default" and window.anchors == [t1, t2, again]
    kind, row = window.values
    assert kind == "window" and (row["count"], row["sum"], row["mean"], row["window_start"]) == (
        2,
        44.0,
        22.0,
        T0,
    )
    assert h.acked == [t1, t2, again]
    late = h.process(event_tuple(event_id="old", ts=T0 + 5000), component="route", stream="telemetry")
    assert h.emits[-1].stream == "late" and h.emits[-1].anchors == [late] and h.acked[-1] == late
    assert h.emits[-1].values[-1] == T0 + 10_500  # the watermark it missed
    h.tick()
    assert len(h.emits) == 2  # not idle yet
    ManualAggregate.clock.advance(5)
    h.tick()
    assert h.emits[-1].anchors == [t3] and t3 in h.acked  # the idle key's open window was flushed


def test_aggregate_refuses_a_message_timeout_shorter_than_its_windows(tmp_path: Path) -> None:
    bad = conf(tmp_path)
    bad["topology.message.timeout.secs"] = 10
    with pytest.raises(ConfigError, match="topology.message.timeout.secs"):
        BoltHarness(ManualAggregate, bad)


def test_persist_writes_records_and_acks_only_after_the_write(tmp_path: Path) -> None:
    h = BoltHarness(
        PersistBolt, conf(tmp_path), inputs={"aggregate": RECORD_FIELDS, ("route", "archive"): EVENT_FIELDS}
    )
    row = {
        "tenant": "acme",
        "device_id": "d1",
        "metric": "t",
        "window_s": 10,
        "window_start": T0,
        "window_end": T0 + 10_000,
        "count": 1,
        "sum": 2.0,
        "min": 2.0,
        "max": 2.0,
        "mean": 2.0,
        "p50": 2.0,
        "p95": 2.0,
    }
    w = h.process(["window", row], component="aggregate")
    w2 = h.process(["window", row], component="aggregate")  # replay: upsert
    e = h.process(event_tuple(), component="route", stream="archive")
    broken = h.process(["window", {**row, "count": None}], component="aggregate")  # NOT NULL violated
    assert h.acked == [] and h.failed == []  # buffered (pipeline.persist.batch_size): nothing written yet
    h.tick()  # a tick writes the buffer as one transaction, then acks/fails each tuple by its own write
    assert [a for a in h.acked if a in (w, w2, e)] == [w, w2, e] and h.failed == [broken]
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT count, sum FROM metric_windows").fetchall() == [(1, 2.0)]
        assert db.execute("SELECT tenant, event_id FROM events").fetchall() == [("acme", "e1")]


def test_alerts_publish_then_emit_for_persist(tmp_path: Path) -> None:
    c = conf(
        tmp_path,
        alerts={
            "thresholds": [{"metric": "temperature", "op": ">", "value": 45}],
            "anomaly": {"enabled": False},
        },
    )
    h = BoltHarness(AlertsBolt, c, inputs={("route", "telemetry"): EVENT_FIELDS})
    quiet = h.process(event_tuple(), component="route", stream="telemetry")
    hot = h.process(
        event_tuple(event_id="e9", metrics={"temperature": 50.0}), component="route", stream="telemetry"
    )
    assert h.acked == [quiet, hot]
    [alert] = h.emits
    assert alert.anchors == [hot] and alert.values[0] == "alert" and alert.values[1]["kind"] == "threshold"
    with sqlite3.connect(tmp_path / "s.db") as db:
        [(topic, key, value)] = db.execute("SELECT topic, key, value FROM published").fetchall()
    assert (topic, key) == ("iot.alerts", b"acme/d1") and json.loads(value)["alert_id"] == alert.values[1][
        "alert_id"
    ]


def test_dlq_publishes_invalid_and_late_events(tmp_path: Path) -> None:
    h = BoltHarness(
        DeadLetterBolt,
        conf(tmp_path),
        inputs={("parse", "invalid"): INVALID_FIELDS, ("aggregate", "late"): LATE_FIELDS},
    )
    raw = b"\x00\xffgarbage"
    h.process(
        ["invalid_msgpack", "bad", raw.decode("latin-1"), ["iot.events", 2, 9]],
        component="parse",
        stream="invalid",
    )
    h.process([*event_tuple(), T0 + 99_000], component="aggregate", stream="late")
    assert len(h.acked) == 2
    records = [e.values[1] for e in h.emits]
    assert [r["reason"] for r in records] == ["invalid_msgpack", "late"]
    assert records[0]["payload"].encode("latin-1") == raw
    with sqlite3.connect(tmp_path / "s.db") as db:
        published = db.execute("SELECT topic, key, value FROM published ORDER BY seq").fetchall()
    assert [(t, k) for t, k, _ in published] == [
        ("iot.dlq", b"iot.events:2:9"),
        ("iot.dlq", b"iot.events:0:0"),
    ]
    assert decode_dead_letter(published[0][2]).payload == raw


def test_event_spout_emits_original_bytes_with_msg_ids_and_replays_failures(tmp_path: Path) -> None:
    s = SpoutHarness(EventSpout, conf(tmp_path), component="events")
    emits = [e for _ in range(25) for e in s.next_tuple()]
    assert len(emits) == 20  # 2 s at 10 events/s, then nothing more
    first = emits[0]
    assert first.id == f"iot.events:{first.values[2]}:{first.values[3]}"
    assert s.next_tuple() == []
    s.ack(first.id)
    s.fail(emits[1].id)
    [replayed] = s.next_tuple()
    assert replayed.id == emits[1].id and replayed.values == emits[1].values


def test_event_spout_checks_max_spout_pending_against_the_simulated_rate(tmp_path: Path) -> None:
    c = conf(tmp_path, simulator={"rate": 1000})
    c["topology.max.spout.pending"] = 100
    with pytest.raises(ConfigError, match="topology.max.spout.pending"):
        SpoutHarness(EventSpout, c, component="events")


def test_event_spout_emits_a_bounded_batch_per_next_tuple_each_with_its_msg_id(tmp_path: Path) -> None:
    s = SpoutHarness(EventSpout, conf(tmp_path, spout={"batch_size": 3}), component="events")
    calls = [s.next_tuple() for _ in range(8)]
    assert [len(c) for c in calls] == [3, 3, 3, 3, 3, 3, 2, 0]  # 20 events, at most 3 per round trip
    ids = [e.id for c in calls for e in c]
    assert len(set(ids)) == 20
    s.fail(ids[4])
    s.fail(ids[7])
    assert [e.id for e in s.next_tuple()] == [ids[4], ids[7]]  # replays first, still one emit per msg id


def test_event_spout_rejects_a_bad_batch_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pipeline.spout.batch_size"):
        SpoutHarness(EventSpout, conf(tmp_path, spout={"batch_size": 0}), component="events")


def test_persist_writes_a_full_batch_at_once_in_one_transaction(tmp_path: Path) -> None:
    h = BoltHarness(
        PersistBolt, conf(tmp_path, persist={"batch_size": 2}), inputs={("route", "archive"): EVENT_FIELDS}
    )
    first = h.process(event_tuple(event_id="e1"), component="route", stream="archive")
    assert h.acked == []
    second = h.process(event_tuple(event_id="e2"), component="route", stream="archive")
    assert h.acked == [first, second] and h.failed == []
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT event_id FROM events ORDER BY event_id").fetchall() == [("e1",), ("e2",)]
