"""Routing: which tasks receive a tuple emitted on a stream. Nothing else lives here.

Storm's groupings: shuffle (each task in turn from a reshuffled list, as Storm's ShuffleGrouping), fields
(stable hash of the selected values mod number of tasks), all, global (lowest task id), none (a random
task), local_or_shuffle (every task is local in one runner: shuffle), direct (the emitter names the task).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from typing import Any

from squall.errors import TopologyError
from squall.runner.graph import Graph, GroupingDef

_MASK32 = 0xFFFFFFFF


def stable_hash(value: Any) -> int:
    """A hash that is the same in every process and run (Python's str hash is randomised per process).

    Shaped like Java's List.hashCode (31 * h + element) over a per-type element hash.
    """
    if isinstance(value, str):
        return zlib.crc32(value.encode("utf-8"))
    if isinstance(value, bool):
        return 1231 if value else 1237
    if isinstance(value, int):
        return (value ^ (value >> 32)) & _MASK32
    if value is None:
        return 0
    if isinstance(value, float):
        return zlib.crc32(repr(value).encode())
    if isinstance(value, (bytes, bytearray)):
        return zlib.crc32(bytes(value))
    if isinstance(value, (list, tuple)):
        h = 1
        for item in value:
            h = (31 * h + stable_hash(item)) & _MASK32
        return h
    if isinstance(value, dict):
        return sum(stable_hash(k) ^ stable_hash(v) for k, v in value.items()) & _MASK32
    return zlib.crc32(repr(value).encode())


class _Shuffle:
    __slots__ = ("_tasks", "_order", "_i", "_rng")

    def __init__(self, tasks: Sequence[int], rng: random.Random) -> None:
        self._tasks = list(tasks)
        self._rng = rng
        self._order = list(tasks)
        rng.shuffle(self._order)
        self._i = 0

    def choose(self, values: Sequence[Any]) -> list[int]:
        if self._i >= len(self._order):
            if len(self._order) > 1:  # shuffling one task draws no random numbers: skip the call
                self._rng.shuffle(self._order)
            self._i = 0
        task = self._order[self._i]
        self._i += 1
        return [task]


class _Fields:
    __slots__ = ("_tasks", "_index")

    def __init__(self, tasks: Sequence[int], index: list[int]) -> None:
        self._tasks = list(tasks)
        self._index = index

    def choose(self, values: Sequence[Any]) -> list[int]:
        key = [values[i] for i in self._index]
        return [self._tasks[stable_hash(key) % len(self._tasks)]]


class _Fixed:
    __slots__ = ("_out",)

    def __init__(self, tasks: Sequence[int]) -> None:
        self._out = list(tasks)

    def choose(self, values: Sequence[Any]) -> list[int]:
        return self._out[:]


class _One:
    """Shuffle or fields grouping into a component of one task: there is nothing to choose (a shuffle of one
    task draws no random numbers, a fields hash mod 1 is 0)."""

    __slots__ = ("_task",)

    def __init__(self, task: int) -> None:
        self._task = task

    def choose(self, values: Sequence[Any]) -> list[int]:
        return [self._task]


class _Random:
    __slots__ = ("_tasks", "_rng")

    def __init__(self, tasks: Sequence[int], rng: random.Random) -> None:
        self._tasks = list(tasks)
        self._rng = rng

    def choose(self, values: Sequence[Any]) -> list[int]:
        return [self._tasks[self._rng.randrange(len(self._tasks))]]


class RoutingError(TopologyError):
    """An emit that Storm would reject (unknown stream, wrong arity, direct misuse)."""


class Router:
    """Routes emits of every (component, stream). One chooser per (source task, stream, target component),
    so shuffle state is per emitting task as in Storm."""

    def __init__(self, graph: Graph, rng: random.Random) -> None:
        self._graph = graph
        self._rng = rng
        self._choosers: dict[tuple[int, str], list[Any]] = {}
        self._plans: dict[tuple[int, str], tuple[int, list[Any]]] = {}  # (task, stream) -> (arity, choosers)
        self._direct_targets: dict[tuple[str, str], set[int]] = {}
        for (source, stream), subs in graph.subscribers.items():
            allowed: set[int] = set()
            for target, grouping in subs:
                if grouping.kind == "direct":
                    allowed.update(graph.components[target].tasks)
            self._direct_targets[(source, stream)] = allowed

    def _make(self, source: str, stream: str, target: str, grouping: GroupingDef) -> Any:
        tasks = self._graph.components[target].tasks
        kind = grouping.kind
        if kind in ("shuffle", "local_or_shuffle"):
            return _One(tasks[0]) if len(tasks) == 1 else _Shuffle(tasks, self._rng)
        if kind == "fields":
            declared = self._graph.components[source].outputs[stream].fields
            index = [declared.index(f) for f in grouping.fields]
            return _One(tasks[0]) if len(tasks) == 1 else _Fields(tasks, index)
        if kind == "all":
            return _Fixed(tasks)
        if kind == "global":
            return _Fixed([min(tasks)])
        if kind == "none":
            return _Random(tasks, self._rng)
        if kind == "direct":
            return None
        raise TopologyError(f"unsupported grouping {kind!r} from {source}:{stream} to {target}")

    def _choosers_for(self, task: int, component: str, stream: str) -> list[Any]:
        key = (task, stream)
        found = self._choosers.get(key)
        if found is None:
            found = [
                c
                for target, grouping in self._graph.subscribers.get((component, stream), [])
                if (c := self._make(component, stream, target, grouping)) is not None
            ]
            self._choosers[key] = found
        return found

    def route(
        self, task: int, component: str, stream: str, values: Sequence[Any], direct_task: int | None = None
    ) -> list[int]:
        """Task ids that receive `values` emitted by `task` on `stream`. Raises RoutingError as Storm would."""
        if direct_task is None:
            # Hot path: a (task, stream) already seen on a plain stream with the right arity.
            plan = self._plans.get((task, stream))
            if plan is not None and len(values) == plan[0]:
                choosers = plan[1]
                if len(choosers) == 1:
                    return choosers[0].choose(values)  # type: ignore[no-any-return]  # a new list
                out: list[int] = []
                for chooser in choosers:
                    out.extend(chooser.choose(values))
                return out
        return self._route(task, component, stream, values, direct_task)

    def fixed(self, task: int, stream: str) -> tuple[int, list[int]] | None:
        """(arity, tasks) when every emit of `task` on `stream` (routed once already, not direct) goes to the
        same tasks: each grouping is all, global, or shuffle/fields into one task. The list is shared: its
        holder must not change it. None when some grouping chooses per tuple (or nothing was routed yet)."""
        plan = self._plans.get((task, stream))
        if plan is None:
            return None
        tasks: list[int] = []
        for chooser in plan[1]:
            if type(chooser) is _One:
                tasks.append(chooser._task)
            elif type(chooser) is _Fixed:
                tasks.extend(chooser._out)
            else:
                return None
        return plan[0], tasks

    def _route(
        self, task: int, component: str, stream: str, values: Sequence[Any], direct_task: int | None
    ) -> list[int]:
        comp = self._graph.components[component]
        declared = comp.outputs.get(stream)
        if declared is None:
            raise RoutingError(
                f"{component} emitted on undeclared stream {stream!r} (declared: {', '.join(sorted(comp.outputs)) or 'none'})"
            )
        if len(values) != len(declared.fields):
            raise RoutingError(
                f"{component} emitted {len(values)} values on stream {stream!r}, which declares "
                f"{len(declared.fields)} fields {list(declared.fields)}"
            )
        if direct_task is not None:
            if not declared.direct:
                raise RoutingError(
                    f"{component} emitted directly to task {direct_task} on {stream!r}, which is not a direct stream"
                )
            if direct_task in self._direct_targets.get((component, stream), ()):
                return [direct_task]
            return []
        if declared.direct:
            raise RoutingError(
                f"{component} emitted on direct stream {stream!r} without naming a task (emit direct_task=...)"
            )
        choosers = self._choosers_for(task, component, stream)
        self._plans[(task, stream)] = (len(declared.fields), choosers)
        if len(choosers) == 1:
            return choosers[0].choose(values)  # type: ignore[no-any-return]  # a new list
        out: list[int] = []
        for chooser in choosers:
            out.extend(chooser.choose(values))
        return out
