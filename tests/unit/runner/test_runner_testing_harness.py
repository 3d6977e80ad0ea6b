"""squall.testing: BoltHarness / SpoutHarness on pystorm & streamparse classes."""

from __future__ import annotations

import pytest
from streamparse import BatchingBolt, Bolt, Spout, Stream

from squall.testing import BoltHarness, SpoutHarness


class Upper(Bolt):
    outputs = [Stream(["word"]), Stream(["bad"], name="rejects")]
    auto_ack = False

    def initialize(self, conf, ctx):
        self.prefix = conf.get("prefix", "")

    def process(self, tup):
        word = tup.values.word
        if not word:
            self.emit([word], stream="rejects")
            self.fail(tup)
            return
        if word == "boom":
            raise ValueError("boom")
        self.logger.info("saw %s", word)
        self.emit([self.prefix + word.upper()])
        self.ack(tup)


class Batches(BatchingBolt):
    outputs = ["n"]
    ticks_between_batches = 1

    def group_key(self, tup):
        return tup.values[0] % 2

    def process_batch(self, key, tups):
        self.emit([sum(t.values[0] for t in tups)])


class Counter(Spout):
    outputs = ["n"]

    def initialize(self, conf, ctx):
        self.n = 0

    def next_tuple(self):
        self.n += 1
        self.emit([self.n], tup_id=f"id{self.n}")

    def fail(self, tup_id):
        self.emit([-1], tup_id=tup_id)


def test_bolt_emits_anchored_and_acks() -> None:
    h = BoltHarness(Upper, conf={"prefix": ">"}, inputs={"words": ["word"]})
    tid = h.process(["hi"], component="words")
    assert h.emitted() == [[">HI"]]
    assert h.emits[0].anchors == [tid]
    assert h.acked == [tid] and h.failed == []
    assert any("saw hi" in text for _, text in h.logs)


def test_bolt_named_stream_and_fail() -> None:
    h = BoltHarness(Upper, inputs={"words": ["word"]})
    tid = h.process([""], component="words")
    assert h.emitted("rejects") == [[""]] and h.emitted() == []
    assert h.failed == [tid] and tid not in h.acked


def test_bolt_exception_propagates_after_pystorm_reports_it() -> None:
    h = BoltHarness(Upper, inputs={"words": ["word"]})
    with pytest.raises(ValueError, match="boom"):
        h.process(["boom"], component="words")
    assert h.failed and "ValueError" in h.errors[0]


def test_heartbeat_is_answered_with_sync() -> None:
    assert BoltHarness(Upper).heartbeat()


def test_batching_bolt_flushes_on_ticks() -> None:
    h = BoltHarness(Batches)
    ids = [h.process([n]) for n in (1, 2, 3)]
    h.tick()
    assert h.emitted() == []  # pystorm flushes only when the tick counter exceeds ticks_between_batches
    h.tick()
    assert sorted(h.emitted()) == [[2], [4]]
    assert set(ids) <= set(h.acked)


def test_spout_next_ack_fail() -> None:
    s = SpoutHarness(Counter)
    first = s.next_tuple()
    assert [(e.values, e.id) for e in first] == [([1], "id1")]
    assert s.next_tuple()[0].id == "id2"
    replay = s.fail("id1")
    assert [(e.values, e.id) for e in replay] == [([-1], "id1")]
    assert s.ack("id2") == []
    assert s.syncs == 4  # every command is answered with sync
