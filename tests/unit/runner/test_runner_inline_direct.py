"""Inline hosting's direct adapter: a component running pystorm's own loop is driven without multilang
messages, with exactly the outcomes of feeding it the messages."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from streamparse import BatchingBolt, Bolt, Grouping, ReliableSpout, Spout, Stream, Topology

from squall.runner import inline
from squall.runner.inline import direct_kind
from squall.testing import RunResult, run_topology


class Words(Spout):
    outputs = [Stream(["word", "n"]), Stream(["odd"], name="odd")]

    def initialize(self, conf, ctx):
        self.n = 0

    def next_tuple(self):
        if self.n >= 60:
            return
        n = self.n
        self.n += 1
        word = ["dog", "cat", "bee", "ant"][n % 4]
        if n % 10 == 9:
            self.emit([word, {1, 2}], tup_id=n)  # msgpack and JSON cannot carry a set: reported, failed
        else:
            self.emit([word, n], tup_id=n)
        if n % 2:
            self.emit([n], stream="odd")  # unreliable

    def ack(self, tup_id):
        self.logger.info("acked %s", tup_id)

    def fail(self, tup_id):
        self.logger.info("failed %s", tup_id)


class Split(Bolt):
    outputs = [Stream(["word", "n"]), Stream(["task"], name="where")]

    def initialize(self, conf, ctx):
        self.seen = 0

    def process(self, tup):
        self.seen += 1
        if tup.values.n % 7 == 3:
            self.fail(tup)
            return  # then acked by auto_ack: reported as an unknown tuple id, in both ways
        tasks = self.emit([tup.values.word.upper(), tup.values.n], need_task_ids=True)
        self.emit([len(tasks)], stream="where", anchors=[tup])
        if tup.values.n % 5 == 0:
            self.emit([tup.values.word, -1], anchors=[])  # unanchored

    def process_tick(self, tup):
        self.emit(["tick", self.seen], anchors=[])


class Count(Bolt):
    outputs = ["word", "count"]
    auto_ack = False

    def initialize(self, conf, ctx):
        self.counts: dict[str, int] = {}

    def process(self, tup):
        word = tup.values[0]
        self.counts[word] = self.counts.get(word, 0) + 1
        self.emit([word, self.counts[word]], anchors=[tup])
        self.ack(tup.id)


class Sink(Bolt):
    outputs: list[str] = []

    def process(self, tup):
        pass


class Mixed(Topology):
    words = Words.spec()
    split = Split.spec(inputs={words: Grouping.SHUFFLE}, par=2)
    count = Count.spec(inputs={split: Grouping.fields("word")}, par=2)
    sink = Sink.spec(inputs=[count, words["odd"], split["where"]])


def _run(serializer: str) -> RunResult:
    conf = {"topology.tick.tuple.freq.secs": 1, "topology.message.timeout.secs": 5}
    return run_topology(Mixed, conf, until_idle=0.5, serializer=serializer, seed=7)


def _outcome(result: RunResult) -> dict[str, Any]:
    return {
        "emitted": sorted(
            (e.component, e.task, e.stream, repr(e.values), repr(e.anchors))
            for e in result.captured
            if e.values[0] != "tick"  # how many ticks a run sees depends on its length
        ),
        "stats": {
            c.name: (c.acked, c.failed, c.errors) for c in result.summary.components if c.name != "sink"
        },
        "errors": sorted(e.message for e in result.errors),
        "logs": sorted(
            r.message.rsplit(" - ", 1)[-1]
            for r in result.logs
            if " - acked " in r.message or " - failed " in r.message
        ),
    }


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_direct_adapter_gives_what_the_messages_give(
    serializer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kinds: list[str | None] = []
    monkeypatch.setattr(inline, "direct_kind", lambda cls: kinds.append(direct_kind(cls)) or kinds[-1])
    direct = _outcome(_run(serializer))
    assert sorted(map(str, kinds)) == ["bolt"] * 5 + ["spout"]  # every task driven directly
    monkeypatch.setattr(inline, "direct_kind", lambda cls: None)  # every component fed messages
    messages = _outcome(_run(serializer))
    assert direct == messages
    assert direct["stats"]["words"][1] >= 6  # the sets and the failed tuples' trees
    assert any("cannot be serialized" in e for e in direct["errors"])


class OwnRead(Bolt):
    def read_tuple(self):
        return super().read_tuple()


class OwnSend(Spout):
    def send_message(self, message):
        super().send_message(message)


def test_direct_only_for_pystorms_own_loop() -> None:
    assert direct_kind(Sink) == "bolt"
    assert direct_kind(Words) == "spout"
    assert direct_kind(ReliableSpout) == "spout"  # its emit goes the message way, its loop is direct
    assert direct_kind(BatchingBolt) is None
    assert direct_kind(OwnRead) is None
    assert direct_kind(OwnSend) is None


def _figures(serializer: str, capture: bool) -> dict[str, Any]:
    """Per component (acked, failed, errors, emitted, transferred), the logged acks and fails of the spout,
    the errors: what a run without capture (as `squall run`, whose emits take the executors' fast paths)
    gives."""
    from squall.runner.session import execute, plan_for

    conf = {"topology.message.timeout.secs": 5}
    plan = plan_for(Mixed, None, None, {}, None, extra_conf=conf)
    summary, cluster = execute(
        plan, inline=True, until_idle=0.5, seed=7, capture=capture, serializer=serializer, drain_secs=5
    )
    return {
        "stats": {
            c.name: (c.acked, c.failed, c.errors, c.emitted, c.transferred) for c in summary.components
        },
        "errors": sorted(e.message for e in summary.errors),
        "logs": sorted(
            r.message.rsplit(" - ", 1)[-1]
            for r in cluster.logs
            if " - acked " in r.message or " - failed " in r.message
        ),
        "pending": summary.pending_trees,
    }


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_fast_paths_without_capture_give_what_the_messages_give(
    serializer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    thresholds = gc.get_threshold()
    direct = _figures(serializer, capture=False)
    assert gc.get_threshold() == thresholds  # the run's collector setting is undone (Cluster.close)
    assert direct == _figures(serializer, capture=True)  # capture takes the general paths
    monkeypatch.setattr(inline, "direct_kind", lambda cls: None)  # every component fed messages
    assert direct == _figures(serializer, capture=False)
    assert direct["stats"]["words"][1] >= 6 and direct["pending"] == 0
