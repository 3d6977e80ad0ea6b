"""No payload stops the pipeline: every bolt handles each event on its own. A poison message is dead-lettered with
a precise reason; an exception while handling one event dead-letters that event
(processing_error:<component>:<type>) and its batch-mates go on; the input tuple is acked, never failed."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

import bolts.route
from bolts.aggregate import AggregateBolt
from bolts.alerts import AlertsBolt
from bolts.dlq import DeadLetterBolt
from bolts.parse import ParseBolt
from bolts.persist import PersistBolt
from bolts.route import RouteBolt
from spouts.events import EventSpout
from squall.clock import ManualClock
from squall.pipeline import parse as parse_module
from squall.pipeline.model import event_fields, event_of
from squall.pipeline.routing import ARCHIVE_RULES
from squall.pipeline.tuples import (
    BATCH_FIELDS,
    INVALID_FIELDS,
    RECORD_FIELDS,
    SPOUT_FIELDS,
    pack_batch,
    unpack_batch,
)
from squall.testing import BoltHarness, SpoutHarness
from tests.unit.pipeline.test_components import EVENT, T0, WINDOW_ROW, batch, conf, entry, messages

POISON: list[tuple[bytes, str]] = [
    (b'{"tenant":"acme","attrs":' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}", "too_deep"),
    (json.dumps({**EVENT, "event_id": "\ud800"}).encode(), "invalid_field:event_id"),
    (json.dumps({**EVENT, "attrs": {"fw": "\udfff"}}).encode(), "invalid_field:attrs"),
    (json.dumps({**EVENT, "attrs": {"n": 2**70}}).encode(), "invalid_field:attrs"),
    (json.dumps({**EVENT, "event_id": "e\x00"}).encode(), "invalid_field:event_id"),
    (json.dumps(EVENT).replace('{"tenant"', '{"tenant":"evil","tenant"', 1).encode(), "duplicate_key"),
    (b"[1, 2, 3]", "not_an_object"),
    (b"null", "not_an_object"),
    (msgpack.packb([EVENT]), "not_an_object"),
    (json.dumps({**EVENT, "ts": 4_000_000_000_000}).encode(), "future_ts"),
]


def good(i: int) -> bytes:
    return json.dumps({**EVENT, "event_id": f"ok-{i}", "ts": T0 + i}).encode()


def test_parse_dead_letters_every_poison_class_and_its_batch_mates_go_on(tmp_path: Path) -> None:
    h = BoltHarness(ParseBolt, conf(tmp_path), inputs={"events": SPOUT_FIELDS})
    payloads: list[tuple[int, bytes]] = []
    for i, (poison, _) in enumerate(POISON):
        payloads += [(2 * i, good(i)), (2 * i + 1, poison)]
    tup = h.process(["iot.events", 1, messages(*payloads)], component="events")
    assert h.acked == [tup] and h.failed == [] and h.errors == []
    valid = [e for e in h.emits if e.stream == "default"]
    events = [event_of(item[0])["event_id"] for e in valid for item in unpack_batch(e.values[1])]
    assert events == [f"ok-{i}" for i in range(len(POISON))]
    assert len(h.emitted("invalid")) == 1  # one tuple carries all of a batch's letters
    letters = h.letters()
    assert [(dl[0], dl[3]) for dl in letters] == [
        (reason, ["iot.events", 1, 2 * i + 1]) for i, (_, reason) in enumerate(POISON)
    ]
    assert [dl[2] for dl in letters] == [p for p, _ in POISON]  # the original bytes


def test_an_event_ahead_of_the_wall_clock_by_more_than_the_skew_is_future_ts(tmp_path: Path) -> None:
    h = BoltHarness(
        ParseBolt, conf(tmp_path, parse={"max_future_skew_s": 60}), inputs={"events": SPOUT_FIELDS}
    )
    now = time.time_ns() // 1_000_000
    near = json.dumps({**EVENT, "event_id": "near", "ts": now + 30_000}).encode()
    far = json.dumps({**EVENT, "event_id": "far", "ts": now + 3_600_000}).encode()
    h.process(["iot.events", 0, messages((1, near), (2, far))], component="events")
    [letter] = h.letters()
    assert (
        letter[0] == "future_ts" and "max_future_skew_s 60" in letter[1] and letter[3] == ["iot.events", 0, 2]
    )
    [batch_out] = h.emitted("default")
    assert [event_of(e[0])["event_id"] for e in unpack_batch(batch_out[1])] == ["near"]


def test_an_unexpected_exception_in_parse_dead_letters_that_message_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = parse_module.EventDecoder.decode

    def decode(self: Any, payload: bytes) -> Any:
        if b"boom" in payload:
            raise RuntimeError("a bug in a decoder")
        return real(self, payload)

    monkeypatch.setattr(parse_module.EventDecoder, "decode", decode)
    h = BoltHarness(ParseBolt, conf(tmp_path), inputs={"events": SPOUT_FIELDS})
    boom = json.dumps({**EVENT, "event_id": "boom"}).encode()
    tup = h.process(["iot.events", 0, messages((1, good(1)), (2, boom), (3, good(3)))], component="events")
    assert h.acked == [tup] and h.failed == []
    [letter] = h.letters()
    assert letter[0] == "processing_error:parse:RuntimeError" and "a bug in a decoder" in letter[1]
    assert letter[2] == boom and letter[3] == ["iot.events", 0, 2]
    [out] = h.emitted("default")
    assert [event_of(e[0])["event_id"] for e in unpack_batch(out[1])] == ["ok-1", "ok-3"]


def test_an_oversized_message_travels_and_is_dead_lettered_as_prefix_size_and_digest(tmp_path: Path) -> None:
    big = b'{"tenant":"acme","pad":"' + b"\xe9" * 10_000_000 + b'"}'
    digest = hashlib.sha256(big).hexdigest()
    # the spout cuts it: [offset, prefix, size, sha256]
    sim = {"devices": 1, "rate": 1, "duration_s": 1, "partitions": 1}
    spout = SpoutHarness(EventSpout, conf(tmp_path, simulator=sim, parse={"dead_letter_prefix_bytes": 100}))
    spout.instance.source.poll = iter([("m1", big, "iot.events", 0, 7), None]).__next__
    [emit] = spout.next_tuple()
    [cut] = unpack_batch(emit.values[2])
    assert cut == [7, big[:100], len(big), digest]
    h = BoltHarness(
        ParseBolt, conf(tmp_path, parse={"dead_letter_prefix_bytes": 100}), inputs={"events": SPOUT_FIELDS}
    )
    h.process(["iot.events", 0, pack_batch([cut], binary=True)], component="events")
    # and a message no spout cut (a hand-written upstream) gets the same letter
    h.process(["iot.events", 0, messages((7, big))], component="events")
    first, second = h.letters()
    assert first == second
    reason, detail, payload, source = first
    assert reason == "too_large" and payload == big[:100] and source == ["iot.events", 0, 7]
    assert f"{len(big)} bytes" in detail and f"sha256={digest}" in detail


def test_route_dead_letters_an_event_whose_routing_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bolts.route.route_fields

    def route_fields(etype: str, tenant: str, metrics: Any, rules: Any) -> list[str]:
        if "boom" in metrics:
            raise KeyError("boom")
        return real(etype, tenant, metrics, rules)

    monkeypatch.setattr(bolts.route, "route_fields", route_fields)
    h = BoltHarness(
        RouteBolt, conf(tmp_path, routing={"rules": ARCHIVE_RULES}), inputs={"parse": BATCH_FIELDS}
    )
    ok, bad = entry(), entry(event_id="e2", metrics={"boom": 1.0})
    tup = h.process(batch(ok, bad), component="parse")
    assert h.acked == [tup] and h.failed == []
    [letter] = h.letters()
    assert letter[0] == "processing_error:route:KeyError" and letter[3] == bad[1]
    assert json.loads(letter[2])["event_id"] == "e2"
    assert [unpack_batch(v[1]) for v in h.emitted("archive")] == [[ok]]  # repacked without the bad event


class ManualAggregate(AggregateBolt):
    clock = ManualClock()


def test_aggregate_dead_letters_an_event_it_cannot_read_and_windows_the_rest(tmp_path: Path) -> None:
    h = BoltHarness(ManualAggregate, conf(tmp_path), inputs={("route", "telemetry"): BATCH_FIELDS})
    telemetry = {"component": "route", "stream": "telemetry"}
    broken = [
        event_fields({**EVENT, "attrs": {}, "event_id": "e2", "ts": "not a time"}),
        ["iot.events", 0, 2],
    ]
    h.process(batch(entry(), broken, entry(event_id="e3", ts=T0 + 12_500)), **telemetry)
    [letter] = h.letters()
    assert letter[0] == "processing_error:aggregate:ValueError" and letter[3] == broken[1]
    [window] = h.emitted("default")
    assert [r["count"] for r in window[1]] == [1]  # e1's window closed by e3; the broken event is not in it


def test_alerts_dead_letter_an_event_whose_evaluation_raises(tmp_path: Path) -> None:
    h = BoltHarness(AlertsBolt, conf(tmp_path), inputs={("route", "telemetry"): BATCH_FIELDS})
    tup = h.process(batch(entry(), [["acme"], ["iot.events", 0, 5]]), component="route", stream="telemetry")
    assert h.acked == [tup] and h.failed == []
    [letter] = h.letters()
    assert letter[0] == "processing_error:alerts:IndexError" and letter[3] == ["iot.events", 0, 5]


def test_persist_writes_a_record_it_cannot_read_as_a_dead_letter_and_the_rest_as_usual(
    tmp_path: Path,
) -> None:
    h = BoltHarness(PersistBolt, conf(tmp_path), inputs={"aggregate": RECORD_FIELDS})
    row = dict(WINDOW_ROW)
    tup = h.process(["window", [row, {**row, "metric": "u", "surprise": 1}]], component="aggregate")
    h.tick()
    assert tup in h.acked and h.failed == []
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT metric FROM metric_windows").fetchall() == [("t",)]
        [(reason, payload)] = db.execute("SELECT reason, payload FROM dead_letters").fetchall()
    assert reason == "processing_error:persist:TypeError" and json.loads(payload)["metric"] == "u"


def test_dlq_keeps_a_tuple_it_cannot_read_as_a_letter_of_its_own(tmp_path: Path) -> None:
    h = BoltHarness(DeadLetterBolt, conf(tmp_path), inputs={("parse", "invalid"): INVALID_FIELDS})
    good = ["invalid_json", "x", b"{", ["iot.events", 3, 1]]
    bad = ["invalid_json", "x", b"{", ["iot.events", "not a partition", 1]]
    tup = h.process([pack_batch([good, bad], binary=True)], component="parse", stream="invalid")
    broken = h.process([b"\xc1 not msgpack"], component="parse", stream="invalid")
    assert h.acked == [tup, broken] and h.failed == []
    records = [r for e in h.emits for r in e.values[1]]
    assert [r["reason"] for r in records[:2]] == ["invalid_json", "processing_error:dlq:ValueError"]
    assert records[2]["reason"].startswith("processing_error:dlq:")  # the blob itself is unreadable
    assert "not a partition" in records[1]["payload"] and "not msgpack" in records[2]["payload"]
