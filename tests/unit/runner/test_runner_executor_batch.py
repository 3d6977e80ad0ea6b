"""One read of a component's stdout is handled as a batch (`handle_all`): the same outcome as handling each
message alone, and a bad message stops the batch where it stands (pure logic: recording doubles)."""

from __future__ import annotations

from typing import Any

import pytest

from squall.errors import ProtocolError
from squall.runner.acker import Acker, Outcome
from squall.runner.executor import BoltExecutor
from squall.runner.graph import ComponentDef


class Engine:
    def __init__(self) -> None:
        self.acker = Acker(30.0)
        self.now = 5.0
        self.timeout_secs = 30.0
        self.delivered: list[tuple[Any, ...]] = []
        self.outcomes: list[Outcome] = []
        self._edge = 0

    def route(self, task: int, component: str, stream: str, values: Any, direct: int | None) -> list[int]:
        return [7]

    def deliver(self, *args: Any) -> None:
        self.delivered.append(args)

    def edge_id(self) -> int:
        self._edge += 1
        return 1 << self._edge

    def finished(self, outcome: Outcome | None) -> None:
        if outcome is not None:
            self.outcomes.append(outcome)

    def component_log(self, task: int, level: int, text: str) -> None:
        pass

    def component_error(self, task: int, text: str) -> None:
        raise AssertionError(text)

    def component_metric(self, task: int, name: str, value: Any) -> None:
        pass

    def task_died(self, task: int, reason: str) -> None:
        raise AssertionError(reason)

    def captured(self, *args: Any) -> None:
        pass


class Host:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)

    def send_tuple(self, tid: str, comp: str, stream: str, task: int, values: Any) -> None:
        self.send({"id": tid, "comp": comp, "stream": stream, "task": task, "tuple": values})

    def send_task_ids(self, task_ids: list[int]) -> None:
        self.sent.append(task_ids)


def bolt() -> tuple[BoltExecutor, Engine]:
    engine = Engine()
    ex = BoltExecutor(3, ComponentDef("middle", "bolt", "streamparse_run", "m.M", 1, {}, {}, []), engine)
    ex.host = Host()  # type: ignore[assignment]
    for root, edge in ((100, 0b1), (200, 0b10)):
        engine.acker.init(root, edge, spout_task=1, now=0.0)
        ex.deliver("source", "default", 1, [root, "x"], {root: edge})
    return ex, engine


def replies(ids: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tid in ids:
        out.append({"command": "emit", "tuple": [tid, "y"], "anchors": [tid], "need_task_ids": False})
        out.append({"command": "ack", "id": tid})
    return out


def test_a_batch_does_what_each_message_alone_does() -> None:
    one, e1 = bolt()
    all_, e2 = bolt()
    messages = replies(list(one.pending))
    for msg in messages:
        one.handle(msg)
    all_.handle_all(replies(list(all_.pending)))
    assert e1.delivered == e2.delivered and len(e2.delivered) == 2
    assert [d[5] for d in e2.delivered] == [{100: 1 << 1}, {200: 1 << 2}]  # each emit anchored to its root
    assert [d[6] for d in e2.delivered] == [1, 1]  # events: no packed batch in the tuple
    assert not all_.pending and all_.metrics.acked == 2 and all_.metrics.emitted == 2
    assert e1.acker.open_trees() == e2.acker.open_trees() == 2  # the emitted tuples are not acked yet
    assert all_.last_heard == e2.now


def test_a_bad_message_stops_the_batch_after_what_came_before_it() -> None:
    ex, engine = bolt()
    first, second = list(ex.pending)
    batch = [{"command": "ack", "id": first}, {"command": "jump"}, {"command": "ack", "id": second}]
    with pytest.raises(ProtocolError, match="unknown command 'jump'"):
        ex.handle_all(batch)
    assert list(ex.pending) == [second]
    with pytest.raises(ProtocolError, match="expected a command object, got list"):
        ex.handle_all([[1, 2]])
