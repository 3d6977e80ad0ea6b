"""Each spout/bolt of the reference pipeline driven through squall.testing (the multilang messages Storm sends):
emits, anchors, acks and fails; the aggregate's clock is a ManualClock, nothing sleeps."""

from __future__ import annotations

import base64
import itertools
import json
import sqlite3
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from squall.pipeline.model import event_fields, event_of
from squall.pipeline.routing import ARCHIVE_RULES
from squall.pipeline.settings import MAX_SHARDS, PipelineSettings
from squall.pipeline.tuples import (
    BATCH_FIELDS,
    DEFAULT_SHARDS,
    INVALID_FIELDS,
    LATE_FIELDS,
    RECORD_FIELDS,
    SPOUT_FIELDS,
    late_values,
    pack_batch,
    packs_binary,
    shard_of,
    shards_for,
    unpack_batch,
)
from squall.runner.grouping import stable_hash
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


OFFSETS = itertools.count()


def entry(offset: int | None = None, **change: Any) -> list[Any]:
    """One event of a batch, as parse emits it: [event fields, source]; by default each new entry is the next
    message of partition 0 (the order a test makes them in is the order they were produced in)."""
    event = {**EVENT, "attrs": {}, **change}
    return [event_fields(event), ["iot.events", 0, next(OFFSETS) if offset is None else offset]]


def batch(*entries: list[Any], shard: int = 3) -> list[Any]:
    return [shard, pack_batch(list(entries), binary=True)]


def messages(*payloads: tuple[int, bytes]) -> bytes | str:
    return pack_batch([[offset, payload] for offset, payload in payloads], binary=True)


def test_parse_emits_valid_events_by_shard_and_invalid_ones_with_original_bytes(tmp_path: Path) -> None:
    h = BoltHarness(ParseBolt, conf(tmp_path, shards=DEFAULT_SHARDS), inputs={"events": SPOUT_FIELDS})
    raw = b'{"tenant": "acme", \xff'
    other = {**EVENT, "device_id": "d2", "event_id": "x1"}
    first = h.process(
        ["iot.events", 3, messages((42, msgpack.packb(EVENT)), (43, raw), (44, json.dumps(other).encode()))],
        component="events",
    )
    # a producer duplicate (same event id, another offset) is dropped; a replay of the same offset is not
    again = h.process(
        ["iot.events", 3, messages((45, json.dumps(EVENT).encode()), (42, msgpack.packb(EVENT)))],
        component="events",
    )
    assert h.acked == [first, again] and h.failed == []
    valid = [e for e in h.emits if e.stream == "default"]
    assert all(e.anchors == [first] for e in valid[:-1]) and valid[-1].anchors == [again]
    shards = {e.values[0]: unpack_batch(e.values[1]) for e in valid[:-1]}
    assert shard_of("acme", "d1", DEFAULT_SHARDS) != shard_of("acme", "d2", DEFAULT_SHARDS)
    [d1] = shards[shard_of("acme", "d1", DEFAULT_SHARDS)]
    [d2] = shards[shard_of("acme", "d2", DEFAULT_SHARDS)]
    assert (event_of(d1[0])["event_id"], d1[1]) == ("e1", ["iot.events", 3, 42])
    assert (event_of(d2[0])["device_id"], d2[1]) == ("d2", ["iot.events", 3, 44])
    assert [e[1] for e in unpack_batch(valid[-1].values[1])] == [["iot.events", 3, 42]]  # only the replay
    invalid = h.letters()
    assert len(invalid) == 1 and invalid[0][0] == "invalid_json" and invalid[0][2] == raw
    assert invalid[0][3] == ["iot.events", 3, 43]


def test_parse_keeps_a_devices_arrival_order_inside_its_shard(tmp_path: Path) -> None:
    h = BoltHarness(ParseBolt, conf(tmp_path, shards=1), inputs={"events": SPOUT_FIELDS})
    payloads = [
        (i, json.dumps({**EVENT, "event_id": f"e{i}", "ts": T0 + 10 * (5 - i)}).encode()) for i in range(5)
    ]
    h.process(["iot.events", 0, messages(*payloads)], component="events")
    [out] = h.emits
    assert out.values[0] == 0
    assert [event_of(e[0])["event_id"] for e in unpack_batch(out.values[1])] == ["e0", "e1", "e2", "e3", "e4"]


