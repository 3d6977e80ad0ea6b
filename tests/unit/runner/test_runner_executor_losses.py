"""What an executor does with a report of a message the component's serializer could not encode (pure logic:
a recording engine and host stand in for the cluster and the component)."""

from __future__ import annotations

from typing import Any

from squall.protocol.carry import Screen
from squall.runner.acker import Acker, Outcome
from squall.runner.executor import BoltExecutor, SpoutExecutor
from squall.runner.graph import ComponentDef


class Engine:
    def __init__(self) -> None:
        self.acker: Acker | None = Acker(30.0)
        self.now = 0.0
        self.timeout_secs = 30.0
        self.errors: list[str] = []
        self.outcomes: list[Outcome] = []

    def route(
        self, task: int, component: str, stream: str, values: Any, direct_task: int | None
    ) -> list[int]:
        return [2]

    def deliver(self, *args: Any) -> None:
        pass

    def edge_id(self) -> int:
        return 12345

    def finished(self, outcome: Outcome | None) -> None:
        if outcome is not None:
            self.outcomes.append(outcome)

    def component_log(self, task: int, level: int, text: str) -> None:
        pass

    def component_error(self, task: int, text: str) -> None:
        self.errors.append(text)

    def component_metric(self, task: int, name: str, value: Any) -> None:
        pass

    def task_died(self, task: int, reason: str) -> None:
        raise AssertionError(reason)

    def captured(self, *args: Any) -> None:
        pass


class Host:
    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.task_ids: list[list[int]] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)

    def send_tuple(self, tid: str, comp: str, stream: str, task: int, values: Any) -> None:
        self.send({"id": tid, "comp": comp, "stream": stream, "task": task, "tuple": values})

    def send_task_ids(self, task_ids: list[int]) -> None:
        self.task_ids.append(task_ids)


def component(name: str, kind: str) -> ComponentDef:
    return ComponentDef(name, kind, "streamparse_run", f"probes.{name}", 1, {}, {}, [])


def test_a_spout_gets_fail_for_an_emit_that_could_not_be_sent() -> None:
    engine, host = Engine(), Host()
    spout = SpoutExecutor(1, component("numbers", "spout"), engine)
    spout.host = host
    report = Screen("json")({"command": "emit", "tuple": [1, {2}], "id": "n1", "need_task_ids": True})
    spout.handle(report)
    assert list(spout.commands) == [{"command": "fail", "id": "n1"}]
    assert spout.metrics.failed == 1 and spout.metrics.errors == 1
    assert host.task_ids == [[]]  # the component asked for task ids: it gets none, instead of waiting forever
    [text] = engine.errors
    assert text.startswith("emit on stream 'default' cannot be serialized with json: tuple[1] is of type set")


def test_a_bolt_emit_that_could_not_be_sent_fails_its_anchors_trees_at_once() -> None:
    engine, host = Engine(), Host()
    bolt = BoltExecutor(2, component("worker", "bolt"), engine)
    bolt.host = host
    assert engine.acker is not None
    engine.acker.init(77, 0b101, spout_task=1, now=0.0)
    bolt.deliver("numbers", "default", 1, [1, "k"], {77: 0b101})
    [tid] = list(bolt.pending)
    bolt.handle(Screen("msgpack")({"command": "emit", "tuple": [2**70], "anchors": [tid], "stream": "s"}))
    assert [(o.root, o.ok, o.timed_out) for o in engine.outcomes] == [(77, False, False)]
    assert "emit on stream 's' cannot be serialized with msgpack" in engine.errors[0]
    assert "failed at once" in engine.errors[0]
    bolt.handle({"command": "ack", "id": tid})  # the bolt acks its input afterwards: nothing more happens
    assert len(engine.outcomes) == 1 and engine.acker.open_trees() == 0


def test_pystorms_own_failed_to_send_log_is_reported_as_an_error() -> None:
    """A component not started through squall's bootstrap: pystorm only logs the loss; the runner says so."""
    engine, host = Engine(), Host()
    bolt = BoltExecutor(2, component("worker", "bolt"), engine)
    bolt.host = host
    line = "2026-12-01 00:11:06,303 - pystorm.serializers.serializer - Failed to send message: {'command': 'emit'}"
    bolt.handle({"command": "log", "msg": line, "level": 4})
    assert bolt.metrics.errors == 1
    [text] = engine.errors
    assert text.startswith("a message was dropped") and "Failed to send message" in text
    bolt.handle({"command": "log", "msg": "all is well", "level": 2})
    assert len(engine.errors) == 1
