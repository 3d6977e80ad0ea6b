"""After a task dies, the spouts' replays must reach every bolt before anything newer from the same spouts (pure
logic: a recording engine and host stand in for the cluster and the components).

An event-time bolt judges lateness by a device's order in its source. When a windowing task was killed, the
trees it held replayed, but newer batches of the same devices still on their way through earlier bolts reached
the restarted task first and moved its watermarks: the replayed, on-time events were dead-lettered as late.
"""

from __future__ import annotations

from typing import Any

from squall.runner.acker import Acker
from squall.runner.executor import BoltExecutor
from tests.unit.runner.test_runner_executor_losses import Engine, Host, component


class DeliveringEngine(Engine):
    def __init__(self) -> None:
        super().__init__()
        self.delivered: list[tuple[int, Any]] = []
        self._edge = 0

    def deliver(
        self, task: int, comp: str, stream: str, src: int, values: Any, msgid: Any, events: int = 1
    ) -> None:
        self.delivered.append((task, values))

    def edge_id(self) -> int:
        self._edge += 1
        return self._edge


def test_failing_a_spouts_open_trees_tells_it_in_emit_order() -> None:
    acker = Acker(30.0)
    for i, root in enumerate([905, 17, 444, 3]):  # random ids; emit order is what counts
        acker.init(root, 1, spout_task=1 if root != 444 else 9, now=float(i))
    outcomes = acker.fail_spouts({1}, now=5.0)
    assert [(o.root, o.ok) for o in outcomes] == [(905, False), (17, False), (3, False)]
    assert acker.open_trees() == 1 and acker.any_open([444]) and not acker.any_open([905, 17, 3])


def test_a_dead_bolt_fails_every_open_tree_of_the_spouts_it_held_trees_of() -> None:
    engine = DeliveringEngine()
    acker = engine.acker
    assert acker is not None
    for root, spout in [(10, 1), (11, 1), (12, 1), (20, 5)]:
        acker.init(root, 7, spout_task=spout, now=float(root))
    windows = BoltExecutor(3, component("aggregate", "bolt"), engine)
    windows.host = Host()
    windows.deliver("route", "default", 2, ["batch of 10"], {10: 7})  # it holds tree 10 only
    windows.died()
    # trees 11 and 12 are newer tuples of the same spout still upstream: they fail too, after 10
    assert [o.root for o in engine.outcomes] == [10, 11, 12]
    assert acker.any_open([20])  # another spout's trees are not its business


def test_tuples_of_failed_trees_are_not_delivered_but_the_emitter_still_gets_its_task_ids() -> None:
    engine = DeliveringEngine()
    acker = engine.acker
    assert acker is not None
    acker.init(10, 7, spout_task=1, now=0.0)
    acker.init(11, 7, spout_task=1, now=0.0)
    route, host = BoltExecutor(2, component("route", "bolt"), engine), Host()
    route.host = host
    route.deliver("parse", "default", 1, ["old"], {10: 7})
    route.deliver("parse", "default", 1, ["new"], {11: 7})
    old_id, new_id = list(route.pending)
    acker.fail(10)
    route.handle({"command": "emit", "tuple": ["from old"], "anchors": [old_id], "need_task_ids": True})
    route.handle({"command": "emit", "tuple": ["from new"], "anchors": [new_id], "need_task_ids": True})
    route.handle({"command": "emit", "tuple": ["unanchored"], "need_task_ids": True})
    assert engine.delivered == [(2, ["from new"]), (2, ["unanchored"])]
    assert route.discarded == 1
    assert host.task_ids == [[2], [2], [2]]  # as Storm answers an emit, delivered or not