def test_automatic_shards_are_the_least_common_multiple_of_the_topologys_task_counts() -> None:
    def context(**par: int) -> dict[str, Any]:
        names = [name for name, n in par.items() for _ in range(n)] + ["__acker", "__acker", "__acker"]
        return {"task->component": {str(task): name for task, name in enumerate(names, 1)}}

    auto = PipelineSettings.from_dict({})
    assert shards_for(auto, context(events=1, parse=2, route=1, aggregate=2, persist=2)) == 2
    assert shards_for(auto, context(parse=4, route=2, aggregate=4, alerts=3)) == 12
    assert shards_for(auto, context(a=4096, b=4095)) == MAX_SHARDS
    assert shards_for(auto, None) == DEFAULT_SHARDS  # no topology to look at
    assert shards_for(PipelineSettings.from_dict({"shards": 7}), context(a=2)) == 7
    # with L shards every task of an n-task component gets L/n of them: a fields grouping on `shard` sends
    # shard s to task index (31 + s) mod n (java.util.List.hashCode of [s], as Storm and the runner hash it)
    for n in (1, 2, 3, 4):
        tasks = [stable_hash([s]) % n for s in range(12)]
        assert sorted(tasks) == sorted(list(range(n)) * (12 // n))


def test_parse_rejects_a_bad_shard_count(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pipeline.shards"):
        BoltHarness(ParseBolt, conf(tmp_path, shards=0))


def test_route_sends_each_event_to_its_streams_one_batch_per_stream(tmp_path: Path) -> None:
    h = BoltHarness(
        RouteBolt, conf(tmp_path, routing={"rules": ARCHIVE_RULES}), inputs={"parse": BATCH_FIELDS}
    )
    t, a = entry(), entry(event_id="e2", type="alarm", metrics={"code": 7})
    b = h.process(batch(t, a), component="parse")
    assert sorted((e.stream, e.values[0], len(unpack_batch(e.values[1]))) for e in h.emits) == [
        ("alarms", 3, 1),
        ("archive", 3, 2),
        ("telemetry", 3, 1),
    ]
    assert all(e.anchors == [b] for e in h.emits) and h.acked == [b]
    assert unpack_batch(h.emitted("archive")[0][1]) == [t, a] and unpack_batch(h.emitted("alarms")[0][1]) == [
        a
    ]


def test_route_rejects_bad_rules_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="routing"):
        BoltHarness(RouteBolt, conf(tmp_path, routing={"rules": [{"stream": "nope"}]}))


class ManualAggregate(AggregateBolt):
    clock = ManualClock()


def test_aggregate_acks_inputs_when_their_window_is_emitted_anchored_to_all_of_them(tmp_path: Path) -> None:
    ManualAggregate.clock = ManualClock()
    h = BoltHarness(
        ManualAggregate, conf(tmp_path, shards=DEFAULT_SHARDS), inputs={("route", "telemetry"): BATCH_FIELDS}
    )
    telemetry = {"component": "route", "stream": "telemetry"}
    t1 = h.process(batch(entry()), **telemetry)
    t2 = h.process(batch(entry(event_id="e2", ts=T0 + 2000, metrics={"temperature": 23.0})), **telemetry)
    again = h.process(batch(entry()), **telemetry)  # re-delivery: counted once, held
    assert h.acked == [] and h.emits == []
    t3 = h.process(batch(entry(event_id="e3", ts=T0 + 12_500)), **telemetry)
    [window] = h.emits
    assert window.stream == "default" and window.anchors == [t1, t2, again]
    kind, [row], shard = window.values
    assert shard == shard_of("acme", "d1", DEFAULT_SHARDS)  # persist takes window rows grouped by shard
    assert kind == "window" and (row["count"], row["sum"], row["mean"], row["window_start"]) == (
        2,
        44.0,
        22.0,
        T0,
    )
    assert h.acked == [t1, t2, again]
    late = h.process(batch(entry(event_id="old", ts=T0 + 5000)), **telemetry)
    assert h.emits[-1].stream == "late" and h.emits[-1].anchors == [late] and h.acked[-1] == late
    assert h.letters("late")[-1][-1] == T0 + 10_500  # the watermark it missed
    h.tick()
    assert len(h.emits) == 2  # not idle yet
    ManualAggregate.clock.advance(5)
    h.tick()
    assert h.emits[-1].anchors == [t3] and t3 in h.acked  # the idle key's open window was flushed


def test_aggregate_holds_a_batch_until_every_window_of_its_events_closed(tmp_path: Path) -> None:
    ManualAggregate.clock = ManualClock()
    h = BoltHarness(ManualAggregate, conf(tmp_path), inputs={("route", "telemetry"): BATCH_FIELDS})
    telemetry = {"component": "route", "stream": "telemetry"}
    # one batch: an event in [T0, T0+10s), its duplicate, an event of another device, and one that closes
    # the first window (watermark T0+10.5s) while the batch's own later events stay open
    b1 = h.process(
        batch(
            entry(),
            entry(),
            entry(device_id="d2", event_id="x1", ts=T0 + 3000),
            entry(event_id="e2", ts=T0 + 12_500),
        ),
        **telemetry,
    )
    [closed] = h.emits
    assert closed.anchors == [b1] and [r["count"] for r in closed.values[1]] == [1]
    assert h.acked == []  # d2's window and d1's second window still hold it
    b2 = h.process(batch(entry(device_id="d2", event_id="x2", ts=T0 + 30_000)), **telemetry)
    assert h.acked == []  # d1's second window is still open
    b3 = h.process(
        batch(entry(event_id="late", ts=T0 + 1), entry(event_id="e3", ts=T0 + 25_000)), **telemetry
    )
    late = [e for e in h.emits if e.stream == "late"]
    assert [item[2]["event_id"] for item in h.letters("late")] == ["late"] and late[0].anchors == [b3]
    assert b1 in h.acked and b2 not in h.acked and b3 not in h.acked
    rows = {
        (r["device_id"], r["window_start"]): r["count"]
        for e in h.emits
        if e.stream == "default"
        for r in e.values[1]
    }
    assert rows == {("d1", T0): 1, ("d2", T0): 1, ("d1", T0 + 10_000): 1}


def test_aggregate_refuses_a_message_timeout_shorter_than_its_windows(tmp_path: Path) -> None:
    bad = conf(tmp_path)
    bad["topology.message.timeout.secs"] = 10
    with pytest.raises(ConfigError, match="topology.message.timeout.secs"):
        BoltHarness(ManualAggregate, bad)


WINDOW_ROW = {
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


def test_persist_writes_records_and_acks_only_after_the_write(tmp_path: Path) -> None:
    h = BoltHarness(
        PersistBolt, conf(tmp_path), inputs={"aggregate": RECORD_FIELDS, ("route", "archive"): BATCH_FIELDS}
    )
    row = dict(WINDOW_ROW)
    w = h.process(["window", [row, {**row, "metric": "u"}]], component="aggregate")
    w2 = h.process(["window", [row]], component="aggregate")  # replay: upsert
    e = h.process(batch(entry(), entry(event_id="e2")), component="route", stream="archive")
    broken = h.process(
        ["window", [{**row, "metric": "v", "count": None}]], component="aggregate"
    )  # NOT NULL violated
    assert h.acked == [] and h.failed == []  # buffered (pipeline.persist.batch_size): nothing written yet
    h.tick()  # a tick writes the buffer as one transaction, then acks/fails each tuple by its own write
    assert [a for a in h.acked if a in (w, w2, e)] == [w, w2, e] and h.failed == [broken]
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT metric, count FROM metric_windows ORDER BY metric").fetchall() == [
            ("t", 1),
            ("u", 1),
        ]
        assert db.execute("SELECT event_id FROM events ORDER BY event_id").fetchall() == [("e1",), ("e2",)]


HOT_OVER_45 = {
    "thresholds": [{"metric": "temperature", "op": ">", "value": 45}],
    "anomaly": {"enabled": False},
}


def test_alerts_publish_then_emit_for_persist(tmp_path: Path) -> None:
    c = conf(tmp_path, alerts=HOT_OVER_45)
    h = BoltHarness(AlertsBolt, c, inputs={("route", "telemetry"): BATCH_FIELDS})
    quiet = h.process(batch(entry()), component="route", stream="telemetry")
    hot = h.process(
        batch(entry(event_id="e8"), entry(event_id="e9", metrics={"temperature": 50.0})),
        component="route",
        stream="telemetry",
    )
    assert h.acked == [quiet, hot]
    [alert] = h.emits  # nothing for the quiet batch; one records tuple for the hot one
    assert alert.anchors == [hot] and alert.values[0] == "alert" and len(alert.values[1]) == 1
    assert alert.values[1][0]["kind"] == "threshold"
    with sqlite3.connect(tmp_path / "s.db") as db:
        [(topic, key, value)] = db.execute("SELECT topic, key, value FROM published").fetchall()
    assert (topic, key) == ("iot.alerts", b"acme/d1") and json.loads(value)["alert_id"] == alert.values[1][0][
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
        [pack_batch([["invalid_msgpack", "bad", raw, ["iot.events", 2, 9]]], binary=True)],
        component="parse",
        stream="invalid",
    )
    h.process(
        [pack_batch([late_values(entry(offset=0), T0 + 99_000)], binary=True)],
        component="aggregate",
        stream="late",
    )
    assert len(h.acked) == 2
    records = [r for e in h.emits for r in e.values[1]]
    assert [r["reason"] for r in records] == ["invalid_msgpack", "late"]
    assert records[0]["payload"].encode("latin-1") == raw
    with sqlite3.connect(tmp_path / "s.db") as db:
        published = db.execute("SELECT topic, key, value FROM published ORDER BY seq").fetchall()
    assert [(t, k) for t, k, _ in published] == [
        ("iot.dlq", b"iot.events:2:9"),
        ("iot.dlq", b"iot.events:0:0"),
    ]
    assert decode_dead_letter(published[0][2]).payload == raw


def test_event_spout_emits_one_batch_per_partition_acked_and_replayed_as_a_whole(tmp_path: Path) -> None:
    sim = {"devices": 8, "rate": 10, "duration_s": 2, "partitions": 2}
    s = SpoutHarness(EventSpout, conf(tmp_path, simulator=sim), component="events")
    emits = s.next_tuple()
    assert sorted(e.values[1] for e in emits) == [0, 1]  # 2 partitions, one batch each
    assert sum(len(unpack_batch(e.values[2])) for e in emits) == 20  # 2 s at 10 events/s
    first, second = emits
    offsets = [m[0] for m in unpack_batch(first.values[2])]
    assert offsets == sorted(offsets) and all(isinstance(m[1], bytes) for m in unpack_batch(first.values[2]))
    assert s.next_tuple() == []
    s.ack(first.id)
    s.fail(second.id)
    [replayed] = s.next_tuple()  # the failed batch's messages, again, under a new msg id
    assert replayed.id not in (first.id, second.id) and replayed.values == second.values
    s.ack(second.id)  # an ack for a batch that already failed changes nothing
    assert s.next_tuple() == []


def test_event_spout_checks_max_spout_pending_against_the_simulated_rate(tmp_path: Path) -> None:
    c = conf(tmp_path, simulator={"rate": 1000})
    c["topology.max.spout.pending"] = 100
    with pytest.raises(ConfigError, match="topology.max.spout.pending"):
        SpoutHarness(EventSpout, c, component="events")


def test_event_spout_takes_at_most_batch_size_messages_per_next_tuple(tmp_path: Path) -> None:
    s = SpoutHarness(EventSpout, conf(tmp_path, spout={"batch_size": 3}), component="events")
    calls = [s.next_tuple() for _ in range(9)]
    sizes = [sum(len(unpack_batch(e.values[2])) for e in c) for c in calls]
    assert all(n <= 3 for n in sizes) and sum(sizes) == 20 and sizes[-1] == 0
    ids = [e.id for c in calls for e in c]
    assert len(set(ids)) == len(ids)


def test_event_spout_rejects_a_bad_batch_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pipeline.spout.batch_size"):
        SpoutHarness(EventSpout, conf(tmp_path, spout={"batch_size": 0}), component="events")


def test_persist_writes_only_the_last_emit_of_a_window_in_one_flush(tmp_path: Path) -> None:
    """An idle close and its amendment can land in one flush: the amendment is the row that stays, and both
    tuples are acked when it is written."""
    h = BoltHarness(PersistBolt, conf(tmp_path), inputs={"aggregate": ["kind", "records", "shard"]})
    row = dict(WINDOW_ROW)
    early = h.process(["window", [row], 3], component="aggregate")
    amended = h.process(
        ["window", [{**row, "count": 2, "sum": 5.0, "max": 3.0, "mean": 2.5}], 3], component="aggregate"
    )
    h.tick()
    assert [a for a in h.acked if a in (early, amended)] == [early, amended]
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT count, sum, max FROM metric_windows").fetchall() == [(2, 5.0, 3.0)]


def test_persist_writes_a_full_batch_at_once_in_one_transaction(tmp_path: Path) -> None:
    h = BoltHarness(
        PersistBolt, conf(tmp_path, persist={"batch_size": 2}), inputs={("route", "archive"): BATCH_FIELDS}
    )
    first = h.process(batch(entry(event_id="e1")), component="route", stream="archive")
    assert h.acked == []
    second = h.process(batch(entry(event_id="e2")), component="route", stream="archive")
    assert h.acked == [first, second] and h.failed == []
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT event_id FROM events ORDER BY event_id").fetchall() == [("e1",), ("e2",)]


class HeldPublisher:
    """A publisher whose sends complete when the test says (the broker's acknowledgement)."""

    def __init__(self) -> None:
        self.sent: list[Future[None]] = []

    def publish(self, topic: str, key: bytes | None, value: bytes) -> Future[None]:
        self.sent.append(Future())
        return self.sent[-1]

    def close(self) -> None:
        pass


def held(bolt_cls: type) -> type:
    """`bolt_cls` whose publisher's sends complete when the test says."""

    class Held(bolt_cls):  # type: ignore[misc, valid-type]
        def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
            super().initialize(conf, ctx)
            self.publisher.publisher = self.held = HeldPublisher()

    return Held


HeldDlq = held(DeadLetterBolt)
HeldAlerts = held(AlertsBolt)


def test_dlq_acks_a_tuple_only_when_its_publish_was_acknowledged_and_fails_it_otherwise(
    tmp_path: Path,
) -> None:
    h = BoltHarness(HeldDlq, conf(tmp_path), inputs={("parse", "invalid"): INVALID_FIELDS})
    invalid = {"component": "parse", "stream": "invalid"}
    a = h.process([pack_batch([["invalid_json", "x", b"{", ["iot.events", 0, 1]]], binary=True)], **invalid)
    b = h.process([pack_batch([["invalid_json", "x", b"{", ["iot.events", 0, 2]]], binary=True)], **invalid)
    assert [e.anchors for e in h.emits] == [[a], [b]]  # the records for persist go out at once, anchored
    assert h.acked == [] and h.failed == []
    held = h.instance.held.sent
    held[0].set_result(None)
    held[1].set_exception(TimeoutError("broker did not answer"))
    h.tick()
    assert a in h.acked and h.failed == [b]


def test_alerts_ack_a_batch_when_its_alerts_were_acknowledged_and_a_quiet_batch_at_once(
    tmp_path: Path,
) -> None:
    c = conf(tmp_path, alerts=HOT_OVER_45)
    h = BoltHarness(HeldAlerts, c, inputs={("route", "telemetry"): BATCH_FIELDS})
    telemetry = {"component": "route", "stream": "telemetry"}
    hot = h.process(batch(entry(event_id="h1", metrics={"temperature": 50.0})), **telemetry)
    quiet = h.process(batch(entry()), **telemetry)
    assert h.acked == [quiet] and len(h.emits) == 1 and h.emits[0].anchors == [hot]
    h.instance.held.sent[0].set_result(None)
    h.tick()
    assert hot in h.acked and h.failed == []


@pytest.mark.parametrize("bolt_cls, key", [(DeadLetterBolt, "dlq"), (AlertsBolt, "alerts")])
def test_publishing_bolts_refuse_a_bad_max_in_flight(tmp_path: Path, bolt_cls: type, key: str) -> None:
    with pytest.raises(ConfigError, match=f"pipeline.{key}.max_in_flight"):
        BoltHarness(bolt_cls, conf(tmp_path, **{key: {"max_in_flight": 0}}))


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2**63 - 1),
            st.binary(max_size=64),
            st.dictionaries(st.text(max_size=8), st.floats(allow_nan=False), max_size=4),
            st.one_of(
                st.none(),
                st.booleans(),
                st.text(max_size=40),
                st.integers(min_value=-(2**63), max_value=2**64 - 1),
            ),
        ),
        max_size=20,
    ),
    st.booleans(),
)
def test_a_packed_batch_round_trips_under_both_serializers(items: list[Any], binary: bool) -> None:
    entries = [[offset, payload, metrics, [other, None]] for offset, payload, metrics, other in items]
    packed = pack_batch(entries, binary)
    assert isinstance(packed, bytes if binary else str)
    # the very bytes msgpack-python makes: any msgpack reader (a hand-written bolt, the runner's batch counter)
    # takes a batch
    blob = msgpack.packb(entries, use_bin_type=True)
    assert (packed if binary else base64.b64decode(packed)) == blob
    assert unpack_batch(blob) == msgpack.unpackb(blob, raw=False)
    if not binary:  # JSON carries it as plain ASCII text
        assert json.loads(json.dumps(packed)) == packed and packed.isascii()
    assert unpack_batch(packed) == entries
    assert (
        unpack_batch(entries) is entries
    )  # an unpacked batch (hand-written upstream bolt) is taken as it is


def test_components_pack_batches_as_text_under_the_json_serializer() -> None:
    from pystorm.serializers.json_serializer import JSONSerializer

    class Host:
        serializer = JSONSerializer.__new__(JSONSerializer)

    assert not packs_binary(Host()) and packs_binary(object())


def test_a_restarted_aggregate_prefetches_stored_windows_once_per_device_and_day(tmp_path: Path) -> None:
    """Recovery reads: a batch's devices are read at once (one request per device and day, every metric x
    length), never one blocking read per (device, metric, length, day); a stored row is not counted again."""
    from squall.pipeline.model import WindowResult
    from squall.pipeline.stores import make_store

    c = conf(
        tmp_path,
        windows={
            **conf(tmp_path)["squall.pipeline"]["windows"],
            "definitions": [{"type": "tumbling", "length_s": 10}, {"type": "tumbling", "length_s": 60}],
        },
    )
    c["topology.message.timeout.secs"] = 120
    store = make_store(c["squall.pipeline"])
    stored = WindowResult("acme", "d1", "temperature", 10, T0, T0 + 10_000, 9, 9.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    store.write("window", stored).result(timeout=10)
    store.close()
    ManualAggregate.clock = ManualClock()
    h = BoltHarness(ManualAggregate, c, inputs={("route", "telemetry"): BATCH_FIELDS})
    bolt = h.instance
    opened = bolt._open_store()
    calls: dict[str, list[Any]] = {"many": [], "one": []}
    many, one = opened.window_starts_of_days, opened.window_starts_on_day

    def counted_many(requests: Any) -> Any:
        calls["many"].append(requests)
        opened.window_starts_on_day = one  # type: ignore[method-assign]  # SQLite's batch reads one by one
        try:
            return many(requests)
        finally:
            opened.window_starts_on_day = counted_one  # type: ignore[method-assign]

    def counted_one(*args: Any) -> Any:
        calls["one"].append(args)
        return one(*args)

    opened.window_starts_of_days = counted_many  # type: ignore[method-assign]
    opened.window_starts_on_day = counted_one  # type: ignore[method-assign]
    telemetry = {"component": "route", "stream": "telemetry"}
    h.process(
        batch(
            entry(metrics={"temperature": 21.0, "humidity": 40.0}),
            entry(device_id="d2", event_id="x1", metrics={"temperature": 5.0}),
            entry(event_id="e2", ts=T0 + 2000, metrics={"temperature": 23.0}),
        ),
        **telemetry,
    )
    day = T0 // 86_400_000
    [requests] = calls["many"]
    assert sorted(requests) == [  # the events' day, and the day after (source marks past midnight)
        ("acme", "d1", day, ("humidity", "temperature"), (10, 60)),
        ("acme", "d1", day + 1, ("humidity", "temperature"), (10, 60)),
        ("acme", "d2", day, ("temperature",), (10, 60)),
        ("acme", "d2", day + 1, ("temperature",), (10, 60)),
    ]
    h.process(batch(entry(event_id="e3", ts=T0 + 3000, metrics={"temperature": 1.0})), **telemetry)
    assert len(calls["many"]) == 1 and calls["one"] == []  # all cached: no read at all
    ManualAggregate.clock.advance(10)
    h.tick()
    rows = {
        (r["device_id"], r["metric"], r["window_s"]): r["count"]
        for e in h.emits
        if e.stream == "default"
        for r in e.values[1]
    }
    # d1's stored 10 s temperature row is not rebuilt from this partial replay; everything else is counted
    assert ("d1", "temperature", 10) not in rows
    assert rows == {
        ("d1", "humidity", 10): 1,
        ("d1", "humidity", 60): 1,
        ("d1", "temperature", 60): 3,
        ("d2", "temperature", 10): 1,
        ("d2", "temperature", 60): 1,
    }


@given(ts=st.integers(0, 10**13), slide_s=st.integers(1, 600), slides=st.integers(1, 6))
def test_the_earliest_window_start_recovery_reads_is_that_of_the_assigner(
    ts: int, slide_s: int, slides: int
) -> None:
    from bolts.aggregate import _earliest_start
    from squall.windowing.assigner import window_starts
    from squall.windowing.definitions import parse_window_settings

    length_s = slide_s * slides
    kind = {"type": "tumbling"} if slide_s == length_s else {"type": "sliding", "slide_s": slide_s}
    [definition] = parse_window_settings({"definitions": [{**kind, "length_s": length_s}]}).definitions
    assert _earliest_start(ts, definition) == min(
        window_starts(ts, definition.slide_ms, definition.length_ms)
    )


def test_a_restarted_aggregate_goes_on_from_a_row_an_idle_timeout_stored_early(tmp_path: Path) -> None:
    """A stall closes d1's window before its end (a provisional row, with its draft, is stored through the real
    SQLite store and its tuples are acked); the task is replaced. The fresh task counts a re-delivery once and an
    on-time event into the stored row, and the final row carries no draft."""
    from squall.pipeline.stores import make_store
    from squall.pipeline.tuples import record_from_values

    c = conf(tmp_path)
    telemetry = {"component": "route", "stream": "telemetry"}

    def persist(h: BoltHarness) -> None:
        store = make_store(c["squall.pipeline"])
        for e in h.emits:
            if e.stream == "default":
                for row in e.values[1]:
                    store.write("window", record_from_values("window", row)).result(timeout=10)
        store.close()
        h.emits.clear()

    def stored() -> list[tuple[Any, ...]]:
        with sqlite3.connect(tmp_path / "s.db") as db:
            return db.execute(
                "SELECT count, sum, draft FROM metric_windows WHERE window_start = ?", (T0,)
            ).fetchall()

    ManualAggregate.clock = ManualClock()
    first = BoltHarness(ManualAggregate, c, inputs={("route", "telemetry"): BATCH_FIELDS})
    t1 = first.process(batch(entry(event_id="a1", metrics={"temperature": 1.0})), **telemetry)
    ManualAggregate.clock.advance(5)
    first.tick()  # idle: a provisional close
    assert t1 in first.acked
    persist(first)
    [(count, total, draft)] = stored()
    assert (count, total) == (1, 1.0) and json.loads(draft) == [["a1"], [1.0]]

    ManualAggregate.clock = ManualClock()
    fresh = BoltHarness(ManualAggregate, c, inputs={("route", "telemetry"): BATCH_FIELDS})
    fresh.process(
        batch(
            entry(event_id="a1", metrics={"temperature": 1.0}),  # re-delivered: counted once
            entry(event_id="a2", ts=T0 + 3000, metrics={"temperature": 2.0}),  # on time: joins the stored row
            entry(event_id="a3", ts=T0 + 20_000, metrics={"temperature": 3.0}),  # the window is final
        ),
        **telemetry,
    )
    persist(fresh)
    assert stored() == [(2, 3.0, "")]  # the final emit cleared the draft


def test_a_sqlite_store_made_before_window_drafts_gets_the_columns(tmp_path: Path) -> None:
    from squall.pipeline.model import WINDOW_COLUMNS, StoredWindow, WindowResult
    from squall.pipeline.sqlite_store import SqliteStore

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # metric_windows as it was before drafts, with a row
        db.execute(
            "CREATE TABLE metric_windows (tenant TEXT NOT NULL, device_id TEXT NOT NULL, metric TEXT NOT NULL,"
            " window_s INTEGER NOT NULL, window_start INTEGER NOT NULL, window_end INTEGER NOT NULL,"
            " count INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, mean REAL NOT NULL,"
            " p50 REAL NOT NULL, p95 REAL NOT NULL, PRIMARY KEY (tenant, device_id, metric, window_s, window_start))"
        )
        db.execute("INSERT INTO metric_windows VALUES ('acme', 'd1', 't', 10, 0, 10000, 1, 1, 1, 1, 1, 1, 1)")
    store = SqliteStore({"sink": "sqlite", "sqlite": {"path": str(path)}})
    try:
        row = WindowResult(
            "acme", "d1", "t", 10, 10_000, 20_000, 1, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, draft='[["e"],[2.0]]'
        )
        store.write("window", row).result(timeout=10)
        assert store.window_starts_on_day("acme", "d1", "t", 10, 0) == {
            0: StoredWindow(None, None),
            10_000: StoredWindow('[["e"],[2.0]]', None),
        }
        # a row written without a draft (a final emit) replaces the provisional one whole
        store.write("window", WindowResult(*[getattr(row, c) for c in WINDOW_COLUMNS])).result(timeout=10)
        assert store.window_starts_on_day("acme", "d1", "t", 10, 0) == {
            0: StoredWindow(None, None),
            10_000: StoredWindow(None, None),
        }
    finally:
        store.close()


@pytest.mark.parametrize(
    "H",
    [
        pytest.param(
            T0 + 3_600_000, id="same-day"
        ),  # 01:00 UTC: the late event's windows lie on the row's day
        pytest.param(
            T0, id="across-midnight"
        ),  # 00:00 UTC: its windows lie on the day before the stored row's
    ],
)
def test_a_restarted_aggregate_judges_a_replay_by_the_source_marks_of_stored_rows(
    tmp_path: Path, H: int
) -> None:
    """A late event (35 s behind its device) is replayed to a fresh task before the replays of the events just
    before it (they were lost twice while a worker was replaced). The fresh task never saw the device's earlier
    events, but the rows the previous task stored carry where the device stood: the replay is late, as in the
    production order, instead of opening a window the truth does not have. Across midnight the row that shows it
    lies on the UTC day after the late event's windows."""
    from squall.pipeline.stores import make_store
    from squall.pipeline.tuples import record_from_values

    c = conf(tmp_path)
    telemetry = {"component": "route", "stream": "telemetry"}

    def persist(h: BoltHarness) -> list[dict[str, Any]]:
        rows = [row for e in h.emits if e.stream == "default" for row in e.values[1]]
        store = make_store(c["squall.pipeline"])
        for row in rows:
            store.write("window", record_from_values("window", row)).result(timeout=10)
        store.close()
        h.emits.clear()
        return rows

    ManualAggregate.clock = ManualClock()
    first = BoltHarness(ManualAggregate, c, inputs={("route", "telemetry"): BATCH_FIELDS})
    first.process(
        batch(
            entry(offset=10, event_id="a", ts=H + 1000),
            entry(offset=11, event_id="b", ts=H + 5000),
            entry(offset=12, event_id="c", ts=H + 16_000),  # watermark H + 14 s: [H, H + 10 s) closes
        ),
        **telemetry,
    )
    [stored] = persist(first)
    assert json.loads(stored["source"]) == ["iot.events", 0, 12, H + 16_000]

    ManualAggregate.clock = ManualClock()
    fresh = BoltHarness(ManualAggregate, c, inputs={("route", "telemetry"): BATCH_FIELDS})
    fresh.process(batch(entry(offset=14, event_id="late", ts=H - 20_000)), **telemetry)
    # dead-lettered as late, as in the production order, with the time it was judged by
    assert [(item[2]["event_id"], item[4]) for item in fresh.letters("late")] == [("late", H + 14_000)]
    fresh.process(
        batch(
            entry(offset=12, event_id="c", ts=H + 16_000),  # its window was open: it replays too
            entry(offset=13, event_id="d", ts=H + 17_000),
            entry(offset=15, event_id="e", ts=H + 30_000),
        ),
        **telemetry,
    )
    rows = persist(fresh)
    # the replays of the events before it count as before; nothing was opened for the late event
    assert {(r["window_start"], r["count"]) for r in rows} == {(H + 10_000, 2)}
